"""What each forge event deploys, through the real server (docs/webhooks.md,
"Events"): a tag push sets JENKY_TAG and deploys the commit an annotated tag
points to, a green CI run deploys its head commit, everything else is a 204
with a reason, and every delivery is in the record with its id."""

import json

from test_webhooks import SECRET, hook_server, post_hook, sign, env_of

COMMIT = "4c1e6a0d3f2b5e7a9c8d1f0e2b3a4c5d6e7f8091"
TAG_OBJECT = "aa11bb22cc33dd44ee55ff6677889900aabbccdd"


def github(srv, event, payload, delivery):
    body = json.dumps(payload).encode()
    return post_hook(srv, body, {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
                                 "X-Hub-Signature-256": "sha256=" + sign(body),
                                 "Content-Type": "application/json"})


def tag_push(tag):
    return {"ref": f"refs/tags/{tag}", "before": "0" * 40, "after": TAG_OBJECT,
            "created": True, "deleted": False, "base_ref": "refs/heads/main",
            "repository": {"full_name": "acme/shop"}, "pusher": {"name": "mira"},
            "sender": {"login": "mira"}, "commits": [],
            "head_commit": {"id": COMMIT, "message": "Release"}}


def workflow_run(action, conclusion, name="CI", branch="main"):
    return {"action": action,
            "workflow_run": {"id": 42, "name": name, "head_branch": branch, "head_sha": COMMIT,
                             "event": "push", "status": action, "conclusion": conclusion,
                             "actor": {"login": "mira"},
                             "head_repository": {"full_name": "acme/shop"}},
            "repository": {"full_name": "acme/shop"}, "sender": {"login": "Codertocat"}}


def test_an_annotated_tag_deploys_its_commit_with_jenky_tag(world):
    srv = hook_server(world, "github", 'branches = ["main"]\ntags = ["v*"]\n')
    r = github(srv, "push", tag_push("v2.4.0"), "tag-1")
    assert r.status == 202, r
    env = env_of(srv, r.json()["id"])
    assert env["JENKY_REF"] == "refs/tags/v2.4.0"
    assert env["JENKY_TAG"] == "v2.4.0"
    assert env["JENKY_BRANCH"] == ""
    assert env["JENKY_COMMIT"] == COMMIT
    r = github(srv, "push", tag_push("nightly"), "tag-2")
    assert r.status == 204 and r.headers["X-Jenky-Reason"] == "tag nightly does not match tags = [v*]"


def test_only_a_green_workflow_run_deploys_and_each_delivery_is_recorded(world):
    srv = hook_server(world, "github", 'branches = ["main"]\nevents = ["workflow_run"]\n'
                                       'workflows = ["CI"]\n')
    answers = [github(srv, "workflow_run", workflow_run("requested", None), "w-1"),
               github(srv, "workflow_run", workflow_run("completed", "failure"), "w-2"),
               github(srv, "workflow_run", workflow_run("completed", "success", "Lint"), "w-3"),
               github(srv, "push", tag_push("v1"), "w-4"),
               github(srv, "workflow_run", workflow_run("completed", "success"), "w-5")]
    assert [a.status for a in answers] == [204, 204, 204, 204, 202]
    env = env_of(srv, answers[-1].json()["id"])
    assert env["JENKY_BRANCH"] == "main" and env["JENKY_COMMIT"] == COMMIT
    assert env["JENKY_TRIGGER"] == "webhook" and env["JENKY_DELIVERY"] == "w-5"
    records = srv.get_json("/api/v1/projects/app/deliveries")
    assert [d["delivery"] for d in records] == ["w-5", "w-4", "w-3", "w-2", "w-1"]
    assert records[0]["reason"] == "workflow 'CI' succeeded: branch main, 4c1e6a0d3f2b, by mira"
    assert records[1]["reason"] == "event 'push' does not deploy; events = [workflow_run]"
    assert all("  by" not in d["reason"] for d in records), records


def test_a_published_release_deploys_its_tag(world):
    srv = hook_server(world, "github", 'events = ["release"]\n')
    release = {"action": "published",
               "release": {"tag_name": "v3.0.0", "target_commitish": "main", "draft": False,
                           "author": {"login": "mira"}},
               "repository": {"full_name": "acme/shop"}, "sender": {"login": "mira"}}
    r = github(srv, "release", release, "r-1")
    assert r.status == 202, r
    env = env_of(srv, r.json()["id"])
    assert env["JENKY_REF"] == "refs/tags/v3.0.0" and env["JENKY_TAG"] == "v3.0.0"
    r = github(srv, "release", dict(release, action="deleted"), "r-2")
    assert r.status == 204 and "only a published release deploys" in r.headers["X-Jenky-Reason"]


def test_a_gitlab_tag_push_deploys_the_checkout_sha(world):
    srv = hook_server(world, "gitlab", 'tags = ["v*"]\n')
    body = json.dumps({"object_kind": "tag_push", "before": "0" * 40, "after": TAG_OBJECT,
                       "ref": "refs/tags/v1.4.0", "checkout_sha": COMMIT,
                       "user_username": "jpark", "commits": []}).encode()
    r = post_hook(srv, body, {"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": SECRET,
                              "X-Gitlab-Event-UUID": "g-1"})
    assert r.status == 202, r
    env = env_of(srv, r.json()["id"])
    assert env["JENKY_COMMIT"] == COMMIT and env["JENKY_TAG"] == "v1.4.0"


def test_check_names_a_mistyped_event_and_the_one_meant(world):
    path = world.write("c.toml", '[projects.app]\nscript = "true"\n[projects.app.webhook]\n'
                                 'provider = "gitlab"\nsecret = "s3cret-hook"\n'
                                 'events = ["Push Hook", "Pipline Hook"]\n')
    p = world.cli("check", "--config", path)
    assert p.returncode == 1, p
    assert (f'{path}:6:24: projects.app.webhook.events: unknown gitlab event "Pipline Hook" '
            '(did you mean "Pipeline Hook"?)') in p.stderr, p.stderr
