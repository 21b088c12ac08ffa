#include "webhook/webhook.h"

#include <gtest/gtest.h>

#include <map>

#include <fmt/format.h>

#include "util/hash.h"

namespace jenky {
namespace {

// A delivery as a forge sends it: headers (any case), raw body, query.
struct Fake {
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::map<std::string, std::string> query;
  int64_t now = 1'614'265'330;

  HookRequest Request() const {
    HookRequest r;
    r.header = [this](std::string_view name) {
      std::string lower(name);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto it = headers.find(lower);
      return it == headers.end() ? std::string() : it->second;
    };
    r.body = body;
    r.query = query;
    r.now_unix_seconds = now;
    return r;
  }
};

WebhookConfig Config(const std::string& provider, const std::string& secret = "s3cret-hook") {
  WebhookConfig c;
  c.provider = provider;
  c.secret = secret;
  return c;
}

const char* kGitHubPush = R"J({
  "ref": "refs/heads/main",
  "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  "after": "9f1c3a2b7d4e5f60718293a4b5c6d7e8f9012345",
  "created": false, "deleted": false, "forced": false,
  "repository": {"id": 1296269, "full_name": "octocat/Hello-World", "default_branch": "main"},
  "pusher": {"name": "lewin", "email": "lewin@example.com"},
  "sender": {"login": "lewin-gh", "id": 1},
  "head_commit": {"id": "9f1c3a2b7d4e5f60718293a4b5c6d7e8f9012345", "message": "Fix; rm -rf / $(reboot)"}
})J";

Fake GitHub(const std::string& event, const std::string& body, const std::string& secret) {
  Fake f;
  f.body = body;
  f.headers = {{"x-github-event", event},
               {"x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
               {"content-type", "application/json"},
               {"x-hub-signature-256", "sha256=" + HmacSha256Hex(secret, body)}};
  return f;
}

TEST(WebhookTest, GitHubDocumentedSignatureVector) {
  EXPECT_EQ(HmacSha256Hex("It's a Secret to Everybody", "Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  Fake f;
  f.body = "Hello, World!";
  f.headers = {{"x-github-event", "ping"},
               {"x-hub-signature-256",
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}};
  Verdict v = EvaluateDelivery(Config("github", "It's a Secret to Everybody"), f.Request());
  EXPECT_EQ(v.kind, VerdictKind::kPing);
  f.headers["x-hub-signature-256"] =
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18";
  EXPECT_EQ(EvaluateDelivery(Config("github", "It's a Secret to Everybody"), f.Request()).kind,
            VerdictKind::kUnauthorized);
}

TEST(WebhookTest, GitHubPushDeploysTheCommit) {
  Verdict v =
      EvaluateDelivery(Config("github"), GitHub("push", kGitHubPush, "s3cret-hook").Request());
  ASSERT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.kind, TriggerKind::kWebhook);
  EXPECT_EQ(v.trigger.provider, "github");
  EXPECT_EQ(v.trigger.ref, "refs/heads/main");
  EXPECT_EQ(v.trigger.branch, "main");
  EXPECT_EQ(v.trigger.commit, "9f1c3a2b7d4e5f60718293a4b5c6d7e8f9012345");
  EXPECT_EQ(v.trigger.actor, "lewin");
  EXPECT_EQ(v.trigger.delivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
}

TEST(WebhookTest, GitHubFormEncodedBody) {
  std::string encoded;
  for (char c : std::string(kGitHubPush)) {
    if (std::isalnum(static_cast<unsigned char>(c))) encoded += c;
    else encoded += fmt::format("%{:02X}", static_cast<unsigned char>(c));
  }
  Fake f = GitHub("push", "payload=" + encoded, "s3cret-hook");
  f.headers["content-type"] = "application/x-www-form-urlencoded";
  Verdict v = EvaluateDelivery(Config("github"), f.Request());
  ASSERT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.commit, "9f1c3a2b7d4e5f60718293a4b5c6d7e8f9012345");
}

TEST(WebhookTest, SignatureCoversTheRawBody) {
  Fake f = GitHub("push", kGitHubPush, "s3cret-hook");
  f.body += " ";  // one byte more than was signed
  Verdict v = EvaluateDelivery(Config("github"), f.Request());
  EXPECT_EQ(v.kind, VerdictKind::kUnauthorized);
  EXPECT_EQ(v.reason.find("s3cret"), std::string::npos);
  f.headers.erase("x-hub-signature-256");
  EXPECT_EQ(EvaluateDelivery(Config("github"), f.Request()).kind, VerdictKind::kUnauthorized);
}

TEST(WebhookTest, BranchAndEventFiltersExplainThemselves) {
  WebhookConfig c = Config("github");
  c.branches = {"release/*", "prod"};
  Verdict v = EvaluateDelivery(c, GitHub("push", kGitHubPush, "s3cret-hook").Request());
  EXPECT_EQ(v.kind, VerdictKind::kIgnored);
  EXPECT_EQ(v.reason, "branch main does not match branches = [release/*, prod]");
  Verdict issue = EvaluateDelivery(c, GitHub("issues", "{}", "s3cret-hook").Request());
  EXPECT_EQ(issue.kind, VerdictKind::kIgnored);
  EXPECT_EQ(issue.reason, "event 'issues' does not deploy; events = [push]");
  c.branches = {"main"};
  EXPECT_EQ(EvaluateDelivery(c, GitHub("push", kGitHubPush, "s3cret-hook").Request()).kind,
            VerdictKind::kDeploy);
}

TEST(WebhookTest, BranchDeletionDoesNotDeploy) {
  std::string body =
      R"J({"ref":"refs/heads/old","before":"9f1c3a2b","after":"0000000000000000000000000000000000000000","deleted":true,"pusher":{"name":"x"}})J";
  Verdict v = EvaluateDelivery(Config("github"), GitHub("push", body, "s3cret-hook").Request());
  EXPECT_EQ(v.kind, VerdictKind::kIgnored);
  EXPECT_EQ(v.reason, "branch old was deleted");
}

TEST(WebhookTest, AFieldOfTheWrongTypeIsReadAsAbsentNotThrown) {
  // Found by the webhook fuzzer: "deleted" that is not a boolean threw
  // nlohmann::json::type_error out of the evaluation.
  for (const char* deleted : {R"("yes")", "1", "null", "[]", "{}"}) {
    std::string body =
        std::string(R"J({"ref":"refs/heads/main","after":"9f1c3a2b7d4e","deleted":)J") + deleted +
        R"J(,"pusher":{"name":7}})J";
    Verdict v = EvaluateDelivery(Config("github"), GitHub("push", body, "s3cret-hook").Request());
    EXPECT_EQ(v.kind, VerdictKind::kDeploy) << deleted;
    EXPECT_EQ(v.trigger.commit, "9f1c3a2b7d4e") << deleted;
    EXPECT_EQ(v.trigger.actor, "") << deleted;
  }
}

// `branches` is for branches: a tag is refused for want of `tags`, and the
// reason says so (it used to read "is not a branch").
TEST(WebhookTest, TagsAreNotBranches) {
  WebhookConfig c = Config("github");
  c.branches = {"main"};
  std::string body = R"J({"ref":"refs/tags/v1.0","after":"9f1c3a2b7d4e","pusher":{"name":"x"}})J";
  Verdict v = EvaluateDelivery(c, GitHub("push", body, "s3cret-hook").Request());
  EXPECT_EQ(v.kind, VerdictKind::kIgnored);
  EXPECT_EQ(v.reason,
            "tag v1.0 does not deploy: tags deploy only when the webhook's tags = [...] matches "
            "them (add tags = [\"v*\"], say)");
}

TEST(WebhookTest, MalformedJsonIsNamed) {
  Verdict v =
      EvaluateDelivery(Config("github"), GitHub("push", "{\"ref\": ", "s3cret-hook").Request());
  EXPECT_EQ(v.kind, VerdictKind::kBadRequest);
  EXPECT_NE(v.reason.find("payload is not valid JSON"), std::string::npos);
  Verdict bad_commit = EvaluateDelivery(
      Config("github"),
      GitHub("push", R"J({"ref":"refs/heads/main","after":"$(reboot)"})J", "s3cret-hook")
          .Request());
  EXPECT_EQ(bad_commit.kind, VerdictKind::kBadRequest);
}

TEST(WebhookTest, GiteaAndForgejo) {
  std::string body =
      R"J({"ref":"refs/heads/main","before":"aa","after":"bc7a0e4e7ae2e0e7d2b0f1d4c3b2a19081726354",
    "pusher":{"login":"lewin","username":"lewin"},"sender":{"login":"lewin"},
    "repository":{"full_name":"lewin/taowai"}})J";
  Fake gitea;
  gitea.body = body;
  gitea.headers = {{"x-gitea-event", "push"},
                   {"x-gitea-delivery", "d-1"},
                   {"x-gitea-signature", HmacSha256Hex("s3cret-hook", body)}};
  Verdict v = EvaluateDelivery(Config("gitea"), gitea.Request());
  ASSERT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.actor, "lewin");
  EXPECT_EQ(v.trigger.delivery, "d-1");
  EXPECT_EQ(v.trigger.provider, "gitea");

  Fake forgejo;
  forgejo.body = body;
  forgejo.headers = {{"x-forgejo-event", "push"},
                     {"x-forgejo-delivery", "f-1"},
                     {"x-forgejo-signature", HmacSha256Hex("s3cret-hook", body)}};
  Verdict f = EvaluateDelivery(Config("forgejo"), forgejo.Request());
  ASSERT_EQ(f.kind, VerdictKind::kDeploy) << f.reason;
  EXPECT_EQ(f.trigger.provider, "forgejo");
  forgejo.headers["x-forgejo-signature"] = HmacSha256Hex("wrong", body);
  EXPECT_EQ(EvaluateDelivery(Config("forgejo"), forgejo.Request()).kind,
            VerdictKind::kUnauthorized);
}

TEST(WebhookTest, GitLabSecretToken) {
  std::string body = R"J({"object_kind":"push","ref":"refs/heads/main",
    "before":"95790bf891e76fee5e1747ab589903a6a1f80f22",
    "after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    "checkout_sha":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    "user_name":"Lewin","user_username":"lewin","project":{"path_with_namespace":"lewin/taowai"}})J";
  Fake f;
  f.body = body;
  f.headers = {{"x-gitlab-event", "Push Hook"},
               {"x-gitlab-token", "s3cret-hook"},
               {"x-gitlab-event-uuid", "13792a34-cac6-4fda-95a8-c58e00a3954e"}};
  Verdict v = EvaluateDelivery(Config("gitlab"), f.Request());
  ASSERT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.commit, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
  EXPECT_EQ(v.trigger.actor, "lewin");
  EXPECT_EQ(v.trigger.delivery, "13792a34-cac6-4fda-95a8-c58e00a3954e");
  EXPECT_EQ(v.event, "Push Hook");
  f.headers["x-gitlab-token"] = "s3cret-hooK";
  EXPECT_EQ(EvaluateDelivery(Config("gitlab"), f.Request()).kind, VerdictKind::kUnauthorized);
  f.headers["x-gitlab-token"] = "s3cret-hook";
  f.headers["x-gitlab-event"] = "Tag Push Hook";
  Verdict tag = EvaluateDelivery(Config("gitlab"), f.Request());
  EXPECT_EQ(tag.kind, VerdictKind::kIgnored);
  EXPECT_EQ(tag.event, "Tag Push Hook");
}

TEST(WebhookTest, GitLabSigningTokenFollowsStandardWebhooks) {
  // The Standard Webhooks specification's example vector.
  WebhookConfig c = Config("gitlab", "");
  c.signing_key = "";
  // whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw decoded:
  const unsigned char key[] = {0x31, 0xf2, 0x90, 0xf6, 0xbf, 0x06, 0x29, 0x8a,
                               0xab, 0x4f, 0x08, 0xd4, 0x3c, 0x3f, 0x08, 0x2c,
                               0xf6, 0x48, 0xa3, 0x62, 0xda, 0x2d, 0xa4, 0xb0};
  c.signing_key.assign(reinterpret_cast<const char*>(key), sizeof key);
  Fake f;
  f.body = R"J({"test": 2432232314})J";
  f.headers = {{"x-gitlab-event", "Push Hook"},
               {"webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"},
               {"webhook-timestamp", "1614265330"},
               {"webhook-signature", "v1,bogus v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}};
  Verdict v = EvaluateDelivery(c, f.Request());
  EXPECT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.delivery, "msg_p5jXN8AQM9LWM0D4loKWxJek");
  f.now += 301;  // replayed later than the tolerance
  Verdict late = EvaluateDelivery(c, f.Request());
  EXPECT_EQ(late.kind, VerdictKind::kUnauthorized);
  EXPECT_NE(late.reason.find("5 minutes"), std::string::npos);
}

TEST(WebhookTest, GenericBearerOrSignatureWithQueryParameters) {
  Fake f;
  f.headers = {{"authorization", "Bearer s3cret-hook"}};
  f.query = {{"ref", "refs/heads/main"}, {"commit", "abcdef12"}, {"actor", "ci"}};
  Verdict v = EvaluateDelivery(Config("generic"), f.Request());
  ASSERT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.branch, "main");
  EXPECT_EQ(v.trigger.commit, "abcdef12");
  EXPECT_EQ(v.trigger.actor, "ci");

  Fake signed_body;
  signed_body.body = R"J({"branch":"prod","commit":"0123abcd","delivery":"job-7"})J";
  signed_body.headers = {
      {"x-jenky-signature-256", "sha256=" + HmacSha256Hex("s3cret-hook", signed_body.body)}};
  Verdict s = EvaluateDelivery(Config("generic"), signed_body.Request());
  ASSERT_EQ(s.kind, VerdictKind::kDeploy) << s.reason;
  EXPECT_EQ(s.trigger.ref, "refs/heads/prod");
  EXPECT_EQ(s.trigger.delivery, "job-7");

  Fake none;
  EXPECT_EQ(EvaluateDelivery(Config("generic"), none.Request()).kind, VerdictKind::kUnauthorized);
  none.headers = {{"authorization", "Bearer nope"}};
  EXPECT_EQ(EvaluateDelivery(Config("generic"), none.Request()).kind, VerdictKind::kUnauthorized);
}

TEST(GlobTest, SegmentsAndDoubleStar) {
  EXPECT_TRUE(GlobMatch("main", "main"));
  EXPECT_FALSE(GlobMatch("main", "mainline"));
  EXPECT_TRUE(GlobMatch("release/*", "release/1.2"));
  EXPECT_FALSE(GlobMatch("release/*", "release/1.2/hotfix"));
  EXPECT_TRUE(GlobMatch("feature/**", "feature/a/b/c"));
  EXPECT_TRUE(GlobMatch("v?", "v1"));
  EXPECT_FALSE(GlobMatch("v?", "v10"));
  EXPECT_TRUE(GlobMatch("*", "main"));
  EXPECT_FALSE(GlobMatch("*", "a/b"));
  EXPECT_TRUE(GlobMatch("**", "a/b"));
}

}  // namespace
}  // namespace jenky

namespace jenky {
namespace {

TEST(WebhookTest, RefsAShellOrGitWouldActOnAreRefused) {
  for (const char* ok : {"refs/heads/main", "refs/tags/v1.2.3", "main", "feature/x-y_z.1",
                         "refs/heads/release@2026", "refs/heads/a+b=c,d#e%f"}) {
    EXPECT_EQ(RefProblem(ok), "") << ok;
  }
  for (const char* bad : {"refs/heads/-f", "--upload-pack=touch /tmp/x", "refs/heads/a/-b",
                          "refs/heads/$(id)", "refs/heads/`id`", "refs/heads/a;b", "main|x", "a&b",
                          "a>b", "it's", "a\"b", "a\\b", "a b", "a\tb", "x!y", "a{b}"}) {
    std::string why = RefProblem(bad);
    EXPECT_NE(why, "") << bad;
    EXPECT_NE(why.find("jenky refuses such refs"), std::string::npos) << why;
  }
}

}  // namespace
}  // namespace jenky
