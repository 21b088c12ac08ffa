#!/usr/bin/python3
"""Writes the "## Webhooks" and "## Live logs (fan-out)" sections of
docs/benchmarks.md from bench_webhook.py's and bench_fanout.py's JSON results.

Only those two sections are replaced (each runs from its heading to the next
"## " heading); a missing one is added at the end, where bench/report.py keeps
the sections other tools write. Every other byte of the file is kept as it was.

    bench/sections.py --webhook W.json --fanout F.json [--doc docs/benchmarks.md]

Also imported by the two benchmarks for meta() (when, where, what binary).
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

KIB = 1024.0


# ------------------------------------------------------------ run metadata

def meta_start():
    return {"command": " ".join(["bench/" + os.path.basename(sys.argv[0])] + sys.argv[1:]),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load_start": open("/proc/loadavg").read().split()[:3],
            "t0": time.monotonic()}


def meta_end(m):
    m = dict(m)
    m["seconds"] = round(time.monotonic() - m.pop("t0"), 1)
    m["load_end"] = open("/proc/loadavg").read().split()[:3]
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    h = hashlib.sha256()
    with open(B.JENKY, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    git = subprocess.run(["git", "-C", B.REPO, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    m.update({"machine": f"{len(os.sched_getaffinity(0))} CPUs ({cpu}), "
                         f"{mem_kib / KIB / KIB:.1f} GiB RAM, Linux {os.uname().release}",
              "jenky_sha256": h.hexdigest()[:12], "git": git or "unknown",
              "jenky_version": subprocess.run([B.JENKY, "version"], capture_output=True,
                                              text=True).stdout.strip()})
    return m


def meta_lines(m):
    return [f"_Written by `bench/sections.py` (run by `bench/run.sh`). Measured {m['date']} "
            f"with `{m['command']}` ({m['seconds']:.0f} s) on "
            f"{m['machine']}; 1/5/15-minute load average {' '.join(m['load_start'])} at the "
            f"start, {' '.join(m['load_end'])} at the end; `{m['jenky_version']}` (binary sha256 "
            f"{m['jenky_sha256']}…, repository at {m['git']})._", ""]


def joined(values):
    return ", ".join(format(x, ",.0f") for x in values)


def verdict(ok):
    return "**met**" if ok else "**missed**"


# ---------------------------------------------------------------- webhooks

def webhook_section(r):
    out = ["## Webhooks", ""]
    if r is None:
        return out + ["_Not measured (bench/bench_webhook.py did not complete)._", ""]
    out += meta_lines(r["meta"])
    out += [
        "A GitHub push delivery (a %d-byte push payload, `X-GitHub-Event: push`, a new "
        "`X-GitHub-Delivery` id, `X-Hub-Signature-256: sha256=` HMAC-SHA256 of the raw body) to "
        "two peers doing the same job, in the same run:" % r["body_bytes"],
        "",
        "- **jenky**: `[projects.app]` `script = \"printf x\"` with `[projects.app.webhook]` "
        "`provider = \"github\"`, `secret`, `branches = [\"main\"]`; `POST /hooks/app`.",
        "- **webhook** %s (Debian): one hook whose `trigger-rule` is `and(payload-hmac-sha256 "
        "on X-Hub-Signature-256, payload ref == refs/heads/main)`, running a bash script "
        "`printf x > out/$DELIVERY`." % r.get("webhook_version", ""),
        "",
        "### Rejected deliveries (wrong signature)",
        "",
        f"`wrk -t{r['wrk_threads']} -c{r['wrk_connections']} -d{r['duration_s']}s` with a Lua "
        "script POSTing the payload signed with another secret (a signature of the right "
        f"length), {r['rounds']} interleaved rounds per peer. Every response was checked to be "
        "non-2xx. Since jenky rate-limits failed signatures per address (`[server] "
        "max_auth_failures`, default 10 a minute, then 429), the throughput peer runs with "
        "**`max_auth_failures = 0`** so that, like webhook, it verifies every signature; the "
        "default is measured too, for the record. Server CPU is utime+stime of the server "
        "process over the measurement (wrk runs on the same 2 CPUs).",
        "",
        "| peer | answer | req/s by round | median req/s | server CPU | requests per server CPU-second | wrk p50 / p99 ms |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    answers = r["rejected_status"]
    labels = {"webhook": "webhook", "jenky": "**jenky**, `max_auth_failures = 0`",
              "jenky-limited": "jenky, default limit (10/min)"}
    for name in ("webhook", "jenky", "jenky-limited"):
        runs = r["rejected"][name]
        ans = answers[name][0]
        if name.startswith("jenky"):
            seen = {}
            for x in runs:
                for k, c in x.get("last_100_answers", {}).items():
                    seen[k] = seen.get(k, 0) + c
            ans = " + ".join(f"{k} × {c}" for k, c in sorted(seen.items())) or str(ans)
            ans += f" (last 100 of each measurement, from `/deliveries`)"
        cpu = sorted(x["server_cpu_pct"] for x in runs)
        per_cpu = sorted(x["requests_per_cpu_s"] for x in runs)
        out.append(
            f"| {labels[name]} | {ans} | {joined(x['rps'] for x in runs)} | "
            f"{r['rejected_median_rps'][name]:,.0f} | {B.percentile(cpu, 50):.0f} % | "
            f"{B.percentile(per_cpu, 50):,.0f} | "
            f"{B.percentile(sorted(x.get('p50_ms', 0) for x in runs), 50):.2f} / "
            f"{B.percentile(sorted(x.get('p99_ms', 0) for x in runs), 50):.2f} |")
    out.append("")
    wh, jk = r["rejected_median_rps"]["webhook"], r["rejected_median_rps"]["jenky"]
    rr = r["rejected_round_ratio"]
    lat = r["latency"]
    lr = r["latency_round_ratio"]
    out += [
        "### Accepted delivery → first byte of the script's output",
        "",
        f"{r['deliveries']} sequential valid pushes to main per peer (after {r['warmup']} "
        f"warm-up deliveries), in {r['delivery_rounds']} interleaved rounds, "
        f"{r['gap_ms']} ms pause after each finished run. Timed from just before the request "
        "is written to a keep-alive connection to the inotify `IN_MODIFY` of the output file "
        "(jenky: `DATA/runs/ID/log`; webhook: the file its hook script writes). Milliseconds.",
        "",
        "| peer | p50 | p90 | p99 | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in (("webhook", "webhook"), ("jenky", "**jenky**")):
        s = lat[name]
        out.append(f"| {label} | {s['p50']:.2f} | {s['p90']:.2f} | {s['p99']:.2f} | {s['max']:.2f} |")
    out += [
        "",
        "| goal | measured | |",
        "|---|---|---|",
        f"| rejected deliveries: jenky ≥ 2 × webhook | {jk / wh:.2f}× ({jk:,.0f} vs {wh:,.0f} "
        f"req/s; paired by round {rr['min']:.2f}–{rr['max']:.2f}×) | {verdict(jk / wh >= 2)} |",
        f"| accepted → first byte: jenky p50 ≤ ½ webhook p50 | {lat['jenky']['p50'] / lat['webhook']['p50']:.2f}× "
        f"({lat['jenky']['p50']:.2f} vs {lat['webhook']['p50']:.2f} ms; paired by round "
        f"{lr['min']:.2f}–{lr['max']:.2f}×) | "
        f"{verdict(lat['jenky']['p50'] <= 0.5 * lat['webhook']['p50'])} |",
        "",
    ]
    sc = r.get("syscalls") or {}
    if sc.get("webhook") and sc.get("jenky"):
        names = list(dict.fromkeys(list(sc["jenky"]["per_request"]) + list(sc["webhook"]["per_request"])))
        out += [
            "System calls per rejected delivery (`strace -c -f` attached to the server during a "
            f"3 s wrk burst: {sc['jenky']['requests']:,} requests to jenky, "
            f"{sc['webhook']['requests']:,} to webhook; calls under 0.05 per request left out):",
            "",
            "| syscall | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        for peer in ("jenky", "webhook"):
            per = sc[peer]["per_request"]
            out.append(f"| {peer} | " + " | ".join(f"{per[k]:.2f}" if k in per else "" for k in names) + " |")
        out.append("")
    out += [
        "Answers: webhook says `%s %s`; jenky `%s` with `{\"error\":{\"code\":\"bad_signature\",...}}`, "
        "logs a warning and records the delivery (`GET /api/v1/projects/app/deliveries`) for "
        "each one; its stderr went to a file." % (answers["webhook"][0], answers["webhook"][1].strip(),
                                                   answers["jenky"][0]),
        "",
    ]
    return out


# ---------------------------------------------------------------- fan-out

def error_kinds(v):
    """websocketd's error messages, numbers (times, ports, pids) taken out."""
    kinds = {}
    for m, c in v.get("websocketd_error_kinds", {}).items():
        m = re.sub(r"^[\d/: ]+ ", "", m)
        m = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", m)
        kinds[m] = kinds.get(m, 0) + c
    return sorted(kinds.items(), key=lambda x: -x[1])


def fanout_section(r):
    out = ["## Live logs (fan-out)", ""]
    if r is None:
        return out + ["_Not measured (bench/bench_fanout.py did not complete)._", ""]
    out += meta_lines(r["meta"])
    out += [
        f"One live log written at {r['rate']} lines a second (about 80-byte lines, each "
        "stamped with the writer's CLOCK_MONOTONIC), N concurrent viewers, the peers one "
        "after the other for each N:",
        "",
        "- **jenky**: the viewers follow `GET /ws/v1/runs/ID/log` of a running run whose "
        "script is the writer (`exec ws_load write 100 ...`), so the lines go through jenky's "
        "supervisor into the log and out to the viewers (JSON `log` messages).",
        "- **websocketd** (Debian, `%s`) serving `tail -f -n +1 FILE`, one `tail` per viewer, "
        "while the same writer appends to FILE (a text message per line)." % r["websocketd"],
        "- **floor**: `ws_load fanout PORT FILE` (in `bench/ws_load.c`) while the same writer "
        "appends to FILE: one C thread that, each time inotify says FILE grew, reads the new "
        "bytes once and `send()`s one JSON frame of them to every viewer, and does nothing else "
        "(no backlog for a full socket: it closes that viewer; no pings, auth, TLS or "
        "supervisor). Its latency is what this machine can do at all with N loopback viewers "
        "and the viewers' process on the same two CPUs. (`bench/loopback_sends.c` measures the "
        "loopback alone: small sends to N sockets with a reader that only reads.)",
        "",
        "The viewers are one epoll process, `bench/ws_load.c` (no compression offered; it "
        "answers protocol pings, so jenky's `ws_idle_timeout` stays at its default). It connects "
        "all N, then the writer starts (so connecting does not compete with streaming and no "
        f"backlog is replayed), then {r['warmup_s']:.0f} s of warm-up and a "
        f"{r['measure_s']:.0f} s window: every line stamped in the window is timed from the "
        "stamp to the `recv` that completed it, on the same clock; a line not received within "
        f"{r['grace_s']:.0f} s after the window counts as slower than that. Server CPU: "
        "utime+stime over the window (websocketd: itself and every `tail`), as a percentage of "
        "one CPU. Memory is read while the viewers are connected: VmRSS and PSS "
        "(smaps_rollup) summed over the server's processes; \"per viewer\" is (VmRSS with N "
        "viewers − VmRSS before they connected) ÷ N. Kernel socket buffers are not in either. "
        f"RLIMIT_NOFILE was {r['nofile']} for every process (the most this sandbox allows; "
        "jenky's unit sets 65536). The load averages above count websocketd's thousands of "
        "`tail` processes, which are runnable all at once while they start.",
        "",
        "| viewers | peer | connected | p50 ms | p99 ms | p99.9 ms | max ms | lines not received | "
        "server CPU | CPU µs per line delivered | server VmRSS | VmRSS per viewer | PSS total | processes |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for n, peers in r["counts"].items():
        nn = int(n)
        for peer, v in peers.items():
            label = {"jenky": "**jenky**", "floor": "floor (`ws_load fanout`)"}.get(
                peer, "websocketd + tail")
            if "error" in v or "p50_ms" not in v:
                out.append(f"| {nn:,} | {label} | failed: {v.get('error', '?')} | | | | | | | | | | | |")
                continue
            m, base = v["server_mem"], v["server_base_mem"]
            per = (m["vmrss_kib"] - base["vmrss_kib"]) / max(1, v["connected"])
            missing = v["missing"]
            out.append(
                f"| {nn:,} | {label} | {v['connected']:,} | {v['p50_ms']:.1f} | {v['p99_ms']:.1f} | "
                f"{v['p999_ms']:.1f} | {v['max_ms']:.1f} | {missing:,} of {v['expected']:,} | "
                f"{v['server_cpu_pct']:.0f} % | {v['server_cpu_s'] * 1e6 / max(1, v['received']):.1f} | "
                f"{m['vmrss_kib'] / KIB:,.1f} MiB | {per:,.1f} KiB | "
                f"{m['pss_kib'] / KIB:,.1f} MiB | {m['processes']:,} |")
            if v.get("viewers_without_lines") or v.get("closed_early") or v.get("failed"):
                why = ""
                if peer == "jenky" and v.get("server_fds", 0) >= r["nofile"] - 5:
                    why = (" jenky was at its descriptor limit: it holds two a viewer (the socket "
                           "and its own descriptor of the log file), and a viewer whose open of "
                           "the log fails stays connected and is sent nothing, with no error.")
                notes.append(f"{label} with {nn:,}: {v.get('failed', 0)} connections failed, "
                             f"{v.get('closed_early', 0)} closed early "
                             f"(close codes {v.get('close_codes', {})}), "
                             f"{v.get('viewers_without_lines', 0)} connected viewers received no "
                             f"line of the window, {v.get('viewers_missing_lines', 0)} missed "
                             "some." + why)
            if peer == "websocketd":
                notes.append(f"websocketd with {nn:,}: {v['tails']:,} tails, "
                             f"{v['tails_with_inotify']:,} of them on inotify "
                             f"(`fs.inotify.max_user_instances` = {r['inotify_max_user_instances']}); "
                             "the others poll the file once a second"
                             + (f"; {v['websocketd_processes']} websocketd processes, since one "
                                "needs 4–6 descriptors per viewer" if v.get("websocketd_processes", 1) > 1 else "")
                             + f"; websocketd itself {v['websocketd_mem']['vmrss_kib'] / KIB:,.1f} MiB"
                             + (f"; {v['websocketd_errors']:,} error lines in its log: " + "; ".join(
                                 f"{c:,} × `{m[:120]}`" for m, c in error_kinds(v))
                                 if v.get("websocketd_errors") else "")
                             + ".")
            elif peer == "floor":
                closed = v.get("floor_log", "").strip().splitlines()
                notes.append(f"floor with {nn:,}: " + (f"`{closed[-1][:160]}`" if closed else
                             "no viewer was closed for a full socket") + ".")
            else:
                notes.append(f"jenky with {nn:,}: the `jenky serve` process only (its run's "
                             f"supervisor: {v['supervisor_mem']['vmrss_kib'] / KIB:.1f} MiB, "
                             "the same with or without viewers); it held "
                             f"{v.get('server_fds', 0):,} descriptors (limit {r['nofile']:,}).")
    out.append("")
    out += [f"- {x}" for x in notes]
    out.append("")
    t = r.get("throughput")
    if t:
        med = {k: B.percentile(sorted(x["mb_per_s"] for x in t[k]), 50) for k in ("ws", "ws_raw", "http")}
        out += [
            "### Single viewer throughput (jenky)",
            "",
            f"A run whose script writes {r['bytes'] / (1 << 20):,.0f} MiB as fast as it can "
            "(`yes` of a 99-character line into `head -c`), one viewer connected right after the "
            "trigger; MB/s (10^6 bytes) of log bytes from the trigger to the last byte received, "
            f"median of {len(t['ws'])}. The run's `[server] ws_max_lag` is raised to 64 GiB so "
            "that a viewer falling behind the script is not closed (1008).",
            "",
            "| path | MB/s by repetition | median MB/s |",
            "|---|---|---:|",
        ]
        for k, label in (("ws", "WebSocket `/ws/v1/runs/ID/log` (JSON)"),
                         ("ws_raw", "WebSocket `?format=raw`"),
                         ("http", "`GET /api/v1/runs/ID/log?follow=1` (curl)")):
            out.append(f"| {label} | {joined(x['mb_per_s'] for x in t[k])} | {med[k]:.0f} |")
        alone = t.get("no_viewer_mb_per_s", [])
        if alone:
            out.append(f"| (no viewer: trigger → run finished) | {joined(alone)} | "
                       f"{B.percentile(sorted(alone), 50):.0f} |")
        out.append("")
    # Goals
    big = r["counts"].get("10000", {}).get("jenky")
    out += ["| goal | measured | |", "|---|---|---|"]
    if big and "p99_ms" in big:
        per = (big["server_mem"]["vmrss_kib"] - big["server_base_mem"]["vmrss_kib"]) / max(1, big["connected"])
        out.append(f"| 10,000 viewers, p99 ≤ 100 ms | {big['p99_ms']:.1f} ms ({big['connected']:,} "
                   f"connected) | {verdict(big['p99_ms'] <= 100 and big['connected'] == 10000)} |")
        floor = r["counts"].get("10000", {}).get("floor")
        if floor and "p99_ms" in floor:
            out.append(f"| (the same, for the floor peer in this run) | {floor['p99_ms']:.1f} ms "
                       f"({floor['connected']:,} connected; jenky ÷ floor "
                       f"{big['p99_ms'] / max(floor['p99_ms'], 1e-3):.2f}×) | |")
        out.append(f"| 10,000 viewers, ≤ 16 KiB per viewer | {per:.1f} KiB | {verdict(per <= 16)} |")
    else:
        out.append("| 10,000 viewers | not measured | **missed** |")
    if t:
        out.append(f"| single viewer ≥ 200 MB/s (WebSocket, JSON messages as the UI reads them) | "
                   f"{med['ws']:.0f} MB/s (raw frames {med['ws_raw']:.0f} MB/s, HTTP follow "
                   f"{med['http']:.0f} MB/s) | {verdict(med['ws'] >= 200)} |")
    out.append("")
    return out


# ----------------------------------------------------------------- splice

def replace_section(text, heading, body):
    """Replaces the section starting at the line HEADING up to the next '## '
    line with BODY (ending in a blank line); inserts it if missing."""
    lines = text.split("\n")
    try:
        start = lines.index(heading)
    except ValueError:
        start = None
    if start is not None:
        end = start + 1
        while end < len(lines) and not lines[end].startswith("## "):
            end += 1
        return "\n".join(lines[:start] + body + lines[end:])
    # Missing: at the end, with the other sections written by their own tools
    # (bench/report.py keeps those, after its own).
    text = text.rstrip("\n")
    return (text + "\n\n" if text else "") + "\n".join(body)


def load(path):
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        r = json.load(f)
    return r if r.get("meta") else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--webhook", help="bench_webhook.py's --out")
    ap.add_argument("--fanout", help="bench_fanout.py's --out")
    ap.add_argument("--doc", default=os.path.join(B.REPO, "docs", "benchmarks.md"))
    a = ap.parse_args()
    with open(a.doc) as f:
        text = f.read()
    if a.webhook is not None:
        text = replace_section(text, "## Webhooks", webhook_section(load(a.webhook)))
    if a.fanout is not None:
        text = replace_section(text, "## Live logs (fan-out)", fanout_section(load(a.fanout)))
    with open(a.doc, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
