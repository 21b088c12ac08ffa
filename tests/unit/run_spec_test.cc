// RunSpec's wire form: what the server writes on a supervisor's stdin.
#include "exec/run_spec.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace jenky {
namespace {

TEST(RunSpec, TravelsByteForByte) {
  RunSpec spec;
  spec.run_dir = "/data/runs/9";
  spec.run_id = 9;
  spec.project = "p";
  spec.argv = {"/bin/bash", "-e", "/data/runs/9/script"};
  spec.env = {"TEXT=caf\xc3\xa9 \"quoted\"\nnext", "BYTES=\xff\xfe\xc3(\x01", "EMPTY="};
  spec.workdir = "/srv/\xe9t\xe9";  // a Latin-1 path
  spec.secrets = {"s3cr\x80t"};
  spec.timeout_ms = 5;
  spec.staged = spec.warm_started = true;
  std::string line = EncodeRunSpec(spec);
  ASSERT_EQ(line.find('\n'), line.size() - 1);  // one line
  auto back = DecodeRunSpec(line);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->env, spec.env);
  EXPECT_EQ(back->workdir, spec.workdir);
  EXPECT_EQ(back->secrets, spec.secrets);
  EXPECT_EQ(back->argv, spec.argv);
  EXPECT_TRUE(back->staged && back->warm_started);
  EXPECT_FALSE(DecodeRunSpec(R"({"run_dir":{"hex":"zz"}})").ok());
}

TEST(RunSpec, ADecodeErrorSaysWhatIsWrong) {
  EXPECT_EQ(DecodeRunSpec("").status().message(), "run spec is not a JSON object");
  EXPECT_EQ(DecodeRunSpec("[1]").status().message(), "run spec is not a JSON object");
  auto missing = DecodeRunSpec(R"({"run_dir":"/r"})");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("run spec: "), std::string::npos);
  EXPECT_NE(missing.status().message().find("run_id"), std::string::npos);
  RunSpec spec;
  spec.run_dir = "/r";
  spec.argv = {};
  EXPECT_EQ(DecodeRunSpec(EncodeRunSpec(spec)).status().message(), "run spec: empty argv");
}

TEST(RunSpec, FieldsAddedLaterHaveTheirDefaultsWhenAbsent) {
  auto spec = DecodeRunSpec(R"({"run_dir":"/r","run_id":3,"project":"p","argv":["/bin/sh"],)"
                            R"("env":[],"workdir":"/w","timeout_ms":10,"kill_grace_ms":20})");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(spec->run_id, 3);
  EXPECT_EQ(spec->kill_grace_ms, 20);
  EXPECT_TRUE(spec->secrets.empty());
  EXPECT_EQ(spec->max_log_bytes, 0);
  EXPECT_FALSE(spec->staged || spec->warm_started);
  EXPECT_EQ(spec->memory_max, 0);
  EXPECT_EQ(spec->tasks_max, 0);
}

TEST(RunSpec, ReadingStopsAtTheEndOfTheFirstLine) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  // The writer stays open: a reader that waited for EOF would hang here.
  std::string text = "{\"a\":1}\n";
  ASSERT_EQ(write(fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  EXPECT_EQ(ReadRunSpecLine(fds[0]), text);
  close(fds[1]);
  EXPECT_EQ(ReadRunSpecLine(fds[0]), "");  // nothing: a spare no longer needed
  close(fds[0]);
}

}  // namespace
}  // namespace jenky
