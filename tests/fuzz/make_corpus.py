#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target into tests/fuzz/corpus/<target>/.

Seeds are small realistic inputs: the requests jenky's clients (CLI, UI,
forges, WebSocket viewers) send, the forges' push deliveries the e2e tests
use, and configs like the docs' examples. Each file is named by what it is.
Regression inputs (crashes the fuzzers found, now fixed) live beside them as
regress-*; this script never removes files, so they stay.

Usage: tests/fuzz/make_corpus.py   (then commit what changed)
"""

import json
import os
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "fuzz-token"  # http_request_fuzz.cc's token
COMMIT = "9f1c3a2b7d4e5f60718293a4b5c6d7e8f9012345"


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def request(method, target, headers=(), body=b""):
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1:8080"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


AUTH = ("Authorization", f"Bearer {TOKEN}")
JSON = ("Content-Type", "application/json")


def http_seeds():
    t = "http_request"
    write(t, "healthz", request("GET", "/healthz"))
    write(t, "ui-index", request("GET", "/", [("Accept", "text/html")]))
    write(t, "ui-route", request("GET", "/projects/p"))
    write(t, "ui-asset-dotdot", request("GET", "/assets/..%2f..%2fetc/passwd"))
    write(t, "projects", request("GET", "/api/v1/projects", [AUTH]))
    write(t, "project", request("GET", "/api/v1/projects/p", [AUTH]))
    write(t, "runs-paged", request("GET", "/api/v1/projects/p/runs?limit=5&before=10", [AUTH]))
    write(t, "all-runs", request("GET", "/api/v1/runs?limit=500", [AUTH]))
    write(t, "trigger", request("POST", "/api/v1/projects/p/runs", [AUTH, JSON],
                                json.dumps({"ref": "refs/heads/main", "commit": "abcdef12"}).encode()))
    write(t, "trigger-empty", request("POST", "/api/v1/projects/p/runs", [AUTH]))
    write(t, "rollback", request("POST", "/api/v1/projects/p/rollback", [AUTH, JSON], b'{"run": 1}'))
    write(t, "deliveries", request("GET", "/api/v1/projects/p/deliveries", [AUTH]))
    write(t, "run", request("GET", "/api/v1/runs/1", [AUTH]))
    write(t, "cancel", request("POST", "/api/v1/runs/1/cancel", [AUTH]))
    write(t, "log-offset", request("GET", "/api/v1/runs/1/log?offset=10", [AUTH]))
    write(t, "log-follow", request("GET", "/api/v1/runs/1/log?offset=0&follow=1", [AUTH]))
    write(t, "script", request("GET", "/api/v1/runs/1/script", [AUTH]))
    write(t, "version", request("GET", "/api/v1/version", [AUTH]))
    write(t, "restart", request("POST", "/api/v1/admin/restart", [AUTH]))
    write(t, "session-post", request("POST", "/api/v1/session", [JSON],
                                     json.dumps({"token": TOKEN}).encode()))
    write(t, "session-get", request("GET", "/api/v1/session",
                                    [("Cookie", "theme=dark; jenky_session=0123abcd")]))
    write(t, "session-delete", request("DELETE", "/api/v1/session",
                                       [("Cookie", "jenky_session=0123abcd")]))
    write(t, "bad-token", request("GET", "/api/v1/projects", [("Authorization", "Bearer nope")]))
    write(t, "bad-escape", request("GET", "/api/v1/projects/%zz"))
    write(t, "encoded-name", request("GET", "/api/v1/projects/p%2e?x=%41+b&&=&y", [AUTH]))
    write(t, "method-not-allowed", request("DELETE", "/api/v1/projects", [AUTH]))
    ws = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
          ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
          ("Origin", "https://deploy.example.com"), AUTH]
    write(t, "ws-run", request("GET", "/ws/v1/runs/1/log?offset=0&format=raw", ws))
    write(t, "ws-project", request("GET", "/ws/v1/projects/p/log?after=0", ws))
    write(t, "ws-run-then-frames", request("GET", "/ws/v1/runs/1/log", ws + [
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")])
          + frame(0x1, b"ping") + frame(0x8, (1000).to_bytes(2, "big")))
    write(t, "ws-bad-origin", request("GET", "/ws/v1/runs/1/log",
                                      [h if h[0] != "Origin" else ("Origin", "https://evil.example")
                                       for h in ws]))
    body = json.dumps({"ref": "refs/heads/main", "commit": "0123abcd"}).encode()
    write(t, "hook-generic", request("POST", "/hooks/p?branch=main&commit=abcdef12&delivery=job-42",
                                     [("Authorization", "Bearer fuzz-secret"), JSON], body))
    write(t, "chunked", b"POST /api/v1/projects/p/runs HTTP/1.1\r\nHost: x\r\n"
                        b"Authorization: Bearer fuzz-token\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"4\r\n{\"re\r\n9\r\nf\": \"x\"}\r\n0\r\n\r\n")
    write(t, "pipelined", request("GET", "/healthz") + request("GET", "/api/v1/runs/2", [AUTH])
          + request("HEAD", "/"))
    write(t, "http10", b"GET /healthz HTTP/1.0\r\n\r\n")


def hook(provider, headers, body, extra=()):
    lines = [provider] + list(extra) + [f"{k}: {v}" for k, v in headers]
    return ("\n".join(lines) + "\n\n").encode() + body


def github_push(ref="refs/heads/main", after=COMMIT):
    return json.dumps({
        "ref": ref, "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "after": after,
        "created": False, "deleted": after == "0" * 40, "forced": False,
        "repository": {"id": 1296269, "name": "taowai", "full_name": "lewin/taowai",
                       "default_branch": "main"},
        "pusher": {"name": "lewin", "email": "lewin@example.com"},
        "sender": {"login": "lewin-gh", "id": 1},
        "head_commit": {"id": after, "message": "Deploy $(rm -rf /) `reboot`"},
        "commits": [],
    }).encode()


def webhook_seeds():
    t = "webhook"
    gh = [("Content-Type", "application/json"), ("X-GitHub-Event", "push"),
          ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
          ("X-Hub-Signature-256", "sha256=$HMAC")]
    write(t, "github-push", hook("github", gh, github_push(), ["branches: main release/*"]))
    write(t, "github-tag", hook("github", gh, github_push(ref="refs/tags/v1.0"), ["branches: main"]))
    write(t, "github-delete", hook("github", gh, github_push(after="0" * 40)))
    write(t, "github-bad-signature", hook("github", gh[:3] + [("X-Hub-Signature-256", "sha256=" + "0" * 64)],
                                          github_push()))
    form = ("payload=" + urllib.parse.quote_plus(github_push().decode())).encode()
    write(t, "github-form", hook("github", [("Content-Type", "application/x-www-form-urlencoded")]
                                 + gh[1:], form))
    ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    write(t, "github-ping", hook("github", [("X-GitHub-Event", "ping"), ("X-Hub-Signature-256", "sha256=$HMAC")], ping))
    write(t, "github-issue", hook("github", [("X-GitHub-Event", "issues"), ("X-Hub-Signature-256", "sha256=$HMAC")],
                                  b'{"action": "opened"}', ["events: push issues"]))
    gitea = json.dumps({
        "ref": "refs/heads/main", "before": "aa" * 20, "after": COMMIT, "compare_url": "",
        "commits": [], "total_commits": 0, "repository": {"full_name": "lewin/taowai"},
        "pusher": {"login": "lewin", "username": "lewin"}, "sender": {"login": "lewin"},
    }).encode()
    for provider, prefix in (("gitea", "Gitea"), ("forgejo", "Forgejo")):
        write(t, f"{provider}-push", hook(provider, [("Content-Type", "application/json"),
                                                     (f"X-{prefix}-Event", "push"),
                                                     (f"X-{prefix}-Delivery", "d-" + provider),
                                                     (f"X-{prefix}-Signature", "$HMAC")], gitea,
                                          ["branches: feature/** main"]))
    gitlab = json.dumps({
        "object_kind": "push", "event_name": "push", "ref": "refs/heads/main",
        "before": "95790bf891e76fee5e1747ab589903a6a1f80f22", "after": COMMIT,
        "checkout_sha": COMMIT, "user_name": "Lewin", "user_username": "lewin",
        "project": {"path_with_namespace": "lewin/taowai"}, "commits": [], "total_commits_count": 0,
    }).encode()
    gl = [("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "$SECRET"),
          ("X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e")]
    write(t, "gitlab-token", hook("gitlab", gl, gitlab))
    write(t, "gitlab-tag", hook("gitlab", [("X-Gitlab-Event", "Tag Push Hook"), ("X-Gitlab-Token", "$SECRET")],
                                gitlab.replace(b"refs/heads/main", b"refs/tags/v2"), ["events: tag_push"]))
    write(t, "gitlab-signed", hook("gitlab-signed", gl[:1] + gl[2:] + [
        ("webhook-id", "msg_1"), ("webhook-timestamp", "$NOW"), ("webhook-signature", "v1,bm9wZQ== $STDSIG")],
        gitlab))
    write(t, "generic-query", hook("generic", [("Authorization", "Bearer $SECRET")], b"",
                                   ["?branch=main&commit=abcdef12&actor=ci-bot&delivery=job-42"]))
    body = json.dumps({"ref": "refs/heads/main", "commit": "0123abcd"}).encode()
    write(t, "generic-signed", hook("generic", [("X-Jenky-Signature-256", "sha256=$HMAC"),
                                                ("Content-Type", "application/json")], body))
    write(t, "generic-token-query", hook("generic", [], b"", ["?token=$SECRET&ref=refs/heads/x;touch${IFS}y"]))


def config_seeds():
    t = "config"
    write(t, "spec-example", '''[server]
listen = "127.0.0.1:8080"
data_dir = "/var/lib/jenky"
public_url = "https://deploy.example.com"
allowed_origins = ["https://deploy.example.com"]

[[tokens]]
name = "laptop"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
scopes = ["read", "deploy"]

[[tokens]]
name = "ci"
env = "JENKY_TOKEN_LAPTOP"
scopes = ["admin"]

[projects.taowai]
description = "the taowai web app"
workdir = "/home/lewin/code/taowai"
script = """
git pull --ff-only
make build
"""
shell = "/bin/bash"
timeout = "15m"
concurrency = "coalesce"
env = { GOFLAGS = "-mod=mod" }
secrets = ["DB_PASSWORD"]
keep_runs = 200

[projects.taowai.webhook]
provider = "github"
secret_env = "TAOWAI_HOOK_SECRET"
branches = ["main"]
''')
    write(t, "recipe", '''[server]
listen = "[::1]:0"
kill_grace = "1s"
max_body = "64KiB"
max_auth_failures = 5

[projects.api]
recipe = "systemd-release"
params = { unit = "api.service", build = "make", binary = "bin/api" }
concurrency = "queue"
max_queued = 3
timeout = "1h30m"

[projects.api.webhook]
provider = "gitlab"
secret = "inline-secret"
signing_token_env = "GITLAB_SIGNING_TOKEN"
events = ["push", "tag_push"]
''')
    write(t, "script-file", '''[projects.site]
script_file = "deploy.sh"
concurrency = "cancel-previous"
[projects.site.webhook]
provider = "generic"
secret = "x"
branches = ["release/*", "feature/**", "v?"]
''')
    write(t, "errors", '''[server]
listen = "nonsense"
[projects."bad name"]
script = "x"
[projects.b]
script = "x"
concurrency = "parallel"
shell = "bin/bash"
keep_runs = 0
recipe = "nope"
''')
    write(t, "syntax-error", '[server\nlisten = 1\n')
    write(t, "public-no-tokens", '[server]\nlisten = "0.0.0.0:80"\n')
    write(t, "types", '[server]\nlisten = 8080\nallowed_origins = "x"\n[[tokens]]\nname = 1\n'
                      '[projects.a]\nscript = ["x"]\ntimeout = 5\nenv = ["A"]\nsecrets = "B"\n')


def frame(opcode, payload, fin=True, rsv1=False, mask=b"\x37\xfa\x21\x3d"):
    """A client frame (masked, as RFC 6455 requires of clients)."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b0, 0x80 | n])
    elif n < 65536:
        head = bytes([b0, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def deflate_raw(data):
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]  # RFC 7692: the trailing 00 00 ff ff is not sent


def ws_seeds():
    t = "ws_client"
    # Flags byte: bit 0 deflate negotiated, bits 1-7 the read size.
    whole, bytewise, deflate = bytes([127 << 1]), bytes([1 << 1]), bytes([(5 << 1) | 1])
    write(t, "ping-text", whole + frame(0x1, b"ping"))
    write(t, "ping-text-bytewise", bytewise + frame(0x1, b"ping") + frame(0x1, b"ping"))
    write(t, "control-ping-pong", whole + frame(0x9, b"hello") + frame(0xA, b""))
    write(t, "close-normal", whole + frame(0x8, (1000).to_bytes(2, "big") + "bye ✓".encode()))
    write(t, "close-empty", whole + frame(0x8, b""))
    write(t, "fragmented-with-ping", bytes([3 << 1]) + frame(0x1, b"pi", fin=False)
          + frame(0x9, b"x") + frame(0x0, b"n", fin=False) + frame(0x0, b"g"))
    write(t, "binary-126", whole + frame(0x2, bytes(range(256)) * 2))
    write(t, "deflate-text", deflate + frame(0x1, deflate_raw(b"ping"), rsv1=True))
    write(t, "deflate-fragmented", deflate + frame(0x1, deflate_raw(b"ping ping ping")[:3], rsv1=True, fin=False)
          + frame(0x0, deflate_raw(b"ping ping ping")[3:]))
    write(t, "deflate-bomb", deflate + frame(0x2, deflate_raw(b"\0" * 100000), rsv1=True))
    write(t, "too-big-claim", whole + bytes([0x81, 0xFF]) + (2 ** 62).to_bytes(8, "big") + b"abcd")
    write(t, "unmasked", whole + bytes([0x81, 0x04]) + b"ping")
    write(t, "bad-utf8", whole + frame(0x1, b"\xc3\x28"))
    write(t, "handshake-key", whole + b"dGhlIHNhbXBsZSBub25jZQ==")
    write(t, "extension-offer", whole + b"permessage-deflate; client_max_window_bits, x-webkit-deflate-frame")


if __name__ == "__main__":
    http_seeds()
    webhook_seeds()
    config_seeds()
    ws_seeds()
