"""POST /hooks/{project} through the real server: each provider's realistic
push payload starts the right run with the right environment; every
rejection path answers as documented in docs/webhooks.md."""

import base64
import hashlib
import hmac
import json
import time
import urllib.parse

import pytest

import jenky_harness as h
from jenky_harness import project_toml

SECRET = "s3cret-hook-value"
COMMIT = "9f1c3a2b7d4e5f60718293a4b5c6d7e8f9012345"
ENV_SCRIPT = 'env | grep "^JENKY_" | sort\n'


def sign(body, secret=SECRET):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_push(ref="refs/heads/main", after=COMMIT, pusher="lewin"):
    return json.dumps({
        "ref": ref, "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "after": after,
        "created": False, "deleted": after == "0" * 40, "forced": False,
        "repository": {"id": 1296269, "name": "taowai", "full_name": "lewin/taowai",
                       "default_branch": "main"},
        "pusher": {"name": pusher, "email": f"{pusher}@example.com"},
        "sender": {"login": pusher + "-gh", "id": 1},
        "head_commit": {"id": after, "message": "Deploy $(rm -rf /) `reboot`"},
        "commits": [],
    }).encode()


def hook_server(world, provider, extra_webhook="", script=ENV_SCRIPT, server_toml=None):
    webhook = (f'[projects.app.webhook]\nprovider = "{provider}"\nsecret_env = "APP_HOOK_SECRET"\n'
               + extra_webhook)
    kw = {"env": world.env(APP_HOOK_SECRET=SECRET)}
    if server_toml:
        kw["server_toml"] = server_toml
    return world.serve(project_toml("app", script), extra=webhook, **kw)


def post_hook(srv, body, headers, path="/hooks/app"):
    return srv.request("POST", path, body=body, headers=headers)


def env_of(srv, run_id):
    srv.wait_run(run_id)
    lines = srv.log(run_id).decode().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_github_push_deploys_the_commit_with_its_environment(world):
    srv = hook_server(world, "github", 'branches = ["main", "release/*"]\n')
    body = github_push()
    r = post_hook(srv, body, {"Content-Type": "application/json", "X-GitHub-Event": "push",
                              "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                              "X-Hub-Signature-256": "sha256=" + sign(body)})
    assert r.status == 202, r
    run = r.json()
    assert run["trigger"] == {"kind": "webhook", "provider": "github", "ref": "refs/heads/main",
                              "branch": "main", "commit": COMMIT, "actor": "lewin",
                              "delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                              "message": "Deploy $(rm -rf /) `reboot`", "repository": None}
    env = env_of(srv, run["id"])
    assert env["JENKY_TRIGGER"] == "webhook"
    assert env["JENKY_REF"] == "refs/heads/main"
    assert env["JENKY_BRANCH"] == "main"
    assert env["JENKY_COMMIT"] == COMMIT
    assert env["JENKY_ACTOR"] == "lewin"
    assert env["JENKY_DELIVERY"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert "APP_HOOK_SECRET" not in env  # the webhook secret is not the script's


def test_github_form_encoded_payload_and_ping(world):
    srv = hook_server(world, "github")
    body = ("payload=" + urllib.parse.quote_plus(github_push().decode())).encode()
    r = post_hook(srv, body, {"Content-Type": "application/x-www-form-urlencoded",
                              "X-GitHub-Event": "push", "X-GitHub-Delivery": "form-1",
                              "X-Hub-Signature-256": "sha256=" + sign(body)})
    assert r.status == 202 and r.json()["trigger"]["commit"] == COMMIT
    ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    r = post_hook(srv, ping, {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "ping-1",
                              "X-Hub-Signature-256": "sha256=" + sign(ping)})
    assert r.status == 200 and r.json()["event"] == "ping"
    assert len(srv.get_json("/api/v1/projects/app/runs")) == 1  # the ping started nothing


def test_gitea_and_forgejo_pushes(world):
    body = json.dumps({
        "ref": "refs/heads/main", "before": "aa" * 20, "after": COMMIT,
        "compare_url": "", "commits": [], "total_commits": 0,
        "repository": {"full_name": "lewin/taowai"},
        "pusher": {"login": "lewin", "username": "lewin"}, "sender": {"login": "lewin"},
    }).encode()
    for provider, prefix in (("gitea", "Gitea"), ("forgejo", "Forgejo")):
        srv = hook_server(world, provider)
        r = post_hook(srv, body, {"Content-Type": "application/json",
                                  f"X-{prefix}-Event": "push", f"X-{prefix}-Delivery": "d-" + provider,
                                  f"X-{prefix}-Signature": sign(body)})
        assert r.status == 202, r
        env = env_of(srv, r.json()["id"])
        assert env["JENKY_COMMIT"] == COMMIT and env["JENKY_ACTOR"] == "lewin"
        assert env["JENKY_DELIVERY"] == "d-" + provider
        bad = post_hook(srv, body, {f"X-{prefix}-Event": "push",
                                    f"X-{prefix}-Signature": sign(body, "wrong")})
        assert bad.status == 401
        srv.stop()


def test_gitlab_token_and_signing_token(world):
    body = json.dumps({
        "object_kind": "push", "event_name": "push", "ref": "refs/heads/main",
        "before": "95790bf891e76fee5e1747ab589903a6a1f80f22", "after": COMMIT,
        "checkout_sha": COMMIT, "user_name": "Lewin", "user_username": "lewin",
        "project": {"path_with_namespace": "lewin/taowai"}, "commits": [], "total_commits_count": 0,
    }).encode()
    key = b"0123456789abcdef0123456789abcdef"
    signing = "whsec_" + base64.b64encode(key).decode()
    srv = hook_server(world, "gitlab", f'signing_token = "{signing}"\n')
    ts = str(int(time.time()))
    mac = base64.b64encode(hmac.new(key, f"msg_1.{ts}.".encode() + body, hashlib.sha256).digest())
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET,
               "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e",
               "webhook-id": "msg_1", "webhook-timestamp": ts,
               "webhook-signature": "v1," + mac.decode()}
    r = post_hook(srv, body, headers)
    assert r.status == 202, r
    env = env_of(srv, r.json()["id"])
    assert env["JENKY_ACTOR"] == "lewin" and env["JENKY_COMMIT"] == COMMIT
    assert post_hook(srv, body, {**headers, "X-Gitlab-Token": "nope"}).status == 401
    stale = str(int(time.time()) - 600)
    assert post_hook(srv, body, {**headers, "webhook-timestamp": stale}).status == 401


def test_generic_sender_with_bearer_and_query_parameters(world):
    srv = hook_server(world, "generic")
    r = post_hook(srv, b"", {"Authorization": f"Bearer {SECRET}"},
                  path="/hooks/app?branch=main&commit=abcdef12&actor=ci-bot&delivery=job-42")
    assert r.status == 202, r
    env = env_of(srv, r.json()["id"])
    assert env["JENKY_BRANCH"] == "main" and env["JENKY_COMMIT"] == "abcdef12"
    assert env["JENKY_ACTOR"] == "ci-bot" and env["JENKY_DELIVERY"] == "job-42"
    body = json.dumps({"ref": "refs/heads/main", "commit": "0123abcd"}).encode()
    r = post_hook(srv, body, {"X-Jenky-Signature-256": "sha256=" + sign(body),
                              "Content-Type": "application/json"})
    assert r.status == 202 and r.json()["trigger"]["commit"] == "0123abcd"


def test_payload_values_never_reach_the_script_text(world):
    # A pusher name made to look like shell: it arrives only as a variable.
    # (A ref like that is refused outright: see
    # test_a_ref_a_shell_or_git_would_act_on_is_refused_and_recorded.)
    srv = hook_server(world, "github", script='echo "actor=[$JENKY_ACTOR]"\n')
    body = github_push(pusher="x;touch${IFS}/tmp/pwned-jenky")
    r = post_hook(srv, body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(body)})
    assert r.status == 202
    rid = r.json()["id"]
    srv.wait_run(rid)
    assert srv.log(rid) == b"actor=[x;touch${IFS}/tmp/pwned-jenky]\n"
    assert srv.get(f"/api/v1/runs/{rid}/script").body == b'echo "actor=[$JENKY_ACTOR]"\n'


def test_filters_deletions_and_repeats_do_not_deploy(world):
    srv = hook_server(world, "github", 'branches = ["main"]\n')

    def push(body, event="push", delivery=None):
        headers = {"X-GitHub-Event": event, "X-Hub-Signature-256": "sha256=" + sign(body)}
        if delivery:
            headers["X-GitHub-Delivery"] = delivery
        return post_hook(srv, body, headers)

    r = push(github_push(ref="refs/heads/dev"))
    assert r.status == 204
    assert r.headers["X-Jenky-Reason"] == "branch dev does not match branches = [main]"
    r = push(github_push(ref="refs/heads/main", after="0" * 40))
    assert r.status == 204 and r.headers["X-Jenky-Reason"] == "branch main was deleted"
    r = push(b'{"action": "opened"}', event="issues")
    assert r.status == 204 and "event 'issues' does not deploy" in r.headers["X-Jenky-Reason"]
    r = push(github_push(ref="refs/tags/v1.0"))
    assert r.status == 204 and "tags deploy only when" in r.headers["X-Jenky-Reason"]
    first = push(github_push(), delivery="same-delivery")
    assert first.status == 202
    again = push(github_push(), delivery="same-delivery")
    assert again.status == 200 and again.json()["id"] == first.json()["id"]
    assert len(srv.get_json("/api/v1/projects/app/runs")) == 1
    deliveries = srv.get_json("/api/v1/projects/app/deliveries")
    assert [d["result"] for d in deliveries] == ["duplicate", "deployed", "ignored", "ignored",
                                                 "ignored", "ignored"]
    assert deliveries[0]["run_id"] == first.json()["id"]
    assert deliveries[2]["reason"].startswith("tag v1.0 does not deploy: tags deploy only when")


def test_redeliver_after_the_run_ended_deploys_again(world):
    """GitHub's "Redeliver" keeps the delivery id: a repeat while the run goes
    on, or within 10 s, is the forge retrying (200, the same run); later, once
    the run has ended, it is someone asking for that deploy again (202, a new
    run, recorded `redelivered`). docs/webhooks.md, "Redeliveries"."""
    srv = hook_server(world, "github", 'branches = ["main"]\n', script="true\n")
    body = github_push()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(body),
               "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
    first = post_hook(srv, body, headers)
    answered = time.time()  # the run was created before its answer
    assert first.status == 202, first.body
    run = srv.wait_run(first.json()["id"])
    retry = post_hook(srv, body, headers)
    assert retry.status == 200 and retry.json()["id"] == run["id"]
    # The retry window is counted from the run's creation (webhook.h,
    # kRetryWindowMs): wait for the clock to pass it, then press "Redeliver".
    deadline = answered + 10.2
    while time.time() < deadline:
        time.sleep(deadline - time.time())
    again = post_hook(srv, body, headers)
    assert again.status == 202, again.body
    assert again.json()["id"] != run["id"]
    assert again.headers["Location"] == f"/api/v1/runs/{again.json()['id']}"
    srv.wait_run(again.json()["id"])
    d = srv.get_json("/api/v1/projects/app/deliveries")
    assert [x["result"] for x in d[:3]] == ["redelivered", "duplicate", "deployed"], d
    assert d[0]["run_id"] == again.json()["id"] and d[0]["status"] == 202
    assert f"run {run['id']} deployed it before" in d[0]["reason"]
    assert len(srv.get_json("/api/v1/projects/app/runs")) == 2


def test_rejections_are_clear_and_logged(world):
    srv = hook_server(world, "github", server_toml='[server]\nmax_hook_body = "64KiB"\n')
    body = github_push()
    r = post_hook(srv, body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert r.status == 401
    assert SECRET not in r.text and r.json()["error"]["code"] == "bad_signature"
    r = post_hook(srv, body, {"X-GitHub-Event": "push"})
    assert r.status == 401 and "X-Hub-Signature-256" in r.json()["error"]["message"]
    bad_json = b'{"ref": "refs/heads/main", "after": '
    r = post_hook(srv, bad_json, {"X-GitHub-Event": "push",
                                  "X-Hub-Signature-256": "sha256=" + sign(bad_json)})
    assert r.status == 400 and "not valid JSON" in r.json()["error"]["message"]
    big = b'{"pad": "' + b"x" * 70000 + b'"}'
    r = post_hook(srv, big, {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(big),
                             "X-GitHub-Delivery": "too-big-1"})
    assert r.status == 413
    assert "larger than the hooks' limit of 64KiB ([server] max_hook_body)" in r.error()[1]
    assert post_hook(srv, body, {"X-GitHub-Event": "push"}, path="/hooks/nope").status == 404
    assert srv.request("GET", "/hooks/app").status == 405
    srv.wait_line(lambda l: "rejected (401)" in l, what="rejection logged")
    srv.wait_line(lambda l: "project=app" in l and "rejected (413)" in l and "larger than" in l,
                  what="413 logged")
    deliveries = srv.get_json("/api/v1/projects/app/deliveries")
    assert [d["status"] for d in deliveries] == [413, 400, 401, 401]
    assert deliveries[0]["delivery"] == "too-big-1" and deliveries[0]["event"] == "push"


def test_a_push_of_2048_commits_deploys_while_the_api_keeps_its_limit(world):
    srv = hook_server(world, "github")
    commits = [{"id": f"{i:040x}", "message": "Tune the cache " * 30, "timestamp":
                "2026-12-01T10:00:00Z", "author": {"name": "Mira", "email": "mira@acme.test"},
                "added": [f"src/file{i}.c"], "removed": [], "modified": ["README.md"]}
               for i in range(2048)]
    body = json.loads(github_push())
    body["commits"] = commits
    body = json.dumps(body).encode()
    assert len(body) > 1.2e6  # GitHub sends at most 2,048 commits, about 1.2 MB
    r = post_hook(srv, body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(body)})
    assert r.status == 202, r
    api = srv.post("/api/v1/projects/app/runs", body=b'{"ref": "' + b"m" * (2 << 20) + b'"}',
                   headers={"Content-Type": "application/json"})
    assert api.status == 413, api


def test_repeated_bad_signatures_from_one_address_are_rate_limited(world):
    srv = hook_server(world, "github", server_toml='[server]\nmax_auth_failures = 5\n')
    body = github_push()
    statuses = [post_hook(srv, body, {"X-GitHub-Event": "push",
                                      "X-Hub-Signature-256": "sha256=" + "1" * 64}).status
                for _ in range(8)]
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 3
    r = post_hook(srv, body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "2" * 64})
    assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
    # A correctly signed delivery from the same address (the forge's, or every
    # forge's behind a proxy) is never held back by someone else's guessing.
    r = post_hook(srv, body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(body)})
    assert r.status == 202, r
    # Nor are API users from that address: unsigned posts have their own count.
    assert srv.get("/api/v1/projects").status == 200
    deliveries = srv.get_json("/api/v1/projects/app/deliveries")
    assert any(d["status"] == 429 for d in deliveries), deliveries


@pytest.mark.parametrize("ref", ["refs/heads/-oops", "refs/heads/$(touch pwned)", "refs/heads/a;id",
                                 "refs/tags/`id`"])
def test_a_ref_a_shell_or_git_would_act_on_is_refused_and_recorded(world, ref):
    srv = hook_server(world, "github")
    body = github_push(ref=ref)
    r = post_hook(srv, body, {"Content-Type": "application/json", "X-GitHub-Event": "push",
                              "X-Hub-Signature-256": "sha256=" + sign(body)})
    assert r.status == 400, r
    assert "jenky refuses such refs" in r.error()[1]
    assert srv.get_json("/api/v1/runs") == []
    d = srv.get_json("/api/v1/projects/app/deliveries")[0]
    assert d["status"] == 400 and "refuses such refs" in d["reason"], d
    # The same from the API.
    r = srv.post("/api/v1/projects/app/runs", body=json.dumps({"ref": ref}),
                 headers={"Content-Type": "application/json"})
    assert r.status == 400 and "jenky refuses such refs" in r.error()[1], r
