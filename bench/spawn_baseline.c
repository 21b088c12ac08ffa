// The floor for "start a process": posix_spawn, timed on CLOCK_MONOTONIC.
//
//   spawn_baseline exit N GAP_MS PROGRAM [ARGS...]
//       spawn PROGRAM, time until waitpid() returns (e.g. /bin/true)
//   spawn_baseline first-byte N GAP_MS PROGRAM [ARGS...]
//       spawn PROGRAM with stdout on a pipe, time until its first byte is
//       read (e.g. /bin/bash -e script, where script is `printf x`)
//
// Prints one duration in nanoseconds per line; sleeps GAP_MS between runs.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s exit|first-byte N GAP_MS PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }
  int first_byte = strcmp(argv[1], "first-byte") == 0;
  int n = atoi(argv[2]);
  int gap_ms = atoi(argv[3]);
  char** child_argv = argv + 4;
  if (n < 1 || n > 100000) {
    fprintf(stderr, "N must be 1..100000\n");
    return 2;
  }
  for (int i = 0; i < n; i++) {
    int fds[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (first_byte) {
      if (pipe2(fds, O_CLOEXEC) != 0) return perror("pipe2"), 1;
      posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    }
    pid_t pid;
    int64_t t0 = now_ns();
    int rc = posix_spawn(&pid, child_argv[0], &fa, NULL, child_argv, environ);
    if (rc != 0) {
      fprintf(stderr, "posix_spawn %s: %s\n", child_argv[0], strerror(rc));
      return 1;
    }
    int64_t t1 = 0;
    if (first_byte) {
      close(fds[1]);
      char buf[4096];
      ssize_t r;
      while ((r = read(fds[0], buf, sizeof buf)) < 0 && errno == EINTR) {
      }
      t1 = now_ns();
      if (r <= 0) {
        fprintf(stderr, "child wrote nothing\n");
        return 1;
      }
      while (read(fds[0], buf, sizeof buf) > 0) {
      }
      close(fds[0]);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!first_byte) t1 = now_ns();
    posix_spawn_file_actions_destroy(&fa);
    printf("%lld\n", (long long)(t1 - t0));
    if (gap_ms > 0) usleep(gap_ms * 1000);
  }
  return 0;
}
