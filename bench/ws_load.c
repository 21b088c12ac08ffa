// ws_load: an epoll WebSocket load client for bench/bench_fanout.py, and the
// paced line writer whose lines it times.
//
//   ws_load write RATE SECONDS [FILE|- [START_FILE]]
//       Writes RATE lines a second for SECONDS (to FILE, appending, or to
//       stdout), once START_FILE exists if one is named, each "SEQ MONOTONIC_NS ...padding\n" written with one write(2)
//       just after reading the clock. Paced on absolute deadlines.
//
//   ws_load view HOST PORT[,PORT...] PATH N MODE [options]
//       Opens N WebSocket connections (round robin over the ports) (fixed key, at most --inflight handshakes
//       at once), reads every frame (answers pings with pongs), and times each
//       line: received (CLOCK_MONOTONIC just after recv returned) minus the
//       timestamp in the line. MODE: json (jenky: {"type":"log",...,"data":"..."},
//       lines split on \n inside data), msg (websocketd: one line per text
//       message), count (throughput: counts log bytes until every connection
//       is closed by the server), countraw (the same for ?format=raw frames).
//       Prints, one a line: "CONNECTED n failed f seconds s", "START ns",
//       "END ns", then one JSON object with the results; then keeps the
//       connections open until its stdin reaches EOF (or --hold seconds), and
//       ends them with a reset (no TIME_WAIT).
//     options: --warmup S (2) --measure S (10) --grace S (5) --inflight K (100)
//              --connect-timeout S (180) --hold S (300) --timeout S (count mode, 300)
//
//   ws_load fanout PORT FILE
//       The floor peer: the least a server can do to fan a growing file out
//       to WebSocket viewers. One thread, one epoll: it takes any upgrade
//       request (answers 101 without checking it), follows FILE with inotify
//       and, each time FILE grows, reads the new bytes once, makes one JSON
//       text frame {"type":"log","offset":N,"data":"..."} of them and send()s
//       it, non-blocking, to every viewer (a viewer whose socket is full is
//       closed and counted on stderr). No files per viewer, no timers, no
//       pings, no TLS, no auth, no supervisor: the rest of its cost is the
//       kernel's, which every peer pays. Runs until killed.
//
// Every loop is bounded in time. Single-threaded, level-triggered epoll.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

// ------------------------------------------------------------------ writer

static int writer(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: ws_load write RATE SECONDS [FILE|- [START_FILE]]\n");
    return 2;
  }
  double rate = atof(argv[2]);
  double secs = atof(argv[3]);
  int fd = 1;
  if (argc > 4 && strcmp(argv[4], "-") != 0) {
    fd = open(argv[4], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) die("open");
  }
  if (rate <= 0 || secs <= 0) return 2;
  if (argc > 5) {  // wait (at most 15 minutes) until START_FILE exists
    struct timespec pause = {0, 2000000};
    for (int i = 0; i < 450000 && access(argv[5], F_OK) != 0; i++) nanosleep(&pause, NULL);
  }
  int64_t period = (int64_t)(1e9 / rate);
  int64_t count = (int64_t)(rate * secs);
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (int64_t seq = 1; seq <= count; seq++) {
    char line[128];
    int64_t t = now_ns();
    int n = snprintf(line, sizeof line, "%lld %lld bench line: the quick brown fox jumps over the lazy dog\n",
                     (long long)seq, (long long)t);
    if (write(fd, line, n) != n) return 1;  // the reader went away
    next.tv_nsec += period;
    while (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      next.tv_sec++;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
  }
  return 0;
}

// ------------------------------------------------------------------ viewers

enum { C_NEW, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSED };
enum { M_JSON, M_MSG, M_COUNT, M_COUNT_RAW };

struct conn {
  int fd;
  uint8_t state;
  uint8_t hs_match;    // progress through "\r\n\r\n"
  uint8_t hs_checked;  // status line seen
  uint8_t hlen;        // frame header bytes so far
  uint8_t hdr[14];
  uint8_t in_payload;
  uint8_t opcode;      // of the current frame
  uint8_t msg_text;    // the current message is text
  uint8_t fin;
  // JSON scan: find "data":" then decode until the closing quote
  uint8_t match, in_data, esc, uskip, data_done;
  uint8_t linelen;
  uint8_t ctrllen;
  uint8_t got_end;     // saw a line stamped at or after the window's end
  uint64_t remaining;  // payload bytes left in the current frame
  char line[48];
  uint8_t ctrl[125];
  int64_t last_seq;
  int64_t bytes;       // log bytes (decoded data / raw payload)
  int64_t first_ns, last_ns;
  int64_t lines;
  int64_t win_lines;   // lines stamped within the window
};

static struct conn *conns;
static int nconns;
static int mode = M_JSON;
static int epfd;
static char req_buf[1024];
static int req_len;

// results
#define BUCKET_NS 10000LL             // 10 us
#define NBUCKETS (20 * 100000)        // up to 20 s
static uint32_t *hist;
static uint64_t hist_over, hist_n;
static int64_t hist_max;
static int64_t win_start = INT64_MAX, win_end = INT64_MAX;
static int64_t min_seq_win = INT64_MAX, max_seq_win = 0;
static int64_t gaps, repeats, bad_lines, lines_total;
static int64_t open_count, failed_count, closed_early, pings, frames, messages;
static int close_codes[8];
static int close_code_vals[8];
static int64_t in_window_received;

static void record(int64_t lat) {
  if (lat < 0) lat = 0;
  if (lat > hist_max) hist_max = lat;
  int64_t b = lat / BUCKET_NS;
  if (b >= NBUCKETS) hist_over++;
  else hist[b]++;
  hist_n++;
}

static double pct_ms(double p) {
  if (!hist_n) return -1;
  uint64_t rank = (uint64_t)(p / 100.0 * hist_n + 0.5);
  if (rank < 1) rank = 1;
  uint64_t acc = 0;
  for (int i = 0; i < NBUCKETS; i++) {
    acc += hist[i];
    if (acc >= rank) return (i + 0.5) * BUCKET_NS / 1e6;
  }
  return hist_max / 1e6;
}

static void process_line(struct conn *c, int64_t t) {
  c->line[c->linelen] = 0;
  char *end;
  long long seq = strtoll(c->line, &end, 10);
  long long ts = (*end == ' ') ? strtoll(end + 1, NULL, 10) : 0;
  c->linelen = 0;
  if (seq <= 0 || ts <= 0) {
    bad_lines++;
    return;
  }
  lines_total++;
  c->lines++;
  if (c->last_seq && seq != c->last_seq + 1) {
    if (seq <= c->last_seq) repeats++;
    else gaps++;
  }
  c->last_seq = seq;
  if (ts >= win_end) {
    c->got_end = 1;
    return;
  }
  if (ts >= win_start) {
    if (seq < min_seq_win) min_seq_win = seq;
    if (seq > max_seq_win) max_seq_win = seq;
    in_window_received++;
    c->win_lines++;
    record(t - ts);
  }
}

static void line_char(struct conn *c, char ch, int64_t t) {
  if (ch == '\n') {
    process_line(c, t);
    return;
  }
  if (c->linelen < sizeof c->line - 1) c->line[c->linelen++] = ch;
}

static const char kData[] = "\"data\":\"";

// One payload byte of a JSON text message.
static void json_byte(struct conn *c, uint8_t ch, int64_t t) {
  if (c->data_done) return;
  if (!c->in_data) {
    if (ch == (uint8_t)kData[c->match]) {
      if (++c->match == sizeof kData - 1) c->in_data = 1;
    } else {
      c->match = ch == '"';
    }
    return;
  }
  if (c->uskip) {
    c->uskip--;
    return;
  }
  if (c->esc) {
    c->esc = 0;
    char out = ch;
    if (ch == 'n') out = '\n';
    else if (ch == 't') out = '\t';
    else if (ch == 'r') out = '\r';
    else if (ch == 'u') {
      c->uskip = 4;
      out = '?';
    }
    c->bytes++;
    if (mode == M_JSON) line_char(c, out, t);
    return;
  }
  if (ch == '\\') {
    c->esc = 1;
    return;
  }
  if (ch == '"') {
    c->data_done = 1;
    return;
  }
  c->bytes++;
  if (mode == M_JSON) line_char(c, (char)ch, t);
}

// Payload bytes of a text message.
static void text_bytes(struct conn *c, const uint8_t *p, size_t n, int64_t t) {
  if (mode == M_COUNT_RAW) {
    c->bytes += n;
    return;
  }
  if (mode == M_MSG) {
    for (size_t i = 0; i < n; i++) line_char(c, (char)p[i], t);
    c->bytes += n;
    return;
  }
  size_t i = 0;
  while (i < n) {
    if (c->in_data && !c->esc && !c->uskip && !c->data_done) {
      // The run up to the next escape or the closing quote at once (a
      // browser's JSON parser does not go byte by byte either). A newline
      // is always escaped, so the run is inside one line.
      const uint8_t *bs = memchr(p + i, '\\', n - i);
      size_t run = bs ? (size_t)(bs - (p + i)) : n - i;
      const uint8_t *quote = memchr(p + i, '"', run);
      if (quote) run = (size_t)(quote - (p + i));
      if (mode == M_JSON) {
        size_t room = sizeof c->line - 1 - c->linelen;
        size_t k = run < room ? run : room;
        memcpy(c->line + c->linelen, p + i, k);
        c->linelen += k;
      }
      c->bytes += run;
      i += run;
      if (i == n) break;
    }
    json_byte(c, p[i++], t);
  }
}

static void message_start(struct conn *c) {
  c->match = c->in_data = c->esc = c->uskip = c->data_done = 0;
}

static void message_end(struct conn *c, int64_t t) {
  messages++;
  if (mode == M_MSG && c->msg_text) {
    process_line(c, t);  // websocketd strips the newline
    c->bytes++;
  }
}

static void conn_close(struct conn *c, int early) {
  if (c->state == C_CLOSED) return;
  if (c->state == C_OPEN) {
    open_count--;
    if (early) closed_early++;
  }
  if (c->fd >= 0) {
    struct linger lg = {1, 0};  // reset: no TIME_WAIT on the client's ports
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c->fd);
  }
  c->fd = -1;
  c->state = C_CLOSED;
}

static void send_frame(struct conn *c, int opcode, const uint8_t *p, size_t n) {
  uint8_t f[2 + 4 + 125];
  const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  if (n > 125) n = 125;
  f[0] = 0x80 | opcode;
  f[1] = 0x80 | (uint8_t)n;
  memcpy(f + 2, mask, 4);
  for (size_t i = 0; i < n; i++) f[6 + i] = p[i] ^ mask[i & 3];
  ssize_t w = send(c->fd, f, 6 + n, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)w;  // a full socket buffer drops the pong; the next ping gets one
}

static void note_close_code(int code) {
  for (int i = 0; i < 8; i++) {
    if (close_codes[i] && close_code_vals[i] == code) {
      close_codes[i]++;
      return;
    }
    if (!close_codes[i]) {
      close_code_vals[i] = code;
      close_codes[i] = 1;
      return;
    }
  }
}

// Frames from the server (unmasked).
static void frame_bytes(struct conn *c, const uint8_t *p, size_t n, int64_t t) {
  while (n > 0 && c->state == C_OPEN) {
    if (!c->in_payload) {
      c->hdr[c->hlen++] = *p++;
      n--;
      if (c->hlen < 2) continue;
      size_t need = 2;
      uint8_t len7 = c->hdr[1] & 0x7f;
      if (len7 == 126) need = 4;
      else if (len7 == 127) need = 10;
      if (c->hdr[1] & 0x80) need += 4;  // a masked server frame: not expected
      if (c->hlen < need) continue;
      uint64_t len = len7;
      if (len7 == 126) len = ((uint64_t)c->hdr[2] << 8) | c->hdr[3];
      else if (len7 == 127) {
        len = 0;
        for (int i = 2; i < 10; i++) len = (len << 8) | c->hdr[i];
      }
      c->fin = c->hdr[0] >> 7;
      c->opcode = c->hdr[0] & 0x0f;
      c->remaining = len;
      c->hlen = 0;
      c->in_payload = 1;
      c->ctrllen = 0;
      frames++;
      if (c->opcode == 1 || c->opcode == 2) {
        c->msg_text = c->opcode == 1;
        message_start(c);
      }
    }
    size_t take = n < c->remaining ? n : (size_t)c->remaining;
    if (c->opcode >= 8) {
      size_t room = sizeof c->ctrl - c->ctrllen;
      size_t k = take < room ? take : room;
      memcpy(c->ctrl + c->ctrllen, p, k);
      c->ctrllen += k;
    } else if (c->msg_text) {
      text_bytes(c, p, take, t);
    } else {
      c->bytes += take;
    }
    if (take) {
      if (!c->first_ns) c->first_ns = t;
      c->last_ns = t;
    }
    p += take;
    n -= take;
    c->remaining -= take;
    if (c->remaining) return;
    c->in_payload = 0;
    if (c->opcode == 9) {
      pings++;
      send_frame(c, 0xA, c->ctrl, c->ctrllen);
    } else if (c->opcode == 8) {
      int code = c->ctrllen >= 2 ? (c->ctrl[0] << 8) | c->ctrl[1] : 1005;
      note_close_code(code);
      send_frame(c, 0x8, c->ctrl, c->ctrllen >= 2 ? 2 : 0);
      conn_close(c, mode < M_COUNT);
      return;
    } else if (c->opcode < 8 && c->fin) {
      message_end(c, t);
    }
  }
}

static uint8_t rbuf[1 << 18];

static void on_readable(struct conn *c) {
  ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
  int64_t t = now_ns();
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    if (c->state == C_HANDSHAKE) {
      failed_count++;  // counted as failed, not as open
      close(c->fd);
      c->fd = -1;
      c->state = C_CLOSED;
      return;
    }
    conn_close(c, mode < M_COUNT);
    return;
  }
  if (n < 0) return;
  size_t off = 0;
  if (c->state == C_HANDSHAKE) {
    if (!c->hs_checked) {
      if (n < 12 || memcmp(rbuf, "HTTP/1.1 101", 12) != 0) {
        if (failed_count < 3) fprintf(stderr, "ws_load: handshake refused: %.*s\n", (int)(n < 200 ? n : 200), rbuf);
        failed_count++;
        close(c->fd);
        c->fd = -1;
        c->state = C_CLOSED;
        return;
      }
      c->hs_checked = 1;
    }
    static const char kEnd[] = "\r\n\r\n";
    while (off < (size_t)n && c->hs_match < 4) {
      c->hs_match = rbuf[off] == (uint8_t)kEnd[c->hs_match] ? c->hs_match + 1 : (rbuf[off] == '\r');
      off++;
    }
    if (c->hs_match < 4) return;
    c->state = C_OPEN;
    open_count++;
  }
  if (off < (size_t)n) frame_bytes(c, rbuf + off, n - off, t);
}

static struct sockaddr_in server_addr;
static int ports[64], nports;

static int start_connect(struct conn *c) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  c->state = C_CONNECTING;
  struct sockaddr_in to = server_addr;
  to.sin_port = htons(ports[(c - conns) % nports]);  // round robin over the ports
  int r = connect(fd, (struct sockaddr *)&to, sizeof to);
  if (r < 0 && errno != EINPROGRESS) {
    close(fd);
    c->fd = -1;
    c->state = C_CLOSED;
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)(c - conns)};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  return 0;
}

static void on_writable(struct conn *c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err || send(c->fd, req_buf, req_len, MSG_NOSIGNAL) != req_len) {
    if (failed_count < 3) fprintf(stderr, "ws_load: connect: %s\n", strerror(err ? err : errno));
    failed_count++;
    close(c->fd);
    c->fd = -1;
    c->state = C_CLOSED;
    return;
  }
  c->state = C_HANDSHAKE;
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - conns)};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static int poll_once(int timeout_ms) {
  struct epoll_event evs[512];
  int n = epoll_wait(epfd, evs, 512, timeout_ms);
  if (n < 0 && errno != EINTR) die("epoll_wait");
  for (int i = 0; i < n; i++) {
    struct conn *c = &conns[evs[i].data.u32];
    if (c->state == C_CLOSED) continue;
    if (c->state == C_CONNECTING) on_writable(c);
    else on_readable(c);
  }
  return n;
}

static int stdin_eof(void) {
  struct pollfd p = {.fd = 0, .events = POLLIN};
  if (poll(&p, 1, 0) <= 0) return 0;
  char b[256];
  ssize_t n = read(0, b, sizeof b);
  return n <= 0;
}

static double arg_d(int argc, char **argv, const char *name, double dflt) {
  for (int i = 0; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return atof(argv[i + 1]);
  return dflt;
}

static int viewers(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: ws_load view HOST PORT PATH N json|msg|count [options]\n");
    return 2;
  }
  const char *host = argv[2];
  for (char *tok = strtok(argv[3], ","); tok && nports < 64; tok = strtok(NULL, ","))
    ports[nports++] = atoi(tok);
  if (!nports) return 2;
  int port = ports[0];
  const char *path = argv[4];
  nconns = atoi(argv[5]);
  if (strcmp(argv[6], "json") == 0) mode = M_JSON;
  else if (strcmp(argv[6], "msg") == 0) mode = M_MSG;
  else if (strcmp(argv[6], "count") == 0) mode = M_COUNT;
  else if (strcmp(argv[6], "countraw") == 0) mode = M_COUNT_RAW;
  else return 2;
  double warmup = arg_d(argc, argv, "--warmup", 2);
  double measure = arg_d(argc, argv, "--measure", 10);
  double grace = arg_d(argc, argv, "--grace", 5);
  int inflight_max = (int)arg_d(argc, argv, "--inflight", 100);
  double connect_timeout = arg_d(argc, argv, "--connect-timeout", 180);
  double hold = arg_d(argc, argv, "--hold", 300);
  double timeout = arg_d(argc, argv, "--timeout", 300);
  if (nconns <= 0) return 2;

  memset(&server_addr, 0, sizeof server_addr);
  server_addr.sin_family = AF_INET;
  server_addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host, &server_addr.sin_addr) != 1) return 2;
  if ((ntohl(server_addr.sin_addr.s_addr) >> 24) != 127) {
    fprintf(stderr, "ws_load: loopback addresses only\n");
    return 2;
  }
  req_len = snprintf(req_buf, sizeof req_buf,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, host, port);
  conns = calloc(nconns, sizeof *conns);
  hist = calloc(NBUCKETS, sizeof *hist);
  if (!conns || !hist) die("calloc");
  for (int i = 0; i < nconns; i++) conns[i].fd = -1;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");

  // Connect, at most inflight_max handshakes at once.
  int64_t t0 = now_ns();
  int next = 0;
  int64_t deadline = t0 + (int64_t)(connect_timeout * 1e9);
  while (now_ns() < deadline) {
    int inflight = 0;
    // count handshakes in progress cheaply: started - open - failed - closed early
    inflight = next - (int)open_count - (int)failed_count - (int)closed_early;
    while (next < nconns && inflight < inflight_max) {
      if (start_connect(&conns[next]) < 0) failed_count++;
      next++;
      inflight++;
    }
    if (next >= nconns && inflight <= 0) break;
    poll_once(50);
  }
  int64_t t1 = now_ns();
  printf("CONNECTED %lld failed %lld seconds %.3f\n", (long long)open_count, (long long)failed_count,
         (t1 - t0) / 1e9);
  fflush(stdout);
  int64_t connected = open_count;

  if (mode == M_COUNT || mode == M_COUNT_RAW) {
    int64_t end = now_ns() + (int64_t)(timeout * 1e9);
    while (open_count > 0 && now_ns() < end) poll_once(100);
    int64_t bytes = 0, first = INT64_MAX, last = 0;
    for (int i = 0; i < nconns; i++) {
      bytes += conns[i].bytes;
      if (conns[i].first_ns && conns[i].first_ns < first) first = conns[i].first_ns;
      if (conns[i].last_ns > last) last = conns[i].last_ns;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"connected\":%lld,\"failed\":%lld,\"still_open\":%lld,\"bytes\":%lld,"
           "\"connect_start_ns\":%lld,\"first_byte_ns\":%lld,\"last_byte_ns\":%lld,\"frames\":%lld,"
           "\"messages\":%lld,\"client_cpu_s\":%.3f,\"close_code\":%d}\n",
           (long long)connected, (long long)failed_count, (long long)open_count, (long long)bytes,
           (long long)t0, (long long)(first == INT64_MAX ? 0 : first), (long long)last,
           (long long)frames, (long long)messages,
           ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
           close_codes[0] ? close_code_vals[0] : 0);
    fflush(stdout);
    return 0;
  }

  int64_t t = now_ns() + (int64_t)(warmup * 1e9);
  while (now_ns() < t) poll_once(20);
  win_start = now_ns();
  win_end = win_start + (int64_t)(measure * 1e9);
  printf("START %lld\n", (long long)win_start);
  fflush(stdout);
  while (now_ns() < win_end) poll_once(20);
  printf("END %lld\n", (long long)now_ns());
  fflush(stdout);
  // Grace: until every open viewer has a line stamped after the window.
  int64_t gend = now_ns() + (int64_t)(grace * 1e9);
  for (;;) {
    int waiting = 0;
    for (int i = 0; i < nconns; i++)
      if (conns[i].state == C_OPEN && !conns[i].got_end) waiting++;
    if (!waiting || now_ns() >= gend) break;
    poll_once(20);
  }
  int64_t missing = 0;
  int64_t per_conn = max_seq_win >= min_seq_win ? max_seq_win - min_seq_win + 1 : 0;
  int64_t expected = per_conn * connected;
  if (expected > in_window_received) missing = expected - in_window_received;
  // Lines never received count as slower than the grace period.
  hist_over += missing;
  hist_n += missing;
  int64_t min_lines = INT64_MAX, max_lines = 0, starved = 0, short_viewers = 0;
  for (int i = 0; i < nconns; i++) {
    if (conns[i].state == C_OPEN && conns[i].win_lines == 0) {
      if (starved < 5)
        fprintf(stderr, "ws_load: viewer %d (port %d) got no line of the window: %lld log bytes, "
                "%lld lines in all, last seq %lld\n", i, ports[i % nports], (long long)conns[i].bytes,
                (long long)conns[i].lines, (long long)conns[i].last_seq);
      starved++;
    }
    if (conns[i].state == C_OPEN && conns[i].win_lines < per_conn) short_viewers++;
    if (conns[i].state == C_CLOSED && !conns[i].lines) continue;
    if (conns[i].lines < min_lines) min_lines = conns[i].lines;
    if (conns[i].lines > max_lines) max_lines = conns[i].lines;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"connected\":%lld,\"failed\":%lld,\"open_at_end\":%lld,\"closed_early\":%lld,"
         "\"connect_seconds\":%.3f,\"lines_per_viewer_in_window\":%lld,\"expected\":%lld,"
         "\"received\":%lld,\"missing\":%lld,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
         "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"gaps\":%lld,\"repeats\":%lld,\"bad_lines\":%lld,"
         "\"lines_total\":%lld,\"frames\":%lld,\"messages\":%lld,\"pings\":%lld,"
         "\"min_lines_per_viewer\":%lld,\"max_lines_per_viewer\":%lld,\"client_cpu_s\":%.3f,"
         "\"client_maxrss_kib\":%ld,\"viewers_without_lines\":%lld,"
         "\"viewers_missing_lines\":%lld,\"close_codes\":{",
         (long long)connected, (long long)failed_count, (long long)open_count, (long long)closed_early,
         (t1 - t0) / 1e9, (long long)per_conn, (long long)expected, (long long)in_window_received,
         (long long)missing, pct_ms(50), pct_ms(90), pct_ms(99), pct_ms(99.9), hist_max / 1e6,
         (long long)gaps, (long long)repeats, (long long)bad_lines, (long long)lines_total,
         (long long)frames, (long long)messages, (long long)pings,
         (long long)(min_lines == INT64_MAX ? 0 : min_lines), (long long)max_lines,
         ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
         ru.ru_maxrss, (long long)starved, (long long)short_viewers);
  for (int i = 0; i < 8 && close_codes[i]; i++)
    printf("%s\"%d\":%d", i ? "," : "", close_code_vals[i], close_codes[i]);
  printf("}}\n");
  fflush(stdout);
  // Hold the connections (answering pings) until told to go.
  int64_t hend = now_ns() + (int64_t)(hold * 1e9);
  while (now_ns() < hend && !stdin_eof()) poll_once(50);
  for (int i = 0; i < nconns; i++) conn_close(&conns[i], 0);
  return 0;
}

// ------------------------------------------------------------------ fanout

struct fan_conn {
  int fd;
  int open;       // upgraded: gets the frames
  int hs_match;   // progress through "\r\n\r\n" of the request
};

static void json_escape(const char *p, size_t n, char **out, size_t *len, size_t *cap) {
  for (size_t i = 0; i < n; i++) {
    if (*len + 8 > *cap) {
      *cap = *cap * 2 + 64;
      *out = realloc(*out, *cap);
      if (!*out) die("realloc");
    }
    unsigned char c = (unsigned char)p[i];
    char *o = *out + *len;
    if (c == '"' || c == '\\') {
      o[0] = '\\';
      o[1] = (char)c;
      *len += 2;
    } else if (c == '\n') {
      o[0] = '\\';
      o[1] = 'n';
      *len += 2;
    } else if (c < 0x20) {
      *len += (size_t)snprintf(o, 8, "\\u%04x", c);
    } else {
      o[0] = (char)c;
      *len += 1;
    }
  }
}

static int fanout(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: ws_load fanout PORT FILE\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) die("listen");
  int file = open(argv[3], O_RDONLY | O_CLOEXEC);
  if (file < 0) die("open");
  int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (ino < 0 || inotify_add_watch(ino, argv[3], IN_MODIFY) < 0) die("inotify");
  epfd = epoll_create1(EPOLL_CLOEXEC);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  int max = (int)(rl.rlim_cur > 1000000 ? 1000000 : rl.rlim_cur);
  struct fan_conn *fc = calloc((size_t)max, sizeof *fc);  // indexed by descriptor
  int *open_fds = calloc((size_t)max, sizeof *open_fds);
  int nopen = 0;
  if (!fc || !open_fds) die("calloc");
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.fd = ino;
  epoll_ctl(epfd, EPOLL_CTL_ADD, ino, &ev);
  off_t offset = lseek(file, 0, SEEK_END);  // viewers see what is written from now on
  static char data[1 << 16];
  char *json = NULL, *frame = NULL;
  size_t json_cap = 0, frame_cap = 0;
  long long full_closed = 0;
  static const char kResponse[] =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: not-checked-by-ws_load\r\n\r\n";
  for (;;) {
    struct epoll_event evs[512];
    int n = epoll_wait(epfd, evs, 512, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          if (c >= max) {
            close(c);
            continue;
          }
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          fc[c] = (struct fan_conn){.fd = c};
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(epfd, EPOLL_CTL_ADD, c, &cev);
        }
      } else if (fd == ino) {
        char buf[4096];
        while (read(ino, buf, sizeof buf) > 0) {
        }
        for (;;) {
          ssize_t got = pread(file, data, sizeof data, offset);
          if (got <= 0) break;
          size_t jlen = 0;
          char head[64];
          int hl = snprintf(head, sizeof head, "{\"type\":\"log\",\"offset\":%lld,\"data\":\"",
                            (long long)offset);
          if (json_cap < (size_t)hl + 8) {
            json_cap = (size_t)hl + 4096;
            json = realloc(json, json_cap);
          }
          memcpy(json, head, (size_t)hl);
          jlen = (size_t)hl;
          json_escape(data, (size_t)got, &json, &jlen, &json_cap);
          // (json_escape leaves at least 8 bytes free: room for the end.)
          json[jlen++] = '"';
          json[jlen++] = '}';
          offset += got;
          if (frame_cap < jlen + 10) {
            frame_cap = jlen + 10;
            frame = realloc(frame, frame_cap);
          }
          size_t flen = 0;
          frame[flen++] = (char)0x81;
          if (jlen < 126) {
            frame[flen++] = (char)jlen;
          } else if (jlen < 65536) {
            frame[flen++] = 126;
            frame[flen++] = (char)(jlen >> 8);
            frame[flen++] = (char)jlen;
          } else {
            frame[flen++] = 127;
            for (int k = 7; k >= 0; k--) frame[flen++] = (char)((uint64_t)jlen >> (8 * k));
          }
          memcpy(frame + flen, json, jlen);
          flen += jlen;
          for (int k = 0; k < nopen;) {
            int c = open_fds[k];
            ssize_t sent = send(c, frame, flen, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (sent == (ssize_t)flen) {
              k++;
              continue;
            }
            full_closed++;  // full (or gone): this floor keeps no backlog
            close(c);
            fc[c].open = 0;
            open_fds[k] = open_fds[--nopen];
          }
        }
      } else {
        struct fan_conn *c = &fc[fd];
        char buf[4096];
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
          if (c->open) {
            for (int k = 0; k < nopen; k++) {
              if (open_fds[k] == fd) {
                open_fds[k] = open_fds[--nopen];
                break;
              }
            }
          }
          c->open = 0;
          close(fd);
          continue;
        }
        for (ssize_t k = 0; k < got && !c->open; k++) {
          c->hs_match = buf[k] == "\r\n\r\n"[c->hs_match] ? c->hs_match + 1 : (buf[k] == '\r');
          if (c->hs_match == 4) {
            if (send(fd, kResponse, sizeof kResponse - 1, MSG_NOSIGNAL) == sizeof kResponse - 1) {
              c->open = 1;
              open_fds[nopen++] = fd;
            }
          }
        }
        // (After the upgrade: pongs and a close; nothing to answer.)
      }
    }
    if (full_closed && full_closed % 1000 == 1) {
      fprintf(stderr, "ws_load fanout: %lld viewers closed with a full socket\n", full_closed);
    }
  }
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "write") == 0) return writer(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "view") == 0) return viewers(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "fanout") == 0) return fanout(argc, argv);
  fprintf(stderr, "usage: ws_load write RATE SECONDS [FILE] | ws_load view HOST PORT PATH N MODE [options] | ws_load fanout PORT FILE\n");
  return 2;
}
