#include "exec/fleet_remote.h"

#include <random>

#include <fmt/format.h>

namespace jenky {

// Read it with fleet_remote.h's top comment. fd 3 keeps the session's input
// for the watcher alone; the step's own input is /dev/null. `done` tells the
// watcher that the step ended by itself (nothing to kill).
const char* const kRemoteBootstrap = R"SH(umask 077
d=$(mktemp -d "${TMPDIR:-/tmp}/jenky-step.XXXXXXXX") || { echo "jenky: mktemp failed on $(uname -n)" >&2; exit 125; }
IFS= read -r n || exit 125
head -c "$n" > "$d/step" || exit 125
exec 3<&0
setsid sh "$d/step" "$d" </dev/null &
p=$!
(
  cat <&3
  if [ ! -e "$d/done" ]; then
    k() {
      kill -"$1" -- -"$p"
      for f in /proc/[0-9]*/environ; do
        if grep -qzxF "JENKY_STEP=$d" "$f"; then q=${f#/proc/}; kill -"$1" "${q%/environ}"; fi
      done
    }
    k TERM
    i=0
    while [ "$i" -lt 50 ] && kill -0 -- -"$p"; do sleep 0.1; i=$((i + 1)); done
    k KILL
  fi
  rm -rf "$d"
) </dev/null >/dev/null 2>&1 &
exec 3<&-
wait "$p"
rc=$?
: > "$d/done"
exit "$rc"
)SH";

const char* RemoteStepName(RemoteStep s) {
  switch (s) {
    case RemoteStep::kMkRelease: return "mkrelease";
    case RemoteStep::kPublish: return "publish";
    case RemoteStep::kPrepare: return "prepare";
    case RemoteStep::kSwitch: return "switch";
    case RemoteStep::kHealth: return "health";
    case RemoteStep::kRollback: return "rollback";
    case RemoteStep::kClean: return "clean";
    case RemoteStep::kRollbackTo: return "rollback";
  }
  return "step";
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

namespace {

// A here-document delimiter that is no line of TEXT.
std::string Delimiter(const std::string& text) {
  std::random_device rd;
  for (;;) {
    std::string d = fmt::format("JENKY_EOF_{:08x}{:08x}", rd(), rd());
    if (text.find(d) == std::string::npos) return d;
  }
}

std::string RunUser(const StepInput& in) {
  if (in.script.empty()) return "exit 0\n";
  return fmt::format("exec {} -e \"$1/user\"\n", ShellQuote(in.shell));
}

// `cd` into a release directory and say where it is.
std::string EnterRelease(const std::string& dir) {
  return fmt::format("cd -- {} || exit 1\nexport JENKY_RELEASE_DIR=\"$(pwd -P)\"\n", dir);
}

// `jenky rollback`'s step: pick the release, point current at it.
std::string RollbackToBody() {
  return "cur=$(readlink current 2>/dev/null || true)\n"
         "if [ -n \"${JENKY_ROLLBACK_TO:-}\" ]; then\n"
         "  to=releases/$JENKY_ROLLBACK_TO\n"
         "else\n"
         "  to=$(ls -1 releases | grep -E '^[0-9]+$' | sort -n |\n"
         "    awk -v c=\"${cur#releases/}\" 'c == \"\" || $1 + 0 < c + 0' | tail -n 1)\n"
         "  to=${to:+releases/$to}\n"
         "fi\n"
         "if [ -z \"$to\" ] || [ ! -d \"$to\" ]; then\n"
         "  echo \"jenky: no release to roll back to here (current: ${cur:-none}, wanted: "
         "${to:-an older one})\" >&2\n"
         "  exit 3\n"
         "fi\n"
         "ln -sfn -- \"$to\" .jenky/current.tmp && mv -T -- .jenky/current.tmp current || exit 1\n"
         "echo \"jenky: current -> $to (was ${cur:-nothing})\"\n"
         "export JENKY_ROLLED_BACK_RELEASE=\"${cur#releases/}\"\n";
}

std::string Body(const StepInput& in) {
  const std::string r = ShellQuote("releases/" + in.release);
  const std::string partial = ShellQuote("releases/.partial-" + in.release);
  const std::string prev_file = ShellQuote(".jenky/prev-" + in.release);
  switch (in.step) {
    case RemoteStep::kMkRelease: return fmt::format("mkdir -p -- {}\n", r);
    case RemoteStep::kPublish:
      return fmt::format("rm -rf -- {r}\nmv -T -- {p} {r}\n", fmt::arg("r", r),
                         fmt::arg("p", partial));
    case RemoteStep::kPrepare:
      return (in.publish_upload ? fmt::format("rm -rf -- {r}\nmv -T -- {p} {r} || exit 1\n",
                                              fmt::arg("r", r), fmt::arg("p", partial))
                                : fmt::format("mkdir -p -- {} || exit 1\n", r)) +
             EnterRelease(r) + RunUser(in);
    case RemoteStep::kHealth: return EnterRelease(r) + RunUser(in);
    case RemoteStep::kSwitch:
      return fmt::format(
                 "prev=$(readlink current 2>/dev/null || true)\n"
                 "printf '%s\\n' \"$prev\" > {pf} || exit 1\n"
                 "ln -sfn -- {r} .jenky/current.tmp && mv -T -- .jenky/current.tmp current || "
                 "exit 1\n"
                 "echo \"jenky: current -> {rel} (was ${{prev:-nothing}})\"\n"
                 "ls -1 releases | grep -E '^[0-9]+$' | sort -n | head -n -{keep} |\n"
                 "  while read -r old; do [ \"releases/$old\" = \"$prev\" ] || rm -rf -- "
                 "\"releases/$old\"; done\n"
                 "if [ -n \"$prev\" ] && [ -d \"$prev\" ]; then\n"
                 "  export JENKY_PREVIOUS_RELEASE_DIR=\"$(cd -- \"$prev\" && pwd -P)\"\n"
                 "fi\n",
                 fmt::arg("pf", prev_file), fmt::arg("r", r), fmt::arg("rel", in.release),
                 fmt::arg("keep", in.keep_releases)) +
             EnterRelease(r) + RunUser(in);
    case RemoteStep::kRollback:
      return fmt::format(
                 "prev=$(cat {pf} 2>/dev/null || true)\n"
                 "if [ -n \"$prev\" ] && [ -d \"$prev\" ]; then\n"
                 "  ln -sfn -- \"$prev\" .jenky/current.tmp && mv -T -- .jenky/current.tmp "
                 "current || exit 1\n"
                 "  echo \"jenky: current -> $prev again\"\n"
                 "elif [ \"$(readlink current 2>/dev/null || true)\" = {r} ]; then\n"
                 "  rm -f current\n"
                 "  echo 'jenky: no earlier release on this host: current removed'\n"
                 "fi\n"
                 "rm -rf -- {r} {pf}\n"
                 "[ -n \"$prev\" ] && [ -d \"$prev\" ] || exit 0\n"
                 "export JENKY_ROLLED_BACK_RELEASE={rel}\n",
                 fmt::arg("pf", prev_file), fmt::arg("r", r),
                 fmt::arg("rel", ShellQuote(in.release))) +
             EnterRelease("\"$prev\"") + RunUser(in);
    case RemoteStep::kClean: return fmt::format("rm -rf -- {} {} {}\n", r, partial, prev_file);
    case RemoteStep::kRollbackTo: return RollbackToBody() + EnterRelease("\"$to\"") + RunUser(in);
  }
  return "exit 1\n";
}

}  // namespace

std::string StepScript(const StepInput& in) {
  std::string s = "export JENKY_STEP=\"$1\"\n";
  s += fmt::format("export JENKY_FLEET_STEP={}\n", RemoteStepName(in.step));
  for (const auto& [k, v] : in.env) s += fmt::format("export {}={}\n", k, ShellQuote(v));
  if (!in.script.empty()) {
    std::string text = in.script;
    if (text.back() != '\n') text += '\n';
    std::string delim = Delimiter(text);
    s += fmt::format("cat > \"$1/user\" <<'{}'\n{}{}\n", delim, text, delim);
  }
  std::string dir = ShellQuote(in.deploy_dir);
  s += fmt::format(
      "mkdir -p -- {d}/releases {d}/.jenky && cd -- {d} || exit 1\n"
      "export JENKY_DEPLOY_DIR=\"$(pwd -P)\"\n",
      fmt::arg("d", dir));
  return s + Body(in);
}

std::string StepPayload(const StepInput& in) {
  std::string script = StepScript(in);
  return std::to_string(script.size()) + "\n" + script;
}

}  // namespace jenky
