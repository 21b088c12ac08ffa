#!/usr/bin/python3
"""Renders docs/benchmarks.md from the JSON results bench/run.sh collects."""

import argparse
import json
import os
import platform
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

MIB = 1024.0


def load(results, name):
    path = os.path.join(results, name + ".json")
    if os.path.exists(os.path.join(results, name + ".failed")) or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def read(results, name, default=""):
    try:
        with open(os.path.join(results, name)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return default


def verdict(ok):
    return "**met**" if ok else "**missed**"


def machine(results):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    info = dict(line.split("=", 1) for line in read(results, "jenky_info").splitlines() if "=" in line)
    source = info.get("path", B.JENKY)
    built = info.get("built", "unknown")
    git = subprocess.run(["git", "-C", B.REPO, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    version = subprocess.run([B.JENKY, "version"], capture_output=True, text=True).stdout.strip()
    build_type = "unknown"
    cache = os.path.join(os.path.dirname(source), "CMakeCache.txt")
    if os.path.exists(cache):
        with open(cache) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    build_type = line.split("=", 1)[1].strip() or "(none)"
    webhook = subprocess.run(["webhook", "-version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu, "nproc": len(os.sched_getaffinity(0)), "kernel": platform.release(),
        "mem_gib": mem_kib / MIB / MIB, "git": git, "version": version,
        "build_type": build_type, "webhook": webhook, "built": built,
        "sha256": info.get("sha256", "unknown"),
        "load_start": read(results, "load_start"), "load_end": read(results, "load_end"),
        "date": read(results, "date"),
    }


def run_note(results, name):
    load = read(results, name + ".load").split()
    secs = read(results, name + ".seconds")
    if len(load) != 2 or not secs:
        return ""
    return (f"_Took {secs} s; 1-minute load average {load[0]} when it started, "
            f"{load[1]} when it ended._\n")


def failed_note(results, name):
    rc = read(results, name + ".failed", "?")
    return f"_This benchmark did not complete (exit {rc}); see the output of bench/run.sh._\n"


def cell(text):
    """Markdown table cell text: a '|' would end the cell, even in code."""
    return text.replace("|", "\\|")


def trigger_section(results):
    out = ["## 1. Trigger → first byte of the script's output\n"]
    r = load(results, "trigger")
    if not r:
        return out + [failed_note(results, "trigger")]
    p = r["peers"]
    base, wh, jk = p["spawn-true"], p["webhook"], p["jenky"]
    out.append(
        f"{r['iterations']} sequential triggers per peer (after {r['warmup']} warm-up "
        f"triggers), in {r['rounds']} interleaved rounds, {r['gap_ms']} ms pause after each "
        "finished run. The script is `printf x`. Times in milliseconds.\n")
    out.append("| peer | timed from → to | p50 | p90 | p99 | max | p50 ÷ spawn |")
    out.append("|---|---|---:|---:|---:|---:|---:|")
    rows = [
        ("spawn-true", "bare `posix_spawn` of `/bin/true`", "spawn → `waitpid` returns"),
        ("spawn-sh", "bare `posix_spawn` of `sh -e script` (dash)", "spawn → first byte on its stdout pipe"),
        ("spawn-bash", "bare `posix_spawn` of `bash -e script`", "spawn → first byte on its stdout pipe"),
        ("spawn-spare", "bare `posix_spawn` of `jenky __supervise` (stdin at EOF)",
         "spawn → exit: the cost of bringing up one spare supervisor"),
        ("webhook", "`webhook` (hook: bash script `printf x > out/$1`)", "POST sent → first byte in the file"),
        ("jenky", "**jenky** (default shell, bash)", "POST sent → first byte in `runs/ID/log`"),
        ("jenky-sh", "**jenky** with `shell = \"/bin/sh\"`", "POST sent → first byte in `runs/ID/log`"),
    ]
    for key, name, what in rows:
        s = p.get(key)
        if not s:
            continue
        out.append(f"| {name} | {what} | {s['p50']:.2f} | {s['p90']:.2f} | {s['p99']:.2f} | "
                   f"{s['max']:.2f} | {s['p50'] / base['p50']:.2f}× |")
    ratio = jk["p50"] / base["p50"]
    out.append("")
    out.append("| goal | measured | |")
    out.append("|---|---|---|")
    out.append(f"| jenky p50 ≤ 1.5 × bare spawn p50 | {ratio:.2f}× "
               f"({jk['p50']:.2f} ms vs {base['p50']:.2f} ms) | {verdict(ratio <= 1.5)} |")
    out.append(f"| jenky well ahead of webhook (p50) | jenky ÷ webhook = "
               f"{jk['p50'] / wh['p50']:.2f}× | {verdict(jk['p50'] < wh['p50'])} |")
    rr = r.get("round_ratios")
    if rr:
        def fmt_rr(key):
            x = rr[key]
            return f"{x['median']:.2f}× (rounds: {x['min']:.2f}–{x['max']:.2f})"
        out.append(f"| (the same, paired by round: median over {rr['jenky/spawn-true']['rounds']} rounds "
                   f"of each round's p50 ratio) | jenky ÷ spawn {fmt_rr('jenky/spawn-true')}; "
                   f"jenky ÷ webhook {fmt_rr('jenky/webhook')}; jenky-sh ÷ spawn "
                   f"{fmt_rr('jenky-sh/spawn-true')} | |")
    if "jenky-sh" in p and "spawn-bash" in p:
        js, sb = p["jenky-sh"], p["spawn-bash"]
        out.append(f"| (for the record) jenky's own overhead, p50 minus the bare shell's p50 | "
                   f"bash: {jk['p50'] - sb['p50']:.2f} ms, sh: "
                   f"{js['p50'] - p['spawn-sh']['p50']:.2f} ms | |")
    out.append(f"| (for the record) p99 | jenky {jk['p99']:.2f} ms, webhook {wh['p99']:.2f} ms, "
               f"bare spawn {base['p99']:.2f} ms | |")
    out.append("")
    out.append(
        "How it is timed: the benchmark process writes the request to an open keep-alive "
        "connection and takes the time just before; it learns of the first byte from an "
        "inotify `IN_MODIFY` event on the file (jenky: a watch on `runs/` reports the new "
        "run directory, a watch on that directory reports the write to `log`; the log's size "
        "is checked right after the watch is added, so a byte written before it is not "
        "missed). No polling is involved; the resolution is the wake-up latency of one "
        "process on an event (microseconds, more when both CPUs are busy). Note that bash "
        "alone takes about "
        f"{p['spawn-bash']['p50'] / base['p50']:.1f}× a bare `/bin/true` here, so with the "
        "default shell the 1.5× goal leaves jenky no time at all; the `sh` rows show what is "
        "jenky's own.\n")
    phases = r.get("phases", {}).get("jenky")
    if phases:
        out.append(
            f"Where the time goes (a separate pass of {r['phase_iterations']} triggers that also "
            "watches every file jenky makes in the run directory and the response socket): "
            "the median time, after the request was sent, at which the benchmark saw each "
            "step. A step seen in only some triggers happened before the benchmark had added "
            "its watch on the new directory, so its median is biased to the slow cases. "
            "`bench/profile_trigger.py` shows the same path syscall by syscall.\n")
        out.append("| step (file in `runs/ID/`) | what it marks | seen in | p50 ms |")
        out.append("|---|---|---:|---:|")
        for ph in phases:
            out.append(f"| {ph['phase']} | {ph['what']} | {ph['observed']}/{r['phase_iterations']} | "
                       f"{ph['p50_ms']:.2f} |")
        out.append("")
    return out


def capture_section(results):
    out = ["## 2. Log capture throughput\n"]
    r = load(results, "capture")
    if not r:
        return out + [failed_note(results, "capture")]
    size = r["bytes"] / (1 << 20)
    out.append(
        f"The script writes {size:.0f} MiB to stdout; jenky is timed from the trigger to the "
        "run reading `succeeded` (this includes the fsync of the log jenky does before "
        "recording the end). The peer runs the same command redirected to a file on the same "
        "filesystem; it is also shown with an fsync of the file at the end (`&& sync FILE`), and "
        "relayed through a pipe by `cat` plus the fsync, which is the shape of jenky's path "
        "(script → pipe → supervisor → log file). "
        f"Median of {r['reps']} repetition(s), alternating; throughput in MiB/s.\n")
    out.append("| output | jenky | peer `CMD > file` | peer + fsync | relay `CMD \\| cat > file` + fsync | "
               "jenky ÷ peer | jenky ÷ (peer + fsync) | goal ≥ 50 % of peer |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---|")
    for kind, k in r["kinds"].items():
        jk, pe, pf = k["jenky"]["mib_per_s"], k["peer"]["mib_per_s"], k["peer_fsync"]["mib_per_s"]
        rl = k["relay_fsync"]["mib_per_s"]
        out.append(f"| {cell('`' + k['command'] + '`')} | {jk:.0f} | {pe:.0f} | {pf:.0f} | {rl:.0f} | "
                   f"{jk / pe:.0%} | {jk / pf:.0%} | {verdict(jk / pe >= 0.5)} |")
    out.append("")
    out.append("Seconds per repetition:\n")
    out.append("| output | jenky | peer | peer + fsync | relay + fsync | jenky's `log.idx` |")
    out.append("|---|---|---|---|---|---:|")
    for kind, k in r["kinds"].items():
        fmt = lambda v: ", ".join(f"{x:.2f}" for x in v["seconds"])  # noqa: E731
        out.append(f"| {kind} | {fmt(k['jenky'])} | {fmt(k['peer'])} | {fmt(k['peer_fsync'])} | "
                   f"{fmt(k['relay_fsync'])} | {k['log_idx_bytes']} B |")
    out.append("")
    return out


def rss_section(results):
    out = ["## 3. Idle memory\n"]
    r = load(results, "rss")
    if not r:
        return out + [failed_note(results, "rss")]
    out.append(
        f"jenky serving {r['projects']} projects; the server process, the spare supervisor "
        "it keeps ready (`jenky __supervise`, its child) and the spare's warm shell (`bash`, "
        "started ahead of the next run: architecture.md, \"Warm shell\") are measured "
        "separately. "
        f"\"After runs\" is after {r['runs']} runs and a `GET /api/v1/projects`; \"after UI\" "
        "is after also serving `GET /` (the embedded web UI). `webhook` has one hook; "
        f"\"after runs\" is after {r['runs']} hook calls. VmRSS from /proc/PID/status, in MiB "
        "(anonymous + file-backed); PSS from /proc/PID/smaps_rollup divides each shared "
        "page among the processes that map it.\n")
    out.append("| process | moment | VmRSS | anon | file | PSS |")
    out.append("|---|---|---:|---:|---:|---:|")

    def row(name, moment, m):
        out.append(f"| {name} | {moment} | {m['vmrss_kib'] / MIB:.1f} | {m['rss_anon_kib'] / MIB:.1f} | "
                   f"{m['rss_file_kib'] / MIB:.1f} | {m['pss_kib'] / MIB:.1f} |")

    moments = [("jenky_startup", "after startup"), ("jenky_after_runs", "after runs"),
               ("jenky_after_ui", "after UI")]
    for key, moment in moments:
        j = r[key]
        row("**jenky serve**", moment, j["server"])
        for s in j["spares"]:
            row("jenky spare `__supervise`", moment, s)
        for s in j.get("warm_shells", []):
            row("jenky warm shell (`bash`)", moment, s)
        out.append(f"| jenky total | {moment} | {j['total_vmrss_kib'] / MIB:.1f} | | | "
                   f"{j['total_pss_kib'] / MIB:.1f} |")
    row("`webhook`", "after startup", r["webhook_startup"])
    row("`webhook`", "after runs", r["webhook_after_runs"])
    server = max(r["jenky_startup"]["server"]["vmrss_kib"], r["jenky_after_runs"]["server"]["vmrss_kib"])
    total = max(r["jenky_startup"]["total_vmrss_kib"], r["jenky_after_runs"]["total_vmrss_kib"])
    wh = r["webhook_after_runs"]["vmrss_kib"]
    out.append("")
    out.append("| goal | measured | |")
    out.append("|---|---|---|")
    out.append(f"| server VmRSS ≤ 10 MiB (startup and after runs) | {server / MIB:.1f} MiB "
               f"(webhook: {wh / MIB:.1f} MiB; server ÷ webhook {server / wh:.2f}×) | "
               f"{verdict(server <= 10 * MIB)} |")
    out.append(f"| (server + spare + warm shell, for the record) | {total / MIB:.1f} MiB | |")
    out.append(f"| (server after serving the UI, for the record) | "
               f"{r['jenky_after_ui']['server']['vmrss_kib'] / MIB:.1f} MiB | |")
    out.append("")
    out.append(f"The jenky binary is {r['jenky_binary_bytes'] / (1 << 20):.1f} MiB on disk "
               "(most of it debug sections, which are never paged in); its file-backed RSS is the "
               "part of the binary and of the shared libraries that has been paged in.\n")
    return out


def listing_section(results):
    out = ["## 4. Listing with a large history\n"]
    r = load(results, "listing")
    if not r:
        return out + [failed_note(results, "listing")]
    out.append(
        f"{r['rows']:,} finished runs in `jenky.db` ({r['db_bytes'] / (1 << 20):.0f} MiB, "
        f"filled in {r['fill_seconds']:.1f} s; 20 projects), `limit={r['limit']}`, "
        f"{r['requests_per_kind']} requests of each kind on one keep-alive connection, kinds "
        "alternating in rounds; `before=` is a uniformly random id. Each response is checked "
        "(200, a full page of runs older than `before`). Milliseconds, request written → "
        "response read; the database is in the page cache.\n")
    out.append("| request | p50 | p90 | p99 | max | response bytes | goal p99 ≤ 5 ms |")
    out.append("|---|---:|---:|---:|---:|---:|---|")
    names = {
        "project_newest": "`GET /api/v1/projects/pN/runs?limit=50`",
        "all_newest": "`GET /api/v1/runs?limit=50`",
        "project_before": "`GET /api/v1/projects/pN/runs?limit=50&before=ID`",
        "all_before": "`GET /api/v1/runs?limit=50&before=ID`",
        "healthz": "`GET /healthz` (the HTTP floor)",
    }
    for k, name in names.items():
        s = r["kinds"][k]
        goal = "" if k == "healthz" else verdict(s["p99"] <= 5.0)
        out.append(f"| {name} | {s['p50']:.2f} | {s['p90']:.2f} | {s['p99']:.2f} | {s['max']:.2f} | "
                   f"{r['response_bytes'][k]} | {goal} |")
    for k, name in (("sql_project_before", "the server's SQL alone, by project (Python sqlite3)"),
                    ("sql_all_before", "the server's SQL alone, all projects (Python sqlite3)")):
        s = r["sql"][k]
        out.append(f"| {name} | {s['p50']:.2f} | {s['p90']:.2f} | {s['p99']:.2f} | {s['max']:.2f} | | |")
    out.append("")
    out.append(f"Query plan by project: `{'; '.join(r['query_plan'])}`. "
               f"Server start on the filled database: {r['startup_seconds'] * 1000:.0f} ms.\n")
    return out


def summary(results):
    out = ["## Summary\n", "| benchmark | jenky | peer | jenky ÷ peer | goal | |",
           "|---|---:|---:|---:|---|---|"]
    r = load(results, "trigger")
    if r:
        jk, base, wh = r["peers"]["jenky"], r["peers"]["spawn-true"], r["peers"]["webhook"]
        out.append(f"| trigger → first byte, p50 | {jk['p50']:.2f} ms | bare spawn {base['p50']:.2f} ms | "
                   f"{jk['p50'] / base['p50']:.2f}× | ≤ 1.5× | {verdict(jk['p50'] / base['p50'] <= 1.5)} |")
        out.append(f"| trigger → first byte, p50 | {jk['p50']:.2f} ms | webhook {wh['p50']:.2f} ms | "
                   f"{jk['p50'] / wh['p50']:.2f}× | well ahead (< 1×) | {verdict(jk['p50'] < wh['p50'])} |")
    r = load(results, "capture")
    if r:
        for kind, k in r["kinds"].items():
            jk, pe = k["jenky"]["mib_per_s"], k["peer"]["mib_per_s"]
            out.append(f"| capture {r['bytes'] >> 20} MiB ({kind}) | {jk:.0f} MiB/s | {pe:.0f} MiB/s | "
                       f"{jk / pe:.0%} | ≥ 50 % | {verdict(jk / pe >= 0.5)} |")
    r = load(results, "rss")
    if r:
        server = max(r["jenky_startup"]["server"]["vmrss_kib"], r["jenky_after_runs"]["server"]["vmrss_kib"])
        wh = r["webhook_after_runs"]["vmrss_kib"]
        out.append(f"| idle RSS of the server (20 projects) | {server / MIB:.1f} MiB | webhook {wh / MIB:.1f} MiB | "
                   f"{server / wh:.2f}× | ≤ 10 MiB | {verdict(server <= 10 * MIB)} |")
    r = load(results, "listing")
    if r:
        worst = max((k for k in r["kinds"] if k != "healthz"), key=lambda k: r["kinds"][k]["p99"])
        p99 = r["kinds"][worst]["p99"]
        out.append(f"| listing, {r['rows']:,} runs: worst p99 ({worst}) | {p99:.2f} ms | | | ≤ 5 ms | "
                   f"{verdict(p99 <= 5.0)} |")
    for name in ("trigger", "capture", "rss", "listing"):
        if not load(results, name):
            out.append(f"| {name} | did not complete | | | | |")
    return out + [""]


OWN_HEADINGS = ("## Summary", "## 1. ", "## 2. ", "## 3. ", "## 4. ", "## Reproducing")


def foreign_sections(path):
    """`## ` sections of the existing report that other tools write (e.g. the
    UI tests' "## Web UI"): kept as they are, after this report's own."""
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        return ""
    out, keep = [], False
    for line in old.splitlines(keepends=True):
        if line.startswith("## "):
            keep = not line.startswith(OWN_HEADINGS)
        elif line.startswith("# "):
            keep = False
        if keep:
            out.append(line)
    return "".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    m = machine(a.results)
    lines = [
        "# jenky benchmarks",
        "",
        "_The summary, sections 1–4 and \"Reproducing\" are generated by `bench/run.sh`; do not edit them by hand: rerun it. Sections after those are written by their own tools (each says which) and `bench/run.sh` keeps them as they are._",
        "",
        f"- command: `{a.command.strip()}`",
        f"- date: {m['date']}",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_gib']:.1f} GiB RAM, "
        f"Linux {m['kernel']}",
        f"- load average (1/5/15 min) at start: {' '.join(m['load_start'].split()[:3])}; "
        f"at end: {' '.join(m['load_end'].split()[:3])}",
        f"- jenky: `{m['version']}`, binary built {m['built']} (sha256 {m['sha256']}…; "
        f"repository at {m['git']} when the report was written), "
        f"build type {m['build_type']}; "
        f"peer: webhook {m['webhook'].replace('webhook version ', '')}",
        "",
        "These machines are shared virtual machines and noisy: compare the ratios between "
        "peers measured in the same run rather than absolute numbers across runs.",
        "",
    ]
    lines += summary(a.results)
    for name, section in (("trigger", trigger_section), ("capture", capture_section),
                          ("rss", rss_section), ("listing", listing_section)):
        lines += section(a.results)
        lines.append(run_note(a.results, name))
    lines += [
        "## Reproducing",
        "",
        "```sh",
        "bench/run.sh            # every benchmark, full sizes (about 3 minutes)",
        "bench/run.sh --quick    # smaller sizes (under 2 minutes)",
        "bench/run.sh --setup    # only install and build what they need",
        "```",
        "",
        "It installs what it needs (`scripts/setup.sh bench`: `webhook`, `wrk`, `websocketd`, "
        "`gcc`, Debian's `/usr/bin/python3`, standard library only) and builds `build/jenky` "
        "unless `JENKY_BIN=/path/to/jenky` names another. Each benchmark is one script, runnable alone (`--help` for its options): "
        "`bench/bench_trigger.py`, `bench/bench_capture.py`, `bench/bench_rss.py`, "
        "`bench/bench_listing.py`; `bench/spawn_baseline.c` is the bare-spawn peer. They "
        "use fresh temporary data dirs under /tmp, end every process they start (including "
        "jenky's supervisors) and are bounded by `timeout`. "
        "`bench/profile_trigger.py` traces one trigger's syscalls (`perf trace`, or "
        "`strace`) to show where a trigger's time goes.",
        "",
    ]
    text = "\n".join(lines)
    kept = foreign_sections(a.out)
    if kept:
        text = text.rstrip("\n") + "\n\n" + kept
    with open(a.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
