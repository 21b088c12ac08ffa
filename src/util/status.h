// Errors are values. A Status is ok or carries a message that already names
// what failed (the file, the run, the key) and, where there is one, the fix.
// Result<T> is a T or a Status. Nothing here throws.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace jenky {

// What kind of failure a Status is, for whoever must act on it (the API maps
// it to an HTTP status; the config loader blames the right file). Most
// errors are internal and need no other kind. The names are the API's error
// codes on the wire (SPEC.md "Errors"), converted here and nowhere else.
enum class StatusCode {
  kInternal,      // "internal"
  kNotFound,      // "not_found": no such project or run
  kConflict,      // "conflict": the run's state does not allow it
  kQueueFull,     // "queue_full": the project's queue holds max_queued triggers
  kTlsCert,       // "tls_cert": the TLS certificate file is to blame
  kTlsKey,        // "tls_key": the TLS key file is to blame
  kDisconnected,  // "disconnected": the server went away mid-answer (client)
  // "supervisor_lost": a warm-started script runs and the supervisor that was
  // to watch it died before it was handed the run (server/launcher.h)
  kSupervisorLost,
  kPaused,  // "paused": the project is paused; nothing deploys
};
const std::string& StatusCodeName(StatusCode code);
// nullopt for a name that is no StatusCode's.
std::optional<StatusCode> ParseStatusCode(std::string_view name);

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message, StatusCode code = StatusCode::kInternal) {
    return Status(std::move(message), code);
  }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }
  StatusCode kind() const { return code_; }
  // kind()'s name, as the API sends it; "" when ok.
  const std::string& code() const {
    static const std::string none;
    return failed_ ? StatusCodeName(code_) : none;
  }

 private:
  Status(std::string message, StatusCode code)
      : failed_(true), message_(std::move(message)), code_(code) {}
  bool failed_ = false;
  std::string message_;
  StatusCode code_ = StatusCode::kInternal;
};

// "open /x/y: No such file or directory", from errno.
Status PosixError(const std::string& context, int err);

template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }

  bool ok() const { return v_.index() == 0; }
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace jenky
