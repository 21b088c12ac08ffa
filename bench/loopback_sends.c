// loopback_sends: how many small TCP sends a second this machine's loopback
// takes with nothing else to do, the ceiling under any fan-out benchmark
// whose viewers run on the same CPUs (bench/bench_fanout.py).
//
//   gcc -O2 -pthread -o loopback_sends bench/loopback_sends.c
//   ./loopback_sends N THREADS SECONDS
//
// Opens N loopback TCP connections (so 2N descriptors: keep N under half of
// RLIMIT_NOFILE), then a child process reads them all with epoll_wait and
// recv and throws the bytes away, while the parent sends 200 bytes to every
// connection in turn (non-blocking, TCP_NODELAY), split over THREADS sender
// threads, again and again for SECONDS. Prints passes a second and sends a
// second; a pass is what a fan-out server does for each new piece of log.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int n_conns;
static int *senders;
static char message[200];

struct range {
  int lo, hi;
};

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *send_range(void *arg) {
  struct range *r = arg;
  for (int i = r->lo; i < r->hi; i++) send(senders[i], message, sizeof message, MSG_DONTWAIT | MSG_NOSIGNAL);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: loopback_sends N THREADS SECONDS\n");
    return 2;
  }
  n_conns = atoi(argv[1]);
  int threads = atoi(argv[2]);
  double seconds = atof(argv[3]);
  if (n_conns <= 0 || threads <= 0 || threads > 8 || seconds <= 0) return 2;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len = sizeof addr;
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 4096) < 0 ||
      getsockname(listener, (struct sockaddr *)&addr, &len) < 0) {
    perror("listen");
    return 1;
  }
  int *receivers = malloc(sizeof(int) * (size_t)n_conns);
  senders = malloc(sizeof(int) * (size_t)n_conns);
  for (int i = 0; i < n_conns; i++) {
    receivers[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (receivers[i] < 0 || connect(receivers[i], (struct sockaddr *)&addr, sizeof addr) < 0 ||
        (senders[i] = accept(listener, NULL, NULL)) < 0) {
      perror("connect");
      return 1;
    }
    setsockopt(senders[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  pid_t reader = fork();
  if (reader == 0) {
    int ep = epoll_create1(0);
    for (int i = 0; i < n_conns; i++) {
      struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
      epoll_ctl(ep, EPOLL_CTL_ADD, receivers[i], &ev);
    }
    static char buf[65536];
    struct epoll_event evs[512];
    double end = now_s() + seconds + 1;
    while (now_s() < end) {
      int n = epoll_wait(ep, evs, 512, 100);
      for (int i = 0; i < n; i++) recv(receivers[evs[i].data.u32], buf, sizeof buf, 0);
    }
    _exit(0);
  }
  double start = now_s();
  long passes = 0;
  while (now_s() - start < seconds) {
    pthread_t tid[8];
    struct range r[8];
    for (int k = 0; k < threads; k++) {
      r[k].lo = (int)((long)n_conns * k / threads);
      r[k].hi = (int)((long)n_conns * (k + 1) / threads);
      if (threads == 1) {
        send_range(&r[k]);
      } else {
        pthread_create(&tid[k], NULL, send_range, &r[k]);
      }
    }
    if (threads > 1) {
      for (int k = 0; k < threads; k++) pthread_join(tid[k], NULL);
    }
    passes++;
  }
  double elapsed = now_s() - start;
  printf("connections %d, sender threads %d: %.1f passes/s, %.0f sends/s, %.1f ms a pass\n", n_conns,
         threads, passes / elapsed, passes * (double)n_conns / elapsed, 1000 * elapsed / passes);
  waitpid(reader, NULL, 0);
  return 0;
}
