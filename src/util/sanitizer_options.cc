// Default sanitizer runtime options, compiled only into sanitizer builds
// (JENKY_SANITIZE=asan|tsan) of the jenky and jenky_test executables.
//
// Why in the binary and not only in the environment: jenky re-executes
// itself (`jenky __supervise`, `jenky upgrade`) and its tests start it with
// scrubbed environments, so options set only by the test runner would miss
// some of those processes. The runtimes read these first and then
// ASAN_OPTIONS / UBSAN_OPTIONS / TSAN_OPTIONS, so the environment still adds
// or overrides keys (the e2e harness sets log_path there, one directory per
// test, and fails the test when a report file appears in it).
//
// Exit code 66 is one no jenky command uses (SPEC.md: 0-6), so a report in a
// CLI process or a supervisor is never mistaken for a run's result.

// The runtimes look these up as weak symbols, so C linkage and default
// visibility; ASan calls its hook before it is initialised, so that one must
// not be instrumented (as Chromium's sanitizer_options.cc does it). The hooks
// only return literals, which UBSan and TSan do not instrument.
#define JENKY_NO_SANITIZE __attribute__((no_sanitize_address))
#define JENKY_VISIBLE __attribute__((visibility("default"), used))

extern "C" {

JENKY_VISIBLE JENKY_NO_SANITIZE const char* __asan_default_options() {
  // detect_stack_use_after_return: a coroutine that keeps a reference to a
  // caller's temporary reads a dead stack slot, the bug class GCC 12's
  // coroutine lowering produced here once.
  return "halt_on_error=1:exitcode=66:detect_leaks=1:detect_stack_use_after_return=1:"
         "check_initialization_order=1:strict_init_order=1:strict_string_checks=1";
}

JENKY_VISIBLE JENKY_NO_SANITIZE const char* __lsan_default_options() { return "exitcode=66"; }

JENKY_VISIBLE JENKY_NO_SANITIZE const char* __ubsan_default_options() {
  return "halt_on_error=1:print_stacktrace=1:exitcode=66";
}

JENKY_VISIBLE JENKY_NO_SANITIZE const char* __tsan_default_options() {
  return "halt_on_error=1:exitcode=66:second_deadlock_stack=1";
}

}  // extern "C"
