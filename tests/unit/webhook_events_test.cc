// What each forge's events mean (docs/webhooks.md, "Events"): tags,
// releases and "deploy when CI is green", from payloads written after the
// forges' documented schemas (GitHub's webhook reference and
// @octokit/webhooks' schemas, Gitea's and GitLab's webhook docs); every
// value below is made up.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config/webhook_events.h"
#include "util/hash.h"
#include "util/nearest_name.h"
#include "webhook/webhook.h"

namespace jenky {
namespace {

constexpr const char* kSecret = "hook-s3cret";
constexpr const char* kCommit = "4c1e6a0d3f2b5e7a9c8d1f0e2b3a4c5d6e7f8091";
constexpr const char* kTagObject = "aa11bb22cc33dd44ee55ff6677889900aabbccdd";

struct Delivery {
  std::map<std::string, std::string> headers;
  std::string body;

  Verdict To(const WebhookConfig& config) const {
    HookRequest r;
    r.header = [this](std::string_view name) {
      std::string lower(name);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto it = headers.find(lower);
      return it == headers.end() ? std::string() : it->second;
    };
    r.body = body;
    r.now_unix_seconds = 1'700'000'000;
    return EvaluateDelivery(config, r);
  }
};

WebhookConfig Hook(const std::string& provider, std::vector<std::string> events = {}) {
  WebhookConfig c;
  c.provider = provider;
  c.secret = kSecret;
  c.events = std::move(events);
  return c;
}

Delivery GitHub(const std::string& event, const std::string& body) {
  return {{{"x-github-event", event},
           {"x-github-delivery", "d1e2f3a4-0000-11ef-8000-1234567890ab"},
           {"x-hub-signature-256", "sha256=" + HmacSha256Hex(kSecret, body)}},
          body};
}

Delivery Gitea(const std::string& event, const std::string& body) {
  return {{{"x-gitea-event", event},
           {"x-gitea-delivery", "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d"},
           {"x-gitea-signature", HmacSha256Hex(kSecret, body)}},
          body};
}

Delivery GitLab(const std::string& event, const std::string& body) {
  return {{{"x-gitlab-event", event},
           {"x-gitlab-event-uuid", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
           {"x-gitlab-token", kSecret}},
          body};
}

// A push of an annotated tag: `after` is the tag object, head_commit the commit.
std::string GitHubTagPush(const std::string& tag, const std::string& after = kTagObject) {
  return std::string(R"({"ref": "refs/tags/)") + tag + R"(", "before": ")" + std::string(40, '0') +
         R"(", "after": ")" + after +
         R"(", "created": true, "deleted": false, "forced": false, "base_ref": "refs/heads/main",
    "repository": {"id": 700100, "name": "shop", "full_name": "acme/shop"},
    "pusher": {"name": "mira", "email": "mira@acme.test"}, "sender": {"login": "mira"},
    "commits": [], "head_commit": {"id": ")" +
         kCommit + R"(", "message": "Release 2.4.0", "distinct": true}})";
}

std::string WorkflowRun(const std::string& action, const std::string& conclusion,
                        const std::string& name = "CI", const std::string& branch = "main",
                        const std::string& cause = "push",
                        const std::string& head_repo = "acme/shop") {
  std::string c = conclusion.empty() ? "null" : "\"" + conclusion + "\"";
  return R"({"action": ")" + action + R"(", "workflow_run": {"id": 9123456789, "name": ")" + name +
         R"(", "path": ".github/workflows/ci.yml", "head_branch": ")" + branch +
         R"(", "head_sha": ")" + kCommit + R"(", "run_number": 412, "event": ")" + cause +
         R"(", "status": ")" + (action == "completed" ? "completed" : "in_progress") +
         R"(", "conclusion": )" + c + R"(, "actor": {"login": "mira"},
      "triggering_actor": {"login": "mira"},
      "head_repository": {"full_name": ")" +
         head_repo + R"("}, "repository": {"full_name": "acme/shop"}},
    "workflow": {"id": 161335, "name": ")" +
         name + R"("}, "repository": {"id": 700100, "full_name": "acme/shop"},
    "sender": {"login": "Codertocat"}})";
}

TEST(WebhookEventsTest, AnAnnotatedGitHubTagDeploysTheCommitItPointsTo) {
  WebhookConfig c = Hook("github");
  c.tags = {"v*"};
  Verdict v = GitHub("push", GitHubTagPush("v2.4.0")).To(c);
  ASSERT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.ref, "refs/tags/v2.4.0");
  EXPECT_EQ(TagOf(v.trigger), "v2.4.0");
  EXPECT_EQ(v.trigger.branch, "");
  EXPECT_EQ(v.trigger.commit, kCommit);  // not the tag object's id
  EXPECT_EQ(v.reason, "push: tag v2.4.0, 4c1e6a0d3f2b, by mira");
}

TEST(WebhookEventsTest, TagsDeployOnlyWhenTagsListsThem) {
  WebhookConfig none = Hook("github");
  Verdict v = GitHub("push", GitHubTagPush("v2.4.0")).To(none);
  EXPECT_EQ(v.kind, VerdictKind::kIgnored);
  EXPECT_EQ(v.reason,
            "tag v2.4.0 does not deploy: tags deploy only when the webhook's tags = [...] matches "
            "them (add tags = [\"v*\"], say)");
  WebhookConfig branches = Hook("github");
  branches.branches = {"main"};
  branches.tags = {"v*"};
  EXPECT_EQ(GitHub("push", GitHubTagPush("v2.4.0")).To(branches).kind, VerdictKind::kDeploy);
  Verdict nightly = GitHub("push", GitHubTagPush("nightly-7")).To(branches);
  EXPECT_EQ(nightly.kind, VerdictKind::kIgnored);
  EXPECT_EQ(nightly.reason, "tag nightly-7 does not match tags = [v*]");
}

TEST(WebhookEventsTest, TagsAloneDeployNoBranch) {
  WebhookConfig c = Hook("github");
  c.tags = {"v*"};
  std::string push = R"({"ref": "refs/heads/main", "after": ")" + std::string(kCommit) +
                     R"(", "pusher": {"name": "mira"}})";
  Verdict v = GitHub("push", push).To(c);
  EXPECT_EQ(v.kind, VerdictKind::kIgnored);
  EXPECT_EQ(v.reason,
            "branch main does not deploy: only tags = [v*] do; add branches = [...] to deploy "
            "branches too");
}

TEST(WebhookEventsTest, ADeletedTagIsIgnored) {
  WebhookConfig c = Hook("github");
  c.tags = {"v*"};
  std::string body = R"({"ref": "refs/tags/v1.0.0", "after": ")" + std::string(40, '0') +
                     R"(", "deleted": true, "head_commit": null, "pusher": {"name": "mira"}})";
  Verdict v = GitHub("push", body).To(c);
  EXPECT_EQ(v.kind, VerdictKind::kIgnored);
  EXPECT_EQ(v.reason, "tag v1.0.0 was deleted");
}

TEST(WebhookEventsTest, APublishedGitHubReleaseDeploysItsTag) {
  std::string published = R"({"action": "published", "release": {"id": 1337, "tag_name": "v3.0.0",
    "target_commitish": "main", "name": "Three", "draft": false, "prerelease": false,
    "author": {"login": "mira"}}, "repository": {"full_name": "acme/shop"},
    "sender": {"login": "mira"}})";
  Verdict v = GitHub("release", published).To(Hook("github", {"release"}));
  ASSERT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.ref, "refs/tags/v3.0.0");
  EXPECT_EQ(v.trigger.commit, "");  // target_commitish names a branch, not the commit
  EXPECT_EQ(v.trigger.actor, "mira");
  EXPECT_EQ(v.reason, "release published: tag v3.0.0, by mira");

  std::string deleted = R"({"action": "deleted", "release": {"tag_name": "v3.0.0"},
    "sender": {"login": "Codertocat"}})";
  Verdict gone = GitHub("release", deleted).To(Hook("github", {"release"}));
  EXPECT_EQ(gone.kind, VerdictKind::kIgnored);
  EXPECT_EQ(gone.reason, "release v3.0.0 was deleted: only a published release deploys");

  WebhookConfig only_v2 = Hook("github", {"release"});
  only_v2.tags = {"v2.*"};
  EXPECT_EQ(GitHub("release", published).To(only_v2).reason,
            "tag v3.0.0 does not match tags = [v2.*]");
}

TEST(WebhookEventsTest, AGiteaReleaseMadeAtACommitDeploysThatCommit) {
  std::string body = std::string(R"({"action": "published", "release": {"id": 5, "tag_name": "v1.1",
    "target_commitish": ")") +
                     kCommit + R"(", "draft": false, "author": {"login": "ana"}},
    "repository": {"full_name": "ana/site"}, "sender": {"login": "ana"}})";
  Verdict v = Gitea("release", body).To(Hook("gitea", {"release"}));
  ASSERT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.ref, "refs/tags/v1.1");
  EXPECT_EQ(v.trigger.commit, kCommit);
  EXPECT_EQ(v.trigger.delivery, "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d");
}

TEST(WebhookEventsTest, AGreenWorkflowRunOnAMatchingBranchDeploysItsHeadCommit) {
  WebhookConfig c = Hook("github", {"workflow_run"});
  c.branches = {"main"};
  Verdict v = GitHub("workflow_run", WorkflowRun("completed", "success")).To(c);
  ASSERT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.ref, "refs/heads/main");
  EXPECT_EQ(v.trigger.branch, "main");
  EXPECT_EQ(v.trigger.commit, kCommit);
  EXPECT_EQ(v.trigger.actor, "mira");
  EXPECT_EQ(v.reason, "workflow 'CI' succeeded: branch main, 4c1e6a0d3f2b, by mira");
}

TEST(WebhookEventsTest, EveryOtherWorkflowRunIsIgnoredWithAReason) {
  WebhookConfig c = Hook("github", {"workflow_run"});
  c.branches = {"main"};
  c.workflows = {"CI"};
  auto reason = [&](const std::string& body) {
    Verdict v = GitHub("workflow_run", body).To(c);
    EXPECT_EQ(v.kind, VerdictKind::kIgnored) << v.reason;
    return v.reason;
  };
  EXPECT_EQ(reason(WorkflowRun("requested", "")),
            "workflow 'CI' on main is requested: it deploys once it completes with success");
  EXPECT_EQ(reason(WorkflowRun("in_progress", "")),
            "workflow 'CI' on main is in_progress: it deploys once it completes with success");
  EXPECT_EQ(reason(WorkflowRun("completed", "failure")),
            "workflow 'CI' on main concluded failure: only success deploys");
  EXPECT_EQ(reason(WorkflowRun("completed", "success", "Lint")),
            "workflow 'Lint' is not one of workflows = [CI]");
  EXPECT_EQ(reason(WorkflowRun("completed", "success", "CI", "dev")),
            "branch dev does not match branches = [main]");
  EXPECT_EQ(reason(WorkflowRun("completed", "success", "CI", "main", "pull_request")),
            "workflow 'CI' ran for a pull request: only runs on the repository's own branches "
            "deploy");
  EXPECT_EQ(reason(WorkflowRun("completed", "success", "CI", "main", "push", "fork/shop")),
            "workflow 'CI' ran for a pull request from a fork: only runs on the repository's own "
            "branches deploy");
  for (const std::string& r : {reason(WorkflowRun("completed", "cancelled"))}) {
    EXPECT_EQ(r.find("  by"), std::string::npos);
  }
}

TEST(WebhookEventsTest, AGreenCheckSuiteDeploysAndWorkflowsNamesItsApp) {
  std::string body = std::string(R"({"action": "completed", "check_suite": {"id": 118578147,
    "head_branch": "main", "head_sha": ")") +
                     kCommit + R"(", "status": "completed",
    "conclusion": "success", "app": {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"},
    "pull_requests": []}, "repository": {"full_name": "acme/shop"}, "sender": {"login": "mira"}})";
  WebhookConfig c = Hook("github", {"check_suite"});
  c.workflows = {"GitHub Actions"};
  Verdict v = GitHub("check_suite", body).To(c);
  ASSERT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.commit, kCommit);
  c.workflows = {"Travis CI"};
  EXPECT_EQ(GitHub("check_suite", body).To(c).reason,
            "check suite 'GitHub Actions' is not one of workflows = [Travis CI]");
}

TEST(WebhookEventsTest, GiteaSendsWorkflowRunInGitHubsShape) {
  Verdict v = Gitea("workflow_run", WorkflowRun("completed", "success"))
                  .To(Hook("gitea", {"workflow_run"}));
  ASSERT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.provider, "gitea");
  EXPECT_EQ(v.trigger.commit, kCommit);
}

std::string GitLabPipeline(const std::string& status, const std::string& ref, bool tag,
                           const std::string& source = "push", const std::string& mr = "null") {
  return R"({"object_kind": "pipeline", "object_attributes": {"id": 2001, "iid": 87,
    "name": "Build and test", "ref": ")" +
         ref + R"(", "tag": )" + (tag ? "true" : "false") + R"(, "sha": ")" + kCommit +
         R"(", "before_sha": ")" + std::string(40, '0') + R"(", "source": ")" + source +
         R"(", "status": ")" + status + R"(", "detailed_status": "passed",
    "stages": ["build", "test"], "duration": 63}, "merge_request": )" +
         mr + R"(, "user": {"id": 4, "name": "Jo Park", "username": "jpark"},
    "project": {"id": 77, "path_with_namespace": "acme/api"},
    "commit": {"id": ")" +
         kCommit + R"(", "message": "Tune the cache"}, "builds": []})";
}

TEST(WebhookEventsTest, ASuccessfulGitLabPipelineDeploysItsCommit) {
  WebhookConfig c = Hook("gitlab", {"Pipeline Hook"});
  c.branches = {"main"};
  Verdict v = GitLab("Pipeline Hook", GitLabPipeline("success", "main", false)).To(c);
  ASSERT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.ref, "refs/heads/main");
  EXPECT_EQ(v.trigger.commit, kCommit);
  EXPECT_EQ(v.trigger.actor, "jpark");
  EXPECT_EQ(v.trigger.delivery, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");

  EXPECT_EQ(GitLab("Pipeline Hook", GitLabPipeline("running", "main", false)).To(c).reason,
            "pipeline 'Build and test' on main is running: only success deploys");
  EXPECT_EQ(GitLab("Pipeline Hook", GitLabPipeline("failed", "main", false)).To(c).kind,
            VerdictKind::kIgnored);
  Verdict mr = GitLab("Pipeline Hook", GitLabPipeline("success", "main", false,
                                                      "merge_request_event", R"({"iid": 5})"))
                   .To(c);
  EXPECT_EQ(mr.kind, VerdictKind::kIgnored);
  EXPECT_NE(mr.reason.find("ran for a merge request"), std::string::npos);

  c.tags = {"v*"};
  Verdict tag = GitLab("Pipeline Hook", GitLabPipeline("success", "v1.4.0", true)).To(c);
  ASSERT_EQ(tag.kind, VerdictKind::kDeploy) << tag.reason;
  EXPECT_EQ(tag.trigger.ref, "refs/tags/v1.4.0");
}

TEST(WebhookEventsTest, AGitLabTagPushDeploysTheCheckoutShaWhenTagsAreSet) {
  std::string body = std::string(R"({"object_kind": "tag_push", "event_name": "tag_push",
    "before": "0000000000000000000000000000000000000000", "after": ")") +
                     kTagObject +
                     R"(", "ref": "refs/tags/v1.4.0", "ref_protected": true,
    "checkout_sha": ")" +
                     kCommit + R"(", "user_name": "Jo Park", "user_username": "jpark",
    "project_id": 77, "commits": [], "total_commits_count": 0})";
  WebhookConfig plain = Hook("gitlab");
  Verdict ignored = GitLab("Tag Push Hook", body).To(plain);
  EXPECT_EQ(ignored.kind, VerdictKind::kIgnored);
  EXPECT_EQ(ignored.reason, "event 'Tag Push Hook' does not deploy; events = [Push Hook]");
  EXPECT_EQ(ignored.trigger.delivery, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  WebhookConfig tags = Hook("gitlab");
  tags.tags = {"v*"};
  Verdict v = GitLab("Tag Push Hook", body).To(tags);
  ASSERT_EQ(v.kind, VerdictKind::kDeploy) << v.reason;
  EXPECT_EQ(v.trigger.commit, kCommit);
  EXPECT_EQ(v.trigger.ref, "refs/tags/v1.4.0");
}

TEST(WebhookEventsTest, EventsThatMeanNothingAreIgnoredEvenUnderAStar) {
  Verdict v = GitHub("issues", R"({"action": "opened", "sender": {"login": "Codertocat"}})")
                  .To(Hook("github", {"*"}));
  EXPECT_EQ(v.kind, VerdictKind::kIgnored);
  EXPECT_EQ(v.trigger.delivery, "d1e2f3a4-0000-11ef-8000-1234567890ab");
}

TEST(WebhookEventsTest, AWrongSignatureStillRecordsTheDeliveryId) {
  Delivery d = GitHub("push", "{}");
  d.headers["x-hub-signature-256"] = "sha256=" + std::string(64, '1');
  Verdict v = d.To(Hook("github"));
  EXPECT_EQ(v.kind, VerdictKind::kUnauthorized);
  EXPECT_EQ(v.trigger.delivery, "d1e2f3a4-0000-11ef-8000-1234567890ab");
}

TEST(WebhookEventsTest, ConfigEventNamesAreCheckedPerProviderWithTheNearestName) {
  EXPECT_EQ(EventProblem(WebhookProvider::kGitHub, "push"), "");
  EXPECT_EQ(EventProblem(WebhookProvider::kGitHub, "psuh"),
            "unknown github event \"psuh\" (did you mean \"push\"?); github events that deploy: "
            "\"push\", \"release\", \"workflow_run\", \"check_suite\"");
  EXPECT_NE(EventProblem(WebhookProvider::kGitHub, "workflow_runs").find("\"workflow_run\"?"),
            std::string::npos);
  EXPECT_EQ(EventProblem(WebhookProvider::kGitHub, "pull_request"),
            "github event \"pull_request\" does not deploy anything; github events that deploy: "
            "\"push\", \"release\", \"workflow_run\", \"check_suite\"");
  EXPECT_EQ(EventProblem(WebhookProvider::kGitLab, "Pipeline Hook"), "");
  EXPECT_EQ(EventProblem(WebhookProvider::kGitLab, "tag_push"), "");  // the older short name
  EXPECT_NE(EventProblem(WebhookProvider::kGitLab, "Pipline Hook").find("\"Pipeline Hook\"?"),
            std::string::npos);
  EXPECT_NE(EventProblem(WebhookProvider::kGitLab, "push hook").find("\"Push Hook\"?"),
            std::string::npos);
  EXPECT_NE(EventProblem(WebhookProvider::kForgejo, "workflow_run"), "");
  EXPECT_EQ(EventProblem(WebhookProvider::kGeneric, "anything"), "");
  EXPECT_EQ(NearestName("deploy", {"push", "release"}), "");
}

TEST(WebhookEventsTest, ARepeatedDeliveryIdIsARetryOnlyWhileItsRunIsYoungOrActive) {
  jenky::Run earlier;
  earlier.created_at = 1'000'000;
  earlier.status = RunStatus::kRunning;
  EXPECT_TRUE(IsRetry(earlier, earlier.created_at + 3'600'000));  // still running
  earlier.status = RunStatus::kSucceeded;
  EXPECT_TRUE(IsRetry(earlier, earlier.created_at + 2'000));
  EXPECT_FALSE(IsRetry(earlier, earlier.created_at + kRetryWindowMs));  // Redeliver pressed
}

}  // namespace
}  // namespace jenky
