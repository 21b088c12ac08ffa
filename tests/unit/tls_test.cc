// [server] tls_cert / tls_key validation (config) and the memory-BIO TLS
// connection (util/tls.h). Certificates are made at test time with the
// openssl command (Debian's `openssl` package, installed by setup.sh).
#include "util/tls.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "config/config.h"
#include "temp_dir.h"

namespace jenky {
namespace {

namespace fs = std::filesystem;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = std::make_unique<TempDir>("tls-test");
    dir_ = tmp_->path();
    // Two unrelated self-signed pairs: a and b.
    for (const char* name : {"a", "b"}) {
      std::string cmd =
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
          "-days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
          "-keyout " +
          dir_ + "/" + name + ".key -out " + dir_ + "/" + name + ".crt 2>/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << "the openssl command is needed: " << cmd;
      chmod((dir_ + "/" + name + ".key").c_str(), 0600);
    }
    std::ofstream(dir_ + "/garbage.pem") << "this is not PEM at all\n";
  }
  static void TearDownTestSuite() { tmp_.reset(); }

  static ConfigLoad Load(const std::string& server_keys) {
    std::string text = "[server]\nlisten = \"127.0.0.1:0\"\n" + server_keys;
    return ParseConfig(text, dir_ + "/jenky.toml",
                       [](const std::string&) { return std::optional<std::string>(); });
  }
  static std::string Errors(const ConfigLoad& c) {
    std::string out;
    for (const auto& e : c.errors) out += e.ToString() + "\n";
    return out;
  }
  static std::string Path(const std::string& name) { return dir_ + "/" + name; }

  static inline std::unique_ptr<TempDir> tmp_;
  static inline std::string dir_;  // tmp_'s path
};

TEST_F(TlsTest, MatchingPairLoadsAndRelativePathsAreBesideTheConfig) {
  auto c = Load("tls_cert = \"a.crt\"\ntls_key = \"a.key\"\n");
  ASSERT_TRUE(c.ok()) << Errors(c);
  EXPECT_EQ(c.config.server.tls_cert, Path("a.crt"));
  ASSERT_TRUE(c.config.server.tls);
  EXPECT_NE(c.config.server.tls->summary().find("CN=localhost"), std::string::npos);
  EXPECT_TRUE(c.config.server.tls->warnings().empty());
}

TEST_F(TlsTest, NeitherKeyMeansPlainHttp) {
  auto c = Load("");
  ASSERT_TRUE(c.ok()) << Errors(c);
  EXPECT_FALSE(c.config.server.tls);
}

TEST_F(TlsTest, MissingCertificateFileIsNamed) {
  auto c = Load("tls_cert = \"nope.crt\"\ntls_key = \"a.key\"\n");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].line, 3);  // the tls_cert line
  EXPECT_NE(Errors(c).find("server.tls_cert: cannot read " + Path("nope.crt") +
                           ": No such file or directory"),
            std::string::npos)
      << Errors(c);
}

TEST_F(TlsTest, MissingKeyFileIsNamed) {
  auto c = Load("tls_cert = \"a.crt\"\ntls_key = \"nope.key\"\n");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].line, 4);  // the tls_key line
  EXPECT_NE(Errors(c).find("server.tls_key: cannot read " + Path("nope.key")), std::string::npos)
      << Errors(c);
}

TEST_F(TlsTest, OnlyOneOfTheTwoKeysIsAnError) {
  auto c = Load("tls_cert = \"a.crt\"\n");
  EXPECT_NE(Errors(c).find("server.tls_cert is set but server.tls_key is not"), std::string::npos)
      << Errors(c);
  c = Load("tls_key = \"a.key\"\n");
  EXPECT_NE(Errors(c).find("server.tls_key is set but server.tls_cert is not"), std::string::npos)
      << Errors(c);
}

TEST_F(TlsTest, KeyOfAnotherCertificateIsRefused) {
  auto c = Load("tls_cert = \"a.crt\"\ntls_key = \"b.key\"\n");
  EXPECT_NE(Errors(c).find("server.tls_key: " + Path("b.key") +
                           " is not the private key of the certificate in " + Path("a.crt")),
            std::string::npos)
      << Errors(c);
}

TEST_F(TlsTest, GarbageCertificateIsNotPem) {
  auto c = Load("tls_cert = \"garbage.pem\"\ntls_key = \"a.key\"\n");
  EXPECT_NE(Errors(c).find("server.tls_cert: " + Path("garbage.pem") + " is not a PEM certificate"),
            std::string::npos)
      << Errors(c);
}

TEST_F(TlsTest, GarbageKeyIsNotPem) {
  auto c = Load("tls_cert = \"a.crt\"\ntls_key = \"garbage.pem\"\n");
  EXPECT_NE(Errors(c).find("server.tls_key: " + Path("garbage.pem") + " is not a PEM private key"),
            std::string::npos)
      << Errors(c);
}

TEST_F(TlsTest, KeyGivenAsCertificateIsNotPem) {
  auto c = Load("tls_cert = \"a.key\"\ntls_key = \"a.key\"\n");
  EXPECT_NE(Errors(c).find("is not a PEM certificate"), std::string::npos) << Errors(c);
}

TEST_F(TlsTest, WorldReadableKeyIsWarnedAbout) {
  fs::copy_file(Path("a.key"), Path("open.key"), fs::copy_options::overwrite_existing);
  chmod(Path("open.key").c_str(), 0644);
  auto c = Load("tls_cert = \"a.crt\"\ntls_key = \"open.key\"\n");
  ASSERT_TRUE(c.ok()) << Errors(c);
  ASSERT_EQ(c.config.server.tls->warnings().size(), 1u);
  EXPECT_NE(c.config.server.tls->warnings()[0].find("readable by every user"), std::string::npos);
  EXPECT_NE(c.config.server.tls->warnings()[0].find("chmod 600"), std::string::npos);
}

// Pumps ciphertext between two connections until neither has any to give.
void Shuttle(TlsConn& a, TlsConn& b) {
  for (int i = 0; i < 10; ++i) {
    std::string ab, ba;
    a.TakeOutput(ab);
    b.Feed(ab.data(), ab.size());
    b.Handshake();
    b.TakeOutput(ba);
    a.Feed(ba.data(), ba.size());
    a.Handshake();
    if (ab.empty() && ba.empty()) return;
  }
}

TEST_F(TlsTest, ConnectionsTalkOverMemoryAndVerifyTheName) {
  auto server = TlsContext::Server(Path("a.crt"), Path("a.key"));
  ASSERT_TRUE(server.ok()) << server.status().message();
  auto client = TlsContext::Client(Path("a.crt"));
  ASSERT_TRUE(client.ok()) << client.status().message();
  auto s = (*server)->NewConn();
  auto c = (*client)->NewConn("127.0.0.1");
  EXPECT_EQ(c->Handshake(), TlsState::kWantRead);
  Shuttle(*c, *s);
  ASSERT_TRUE(c->handshake_done() && s->handshake_done()) << c->error() << s->error();

  std::string big(100000, 'x');  // more than one record: Write takes it all
  c->Write(big.data(), big.size());
  std::string wire;
  c->TakeOutput(wire);
  EXPECT_GT(wire.size(), big.size());
  s->Feed(wire.data(), wire.size());
  std::string got;
  char buf[8192];
  TlsState st;
  while (size_t n = s->Read(buf, sizeof buf, &st)) got.append(buf, n);
  EXPECT_EQ(st, TlsState::kWantRead);
  EXPECT_EQ(got, big);

  s->Shutdown();
  wire.clear();
  s->TakeOutput(wire);
  c->Feed(wire.data(), wire.size());
  c->Read(buf, sizeof buf, &st);
  EXPECT_EQ(st, TlsState::kClosed);  // close_notify arrived
}

TEST_F(TlsTest, ClientRefusesAnUntrustedOrMisnamedServer) {
  auto server = TlsContext::Server(Path("a.crt"), Path("a.key"));
  ASSERT_TRUE(server.ok());
  auto other_ca = TlsContext::Client(Path("b.crt"));
  ASSERT_TRUE(other_ca.ok());
  {
    auto s = (*server)->NewConn();
    auto c = (*other_ca)->NewConn("127.0.0.1");
    c->Handshake();
    Shuttle(*c, *s);
    EXPECT_FALSE(c->handshake_done());
    EXPECT_EQ(c->error().rfind("certificate verify failed", 0), 0u) << c->error();
  }
  auto right_ca = TlsContext::Client(Path("a.crt"));
  auto s = (*server)->NewConn();
  auto c = (*right_ca)->NewConn("deploy.example.com");
  c->Handshake();
  Shuttle(*c, *s);
  EXPECT_FALSE(c->handshake_done());
  EXPECT_NE(c->error().find("hostname mismatch"), std::string::npos) << c->error();
}

}  // namespace
}  // namespace jenky
