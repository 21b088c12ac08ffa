// Errors are values. A Status is ok or carries a message that already names
// what failed (the file, the run, the key) and, where there is one, the fix.
// Result<T> is a T or a Status. Nothing here throws.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace jenky {

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  // CODE is a machine-readable kind for the API ("not_found", "conflict", ...);
  // most errors are internal and need none.
  static Status Error(std::string message, std::string code = "internal") {
    return Status(std::move(message), std::move(code));
  }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }
  const std::string& code() const { return code_; }

 private:
  Status(std::string message, std::string code)
      : failed_(true), message_(std::move(message)), code_(std::move(code)) {}
  bool failed_ = false;
  std::string message_;
  std::string code_;
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
