#include "http/request_guard.h"

#include <gtest/gtest.h>

#include "config/config.h"

namespace jenky {
namespace {

SitePolicy Policy(std::string public_url = "", std::vector<std::string> hosts = {},
                  std::vector<std::string> origins = {}) {
  ServerConfig s;
  s.public_url = std::move(public_url);
  s.allowed_hosts = std::move(hosts);
  s.allowed_origins = std::move(origins);
  return SitePolicy(s, "buildbox");
}

GuardInput Post(std::string_view host, std::string_view origin = "") {
  GuardInput in;
  in.method = "POST";
  in.host = host;
  in.origin = origin;
  return in;
}

TEST(RequestGuardTest, HostMustNameThisServer) {
  SitePolicy p = Policy("https://deploy.example.com/jenky", {"ci.internal", ".corp.example"});
  for (const char* ok :
       {"127.0.0.1:8080", "127.0.0.1", "[::1]:8080", "10.1.2.3:80", "localhost:8080",
        "LocalHost.:8080", "app.localhost:8080", "buildbox:8080", "deploy.example.com",
        "DEPLOY.example.com:443", "ci.internal:8080", "corp.example", "a.b.corp.example:1"}) {
    EXPECT_TRUE(p.HostAllowed(ok)) << ok;
  }
  // A rebinding page's own name, a look-alike suffix, nothing at all.
  for (const char* no :
       {"attacker.example:8080", "deploy.example.com.attacker.example", "xcorp.example",
        "localhost.attacker.example", "", ":8080", "127.0.0.1.nip.io:8080"}) {
    EXPECT_FALSE(p.HostAllowed(no)) << no;
  }
  EXPECT_TRUE(Policy("", {"*"}).HostAllowed("anything.example"));
}

TEST(RequestGuardTest, AForeignPageCannotPostEvenWithoutTokens) {
  SitePolicy p = Policy();
  // Another site, and the same host on another port (a dev server, say).
  EXPECT_EQ(CheckRequest(p, Post("127.0.0.1:8080", "https://evil.example")),
            GuardVerdict::kForeignOrigin);
  EXPECT_EQ(CheckRequest(p, Post("127.0.0.1:8080", "http://127.0.0.1:3000")),
            GuardVerdict::kForeignOrigin);
  EXPECT_EQ(CheckRequest(p, Post("127.0.0.1:8080", "null")), GuardVerdict::kForeignOrigin);
  // The page jenky served itself.
  EXPECT_EQ(CheckRequest(p, Post("127.0.0.1:8080", "http://127.0.0.1:8080")), GuardVerdict::kOk);
  EXPECT_EQ(CheckRequest(p, Post("localhost:8080", "http://localhost:8080")), GuardVerdict::kOk);
  // Not a browser: curl, the CLI, a forge.
  EXPECT_EQ(CheckRequest(p, Post("127.0.0.1:8080")), GuardVerdict::kOk);
}

TEST(RequestGuardTest, SecFetchSiteDecidesWhenThereIsNoOrigin) {
  SitePolicy p = Policy();
  GuardInput in = Post("127.0.0.1:8080");
  for (const char* site : {"cross-site", "same-site"}) {
    in.sec_fetch_site = site;
    EXPECT_EQ(CheckRequest(p, in), GuardVerdict::kForeignOrigin) << site;
  }
  for (const char* site : {"same-origin", "none"}) {
    in.sec_fetch_site = site;
    EXPECT_EQ(CheckRequest(p, in), GuardVerdict::kOk) << site;
  }
}

TEST(RequestGuardTest, DefaultPortsAreLeftOutOfOrigins) {
  SitePolicy p = Policy("", {"deploy.example.com"});
  GuardInput in = Post("deploy.example.com:443", "https://deploy.example.com");
  in.secure = true;
  EXPECT_EQ(CheckRequest(p, in), GuardVerdict::kOk);
  EXPECT_EQ(CheckRequest(p, Post("deploy.example.com:80", "http://deploy.example.com")),
            GuardVerdict::kOk);
  // The scheme is part of the origin.
  EXPECT_EQ(CheckRequest(p, Post("deploy.example.com", "https://deploy.example.com")),
            GuardVerdict::kForeignOrigin);
}

TEST(RequestGuardTest, PublicUrlAndAllowedOriginsAreOwnOriginsBehindAProxy) {
  // Behind a proxy that sends Host: 127.0.0.1:8080 the browser's origin is the public one.
  SitePolicy p = Policy("https://deploy.example.com/", {}, {"https://ops.example.com"});
  EXPECT_EQ(CheckRequest(p, Post("127.0.0.1:8080", "https://deploy.example.com")),
            GuardVerdict::kOk);
  EXPECT_EQ(CheckRequest(p, Post("127.0.0.1:8080", "https://OPS.example.com")), GuardVerdict::kOk);
  EXPECT_EQ(CheckRequest(p, Post("127.0.0.1:8080", "http://deploy.example.com")),
            GuardVerdict::kForeignOrigin);
}

TEST(RequestGuardTest, AWildcardHostDoesNotVouchForTheOrigin) {
  // With allowed_hosts = ["*"] a rebinding page's Host passes, so its
  // matching Origin must not.
  SitePolicy p = Policy("", {"*"});
  EXPECT_EQ(CheckRequest(p, Post("attacker.example:8080", "http://attacker.example:8080")),
            GuardVerdict::kForeignOrigin);
  EXPECT_EQ(CheckRequest(p, Post("127.0.0.1:8080", "http://127.0.0.1:8080")), GuardVerdict::kOk);
}

TEST(RequestGuardTest, ABodyMustBeJson) {
  SitePolicy p = Policy();
  GuardInput in = Post("127.0.0.1:8080");
  in.content_type = "text/plain";  // a form's enctype, with or without a body
  EXPECT_EQ(CheckRequest(p, in), GuardVerdict::kNotJson);
  in.has_body = true;
  EXPECT_EQ(CheckRequest(p, in), GuardVerdict::kNotJson);
  in.content_type = "";
  EXPECT_EQ(CheckRequest(p, in), GuardVerdict::kNotJson);
  in.content_type = "Application/JSON; charset=utf-8";
  EXPECT_EQ(CheckRequest(p, in), GuardVerdict::kOk);
  in.content_type = "application/jsonp";
  EXPECT_EQ(CheckRequest(p, in), GuardVerdict::kNotJson);
  // No body and no type: curl -X POST.
  EXPECT_EQ(CheckRequest(p, Post("127.0.0.1:8080")), GuardVerdict::kOk);
}

TEST(RequestGuardTest, ReadsAreCheckedForHostOnly) {
  SitePolicy p = Policy();
  GuardInput in;
  in.method = "GET";
  in.host = "127.0.0.1:8080";
  in.origin = "https://evil.example";  // CORS keeps the answer from that page
  EXPECT_EQ(CheckRequest(p, in), GuardVerdict::kOk);
  in.host = "rebound.attacker.example:8080";
  EXPECT_EQ(CheckRequest(p, in), GuardVerdict::kBadHost);
}

TEST(RequestGuardTest, WebhooksSkipHostAndBodyTypeButNotABrowsersOrigin) {
  SitePolicy p = Policy();
  GuardInput in = Post("deploy.example.com");  // the name the forge was given
  in.webhook = true;
  in.has_body = true;
  in.content_type = "application/x-www-form-urlencoded";  // GitHub's other format
  EXPECT_EQ(CheckRequest(p, in), GuardVerdict::kOk);
  in.origin = "https://evil.example";
  EXPECT_EQ(CheckRequest(p, in), GuardVerdict::kForeignOrigin);
}

TEST(RequestGuardTest, HealthIsNeverRefused) {
  GuardInput in;
  in.method = "GET";
  in.host = "whatever.example";
  in.health = true;
  EXPECT_EQ(CheckRequest(Policy(), in), GuardVerdict::kOk);
}

TEST(RequestGuardTest, AnswersSayWhatToChange) {
  GuardInput in = Post("rebound.example:8080", "https://evil.example");
  GuardAnswer host = AnswerFor(GuardVerdict::kBadHost, in);
  EXPECT_EQ(host.status, 400);
  EXPECT_NE(host.message.find("allowed_hosts"), std::string::npos);
  EXPECT_NE(host.message.find("\"rebound.example\""), std::string::npos);
  GuardAnswer origin = AnswerFor(GuardVerdict::kForeignOrigin, in);
  EXPECT_EQ(origin.status, 403);
  EXPECT_NE(origin.message.find("allowed_origins"), std::string::npos);
  EXPECT_EQ(AnswerFor(GuardVerdict::kNotJson, in).status, 415);
}

}  // namespace
}  // namespace jenky
