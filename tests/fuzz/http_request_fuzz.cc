// libFuzzer target: the HTTP request path, from client bytes to a response.
//
// The input is what a client sends on a connection: one or more pipelined
// HTTP/1.1 requests. Each is parsed by Beast's request parser with the
// server's limits (as HttpServer::Session does), then goes through jenky's own
// handling of client bytes: Exchange (percent-decoding of the path, query
// parsing, header lookup) and the API's route dispatch, authentication,
// handlers and their JSON parsing (Api::Handle), on a real Engine and SQLite
// store in a temporary directory.
//
// No socket: the Exchange's stream is a TCP stream that was never opened, so
// every response write fails at once (as for a client that went away), which
// the handlers must survive; a WebSocket upgrade reaches the log hub's checks
// and Accept with that closed socket and the bytes after the request. The configuration has one
// token and one project whose runs fail to start (its script_file does not exist), so triggers go
// through the scheduler and store without spawning processes.
#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "http/api.h"
#include "http/http_stream.h"
#include "http/log_hub.h"
#include "http/server.h"
#include "server/engine.h"
#include "store/store.h"
#include "util/hash.h"

namespace jenky {
namespace {

// Clients of the corpus send "Authorization: Bearer fuzz-token".
constexpr const char* kToken = "fuzz-token";
// Pipelined requests per input; more only repeats the same code.
constexpr int kMaxRequests = 8;

struct World {
  net::io_context io;
  std::string dir;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<LogHub> hub;
  std::unique_ptr<Api> api;
  HttpLimits limits;
  // An Internet client, not loopback.
  net::ip::address remote = net::ip::make_address("203.0.113.7");

  World() {
    char tmpl[] = "/tmp/jenky-fuzz-http-XXXXXX";
    if (!mkdtemp(tmpl)) abort();
    dir = tmpl;
    Config c;
    c.server.data_dir = dir;
    c.server.allowed_origins = {"https://deploy.example.com"};
    // Failed sign-ins would otherwise lock the fuzzer out of every route.
    c.server.max_auth_failures = 1 << 30;
    c.tokens.push_back({"fuzz", Sha256Hex(kToken), "", kAllScopes});
    ProjectConfig p;
    p.name = "p";
    p.script_file = dir + "/missing.sh";
    p.workdir = dir;
    p.concurrency = Concurrency::kQueue;
    p.keep_runs = 5;
    WebhookConfig hook;
    hook.provider = "generic";
    hook.secret = "fuzz-secret";
    p.webhook = hook;
    c.projects.push_back(p);
    auto store = Store::Open(dir + "/jenky.db");
    if (!store.ok()) abort();
    engine = std::make_unique<Engine>(io, c, std::move(store).value(), "/nonexistent/jenky");
    api = std::make_unique<Api>(*engine, "");
    hub = std::make_unique<LogHub>(io, *engine);
    api->set_log_hub(hub.get());
  }
  ~World() {
    hub->Shutdown();
    api.reset();
    hub.reset();
    engine.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

World& TheWorld() {
  static World* w = [] {
    auto* w = new World;
    std::atexit([] { delete &TheWorld(); });
    return w;
  }();
  return *w;
}

// Parses one request from the front of DATA as HttpServer::Session does;
// returns the bytes it used, 0 if no complete request could be read.
size_t ParseOne(std::string_view data, const HttpLimits& limits, Request& out) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<uint32_t>(limits.header_bytes));
  parser.body_limit(limits.body_bytes);
  parser.eager(true);
  size_t used = 0;
  beast::error_code ec;
  while (!parser.is_done() && used < data.size()) {
    size_t n = parser.put(net::buffer(data.data() + used, data.size() - used), ec);
    if (ec == http::error::need_more) break;
    if (ec) return 0;
    if (n == 0) break;
    used += n;
  }
  if (!parser.is_done()) {
    // The client closed the connection: a body that ends with the stream.
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;
  }
  out = parser.release();
  return used;
}

}  // namespace
}  // namespace jenky

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace jenky;
  World& w = TheWorld();
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (int i = 0; i < kMaxRequests && !rest.empty(); ++i) {
    Request req;
    size_t used = ParseOne(rest, w.limits, req);
    if (used == 0) break;
    rest.remove_prefix(used);

    // A connection of its own for each request: a WebSocket upgrade takes
    // the stream away. Its read buffer holds what the client sent after the
    // request (a WebSocket client's first frames), as the server's would.
    HttpStream stream{tcp::socket(w.io)};
    beast::flat_buffer buffer;
    buffer.commit(
        net::buffer_copy(buffer.prepare(rest.size()), net::buffer(rest.data(), rest.size())));
    Exchange ex(req, stream, w.limits, &buffer, &w.remote);
    // The accessors handlers use, over whatever the client sent.
    (void)ex.Header("Authorization");
    (void)ex.Header("Cookie");
    for (const auto& [k, v] : ex.query()) (void)ex.Query(k);
    // Until the handler is done, not until the loop is empty: the engine
    // keeps waits of its own (file watches, timers) on the same loop.
    bool done = false;
    net::co_spawn(w.io, w.api->Handle(ex), [&](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);  // HttpServer would answer 500: a bug
      done = true;
    });
    w.io.restart();
    while (!done) w.io.run_one();
  }
  return 0;
}
