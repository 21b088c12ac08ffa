// TLS with OpenSSL, without any I/O: a TlsContext is a loaded, validated
// certificate and key (or, for the CLI, a set of trusted CAs); a TlsConn is
// one connection's TLS state over two memory buffers. The caller moves bytes:
// ciphertext read from the socket goes in with Feed, plaintext comes out of
// Read; plaintext goes in with Write and the ciphertext to send comes out of
// TakeOutput. Nothing here touches a descriptor, so the same TlsConn serves
// the Asio-driven HTTP session (http/http_stream.h) and the WebSocket hub's
// non-blocking send() path (http/log_hub.cc) after the upgrade.
//
// Because output goes to memory, Write always takes every byte: there are no
// partial SSL writes to retry, and backpressure is the caller's plain
// "ciphertext not yet sent" buffer, retried with the same bytes.
//
// Policy (server and client): TLS 1.2 or newer, no compression, no
// renegotiation, OpenSSL's default cipher list with the server's preference,
// per-connection buffers released while idle (many mostly idle viewers).
//
// Thread safety: a TlsContext is immutable once loaded and may be shared by
// any number of connections on any threads (a reload builds a new one; live
// connections keep theirs). A TlsConn is used by one thread at a time.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "util/status.h"

struct ssl_ctx_st;
struct ssl_st;

namespace jenky {

class TlsConn;

class TlsContext {
 public:
  // Server side: CERT is a PEM file with the certificate and optionally its
  // chain after it (certbot's fullchain.pem); KEY is its PEM private key, not
  // encrypted. Checks that both are readable and parse and that the key
  // belongs to the certificate. An error's kind() is StatusCode::kTlsCert
  // or kTlsKey: the file to blame. Problems that do not stop serving (an
  // expired certificate, a key other users can read) are in warnings().
  static Result<std::shared_ptr<const TlsContext>> Server(const std::string& cert,
                                                          const std::string& key);
  // Client side: verifies servers against CA_FILE (PEM, one or more
  // certificates), or against the system's trust store when it is empty.
  static Result<std::shared_ptr<const TlsContext>> Client(const std::string& ca_file);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A new connection. HOST (client only) is the name or IP address the
  // server's certificate must be valid for; it is also sent as SNI.
  std::unique_ptr<TlsConn> NewConn(const std::string& host = "") const;

  // "CN=deploy.example.com, expires 2025-09-01" for the log.
  const std::string& summary() const { return summary_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  bool server() const { return server_; }

 private:
  TlsContext(ssl_ctx_st* ctx, bool server) : ctx_(ctx), server_(server) {}

  ssl_ctx_st* ctx_;
  bool server_;
  std::string summary_;
  std::vector<std::string> warnings_;
};

enum class TlsState {
  kOk,        // done (handshake) / some plaintext (read)
  kWantRead,  // needs more ciphertext from the peer: Feed, then call again
  kClosed,    // the peer sent close_notify
  kError,     // a protocol or verification failure: see error()
};

class TlsConn {
 public:
  ~TlsConn();
  TlsConn(const TlsConn&) = delete;
  TlsConn& operator=(const TlsConn&) = delete;

  // Ciphertext from the peer.
  void Feed(const char* data, size_t size);
  // Advances the handshake; output it produced is in TakeOutput.
  TlsState Handshake();
  bool handshake_done() const;
  // Up to SIZE bytes of plaintext into OUT; returns how many (0 unless kOk).
  size_t Read(char* out, size_t size, TlsState* state);
  // kOk if plaintext is waiting, kWantRead if not, kClosed/kError; consumes nothing.
  TlsState Peek();
  // Encrypts all of DATA (memory output never blocks).
  void Write(const char* data, size_t size);
  // Queues close_notify.
  void Shutdown();
  bool has_output() const;
  // Appends the ciphertext to send to OUT and forgets it.
  void TakeOutput(std::string& out);
  // What went wrong, for the log or the user ("certificate verify failed:
  // self-signed certificate", "wrong version number").
  const std::string& error() const { return error_; }

 private:
  friend class TlsContext;
  explicit TlsConn(ssl_st* ssl);
  TlsState Fail(int ret);

  ssl_st* ssl_;
  std::string error_;
};

// A warning when KEY_PATH can be read by every user on the machine, else "".
std::string KeyPermissionWarning(const std::string& key_path);

}  // namespace jenky
