// How jenky calls OpenSSH and reads its failures (exec/ssh.h).
#include "exec/ssh.h"

#include <gtest/gtest.h>

namespace jenky {
namespace {

HostConfig Web1() {
  HostConfig h;
  h.name = "web1";
  h.address = "10.0.0.11";
  h.user = "deploy";
  h.port = 2222;
  h.identity_file = "/keys/id";
  return h;
}

TEST(SshTest, JenkysOptionsComeBeforeTheOperatorsConfig) {
  std::string text = SshConfigText("/d/ssh/known_hosts", "/tmp/c", "/home/op/.ssh/config");
  size_t strict = text.find("StrictHostKeyChecking yes");
  size_t batch = text.find("BatchMode yes");
  size_t include = text.find("Include \"/home/op/.ssh/config\"");
  ASSERT_NE(strict, std::string::npos);
  ASSERT_NE(batch, std::string::npos);
  ASSERT_NE(include, std::string::npos);
  EXPECT_LT(strict, include);
  EXPECT_LT(batch, include);
  EXPECT_NE(text.find("UserKnownHostsFile \"/d/ssh/known_hosts\""), std::string::npos);
  EXPECT_NE(text.find("GlobalKnownHostsFile /dev/null"), std::string::npos);
  EXPECT_NE(text.find("ControlPath \"/tmp/c/%C\""), std::string::npos);
  EXPECT_EQ(SshConfigText("k", "c", "").find("Include"), std::string::npos);
}

TEST(SshTest, TheCommandNamesTheHostsKeyAliasAndItsOptions) {
  SshSetup s{"/run/ssh_config", "/d/kh", "/tmp/c"};
  EXPECT_EQ(
      SshArgv(s, Web1(), {"-T"}, {"true"}),
      (std::vector<std::string>{"ssh", "-F", "/run/ssh_config", "-o", "HostKeyAlias=jenky:web1",
                                "-p", "2222", "-l", "deploy", "-i", "/keys/id", "-o",
                                "IdentitiesOnly=yes", "-T", "10.0.0.11", "--", "true"}));
  HostConfig bare;
  bare.name = "b";
  bare.address = "b.example";
  EXPECT_EQ(SshArgv(s, bare, {}, {}),
            (std::vector<std::string>{"ssh", "-F", "/run/ssh_config", "-o", "HostKeyAlias=jenky:b",
                                      "b.example"}));
  EXPECT_EQ(RsyncShell(s, bare),
            "ssh -o ControlMaster=no '-F' '/run/ssh_config' '-o' 'HostKeyAlias=jenky:b'");
}

TEST(SshTest, EachFailureHasItsOwnKind) {
  struct Case {
    const char* text;
    SshFailure kind;
  } cases[] = {
      {"No ED25519 host key is known for jenky:web1 and you have requested strict checking.\r\n"
       "Host key verification failed.\r\n",
       SshFailure::kHostKeyUnknown},
      {"@@@@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n"
       "The fingerprint for the ED25519 key sent by the remote host is\r\n"
       "SHA256:abcDEF123+/x.\r\nHost key verification failed.\r\n",
       SshFailure::kHostKeyChanged},
      {"root@10.0.0.1: Permission denied (publickey).\r\n", SshFailure::kAuth},
      {"ssh: Could not resolve hostname nope.invalid: Name or service not known\r\n",
       SshFailure::kDns},
      {"ssh: connect to host 10.0.0.1 port 22: Connection refused\r\n", SshFailure::kRefused},
      {"ssh: connect to host 10.0.0.1 port 22: Connection timed out\r\n", SshFailure::kTimeout},
      {"Timeout, server 10.0.0.1 not responding.\r\n", SshFailure::kTimeout},
      {"ssh: connect to host 10.0.0.1 port 22: No route to host\r\n", SshFailure::kUnreachable},
      {"Connection to 10.0.0.1 closed by remote host.\r\n", SshFailure::kLost},
      {"something new\r\n", SshFailure::kOther},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ClassifySshFailure(255, c.text), c.kind) << c.text;
    EXPECT_EQ(ClassifySshFailure(1, c.text), SshFailure::kNone) << "a remote command's status";
  }
}

TEST(SshTest, ReasonsNameTheHostAndWhatToDo) {
  HostConfig h = Web1();
  EXPECT_EQ(SshFailureReason(h, SshFailure::kHostKeyUnknown, "", "SHA256:xyz"),
            "host key of web1 (10.0.0.11:2222) is not trusted yet (it offers SHA256:xyz): check "
            "it and run `jenky hosts trust web1`");
  std::string changed = SshFailureReason(h, SshFailure::kHostKeyChanged,
                                         "remote host is\r\nSHA256:newKEY+1.\r\nfailed.\r\n", "");
  EXPECT_NE(changed.find("has CHANGED: it now offers SHA256:newKEY+1"), std::string::npos)
      << changed;
  EXPECT_NE(SshFailureReason(h, SshFailure::kRefused, "", "").find("refused"), std::string::npos);
  EXPECT_NE(SshFailureReason(h, SshFailure::kAuth, "deploy@x: Permission denied (publickey).", "")
                .find("login to web1 as deploy was refused (deploy@x: Permission denied "
                      "(publickey).)"),
            std::string::npos);
}

TEST(SshTest, RunCommandGivesStatusOutputAndInput) {
  CommandResult r =
      RunCommand({"/bin/sh", "-c", "cat; echo err >&2; exit 3"}, "in\n", std::chrono::seconds(10));
  EXPECT_EQ(r.status, 3);
  EXPECT_EQ(r.out, "in\n");
  EXPECT_EQ(r.err, "err\n");
  CommandResult slow = RunCommand({"/bin/sleep", "5"}, "", std::chrono::milliseconds(100));
  EXPECT_TRUE(slow.timed_out);
}

}  // namespace
}  // namespace jenky
