// Sends outbound requests (notify/outbound.h) in the background: the seam
// between the outbox (server/outbox.h) and the network.
//
// CurlSender is the real one: one thread of its own running libcurl's multi
// interface, so any number of requests are in flight at once and none of
// them ever blocks the event loop, a run or another request. HTTP(S) and
// SMTP(S) only; TLS certificates and host names are always verified (the
// system's trust store); proxies come from the environment (http_proxy,
// https_proxy, no_proxy), as in curl; every request has its timeout;
// redirects are not followed (a receiver that moved says so, and the
// message fails with that answer). Tests use a fake (tests/unit/outbox_test.cc).
//
// Threads: Send and Stop may be called from any one thread. DONE is called
// on the sender's thread, once per request, unless Stop came first.
#pragma once

#include <functional>
#include <memory>

#include "notify/outbound.h"

namespace jenky {

class Sender {
 public:
  using Done = std::function<void(OutboundResult)>;
  virtual ~Sender() = default;
  virtual void Send(OutboundRequest request, Done done) = 0;
  // Abandons what is in flight (DONE is not called for it) and stops.
  virtual void Stop() = 0;
};

// libcurl (Debian's libcurl4-openssl-dev); only notify/curl_sender.cc sees curl.
std::unique_ptr<Sender> MakeCurlSender();

}  // namespace jenky
