"""GET /api/v1/projects/{name}/deliveries under a flood: repeated rejections
fold into one record with a count, the journal is not flooded, and the
record survives a restart (it is saved in batches, and at shutdown)."""

import json

from jenky_harness import project_toml
from test_webhooks import SECRET, github_push, post_hook, sign


def test_a_flood_of_bad_signatures_is_one_counted_record_and_a_few_log_lines(world):
    webhook = ('[projects.app.webhook]\nprovider = "github"\nsecret_env = "APP_HOOK_SECRET"\n')
    srv = world.serve(project_toml("app", "echo deployed\n"), extra=webhook,
                      env=world.env(APP_HOOK_SECRET=SECRET),
                      server_toml='[server]\nkill_grace = "1s"\nmax_auth_failures = 0\n')
    body = github_push()
    bad = {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sign(body, "wrong")}
    for _ in range(200):
        assert post_hook(srv, body, bad).status == 401
    ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    r = post_hook(srv, ping, {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-ping",
                              "X-Hub-Signature-256": "sha256=" + sign(ping)})
    assert r.status == 200
    listed = srv.get_json("/api/v1/projects/app/deliveries")
    assert [d["result"] for d in listed] == ["ping", "rejected"]
    flood = listed[1]
    assert flood["count"] == 200 and flood["status"] == 401
    assert flood["last_at"] >= flood["received_at"]
    assert listed[0]["count"] == 1
    srv.stop()
    logged = [l for l in srv.stderr().splitlines() if "rejected (401)" in l]
    assert 1 <= len(logged) <= 30, len(logged)
    # Saved at shutdown: a new server lists the same record.
    again = world.serve(project_toml("app", "echo deployed\n"), extra=webhook,
                        env=world.env(APP_HOOK_SECRET=SECRET))
    after = again.get_json("/api/v1/projects/app/deliveries")
    assert [(d["result"], d["count"]) for d in after] == [("ping", 1), ("rejected", 200)]
