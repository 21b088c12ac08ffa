"""A paused project deploys nothing, whatever asks: the API, a webhook, a
schedule's fire (recorded `paused`, docs/spec-extensions.md "Pausing a
project"); a webhook's delivery id deploys after a resume when the forge
redelivers it; a pause survives a restart."""

import json
import os
import time

import jenky_harness as h
from jenky_harness import project_toml

HOOK = '[projects.app.webhook]\nprovider = "generic"\nsecret = "hook-secret-123"\n'


def hook(srv, delivery):
    return srv.post(f"/hooks/app?ref=refs/heads/main&commit={'ab' * 20}&delivery={delivery}",
                    headers={"Authorization": "Bearer hook-secret-123"})


def deliveries(srv):
    return srv.get_json("/api/v1/projects/app/deliveries")


def test_a_paused_project_refuses_triggers_and_webhooks_until_resumed(world):
    srv = world.serve(project_toml("app", "true\n") + HOOK)
    r = srv.post("/api/v1/projects/app/pause", json_body={"reason": "db migration"})
    assert r.status == 200, r.body
    assert r.json()["paused"]["reason"] == "db migration"

    r = srv.post("/api/v1/projects/app/runs")
    assert r.status == 409 and r.json()["error"]["code"] == "paused", r.body
    assert "db migration" in r.json()["error"]["message"]

    r = hook(srv, "d-1")
    assert r.status == 409 and r.json()["error"]["code"] == "paused", r.body
    d = deliveries(srv)[0]
    assert (d["result"], d["status"], d["delivery"]) == ("paused", 409, "d-1"), d
    assert not d.get("run_id"), d
    assert srv.get_json("/api/v1/projects/app/runs") == []

    assert srv.post("/api/v1/projects/app/resume").status == 200
    assert srv.post("/api/v1/projects/app/resume").status == 409  # not paused
    # The forge redelivers the delivery it was refused: now it deploys.
    r = hook(srv, "d-1")
    assert r.status == 202, r.body
    srv.wait_run(r.json()["id"])
    assert deliveries(srv)[0]["result"] == "deployed"


def test_a_schedule_fire_while_paused_is_recorded_paused_and_runs_nothing(world):
    config = project_toml("app", "true\n", schedule=["0 3 * * *"], timezone="UTC") \
        + "catch_up = true\n"
    srv = world.serve(config)
    assert srv.post("/api/v1/projects/app/pause", json_body={"reason": "freeze"}).status == 200
    srv.stop()
    # Every night of the last week was missed: catch_up fires once at start.
    with open(os.path.join(world.data_dir, "schedules.json"), "w") as f:
        json.dump({"app": int((time.time() - 7 * 86400) * 1000)}, f)
    srv = world.serve(config)
    assert srv.get_json("/api/v1/projects/app")["paused"]["reason"] == "freeze"
    h.wait_until(lambda: deliveries(srv), timeout=10, what="the fire recorded")
    d = deliveries(srv)[0]
    assert (d["result"], d["status"], d["event"]) == ("paused", 409, "schedule"), d
    assert "freeze" in d["reason"], d
    assert srv.get_json("/api/v1/projects/app/runs") == []
