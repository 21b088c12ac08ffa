// A small blocking HTTP/1.1 client for the CLI (deploy, runs, logs, cancel).
// http:// or https://; with https the server's certificate is always verified
// (against a CA file the user names, else the system's trust store) and its
// name checked; there is no "insecure" mode. Errors name the server and what
// to check.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "util/status.h"

namespace jenky {

class ClientStream;
class TlsContext;

struct ClientResponse {
  int status = 0;
  std::string body;
  std::string content_type;
};

class Client {
 public:
  // URL like "http://127.0.0.1:8080" or "https://deploy.example.com"; TOKEN
  // may be empty. CACERT: PEM file of the CA(s) to trust for https, "" for
  // the system's.
  static Result<Client> Create(const std::string& url, std::string token,
                               const std::string& cacert = "");
  Client();
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  Result<ClientResponse> Get(const std::string& target);
  Result<ClientResponse> Post(const std::string& target, const std::string& json_body);

  // GET TARGET and pass the body to ON_DATA as it arrives (chunked or not).
  // Returns the HTTP status; the body of a non-2xx answer goes to ERROR_BODY.
  Result<int> Stream(const std::string& target,
                     const std::function<void(std::string_view)>& on_data, std::string* error_body);

  const std::string& url() const { return url_; }

 private:
  Result<ClientResponse> Request(const std::string& method, const std::string& target,
                                 const std::string& body);
  // Resolves and connects STREAM to the server (Beast types stay out of this header).
  template <typename Stream>
  Status Connect(Stream& stream) const;
  std::string url_, host_, port_, prefix_, token_, cacert_;
  std::shared_ptr<const TlsContext> tls_;  // null for http://
};

// The API's {"error": {"message": ...}}, or the body itself.
std::string ErrorMessage(const ClientResponse& r);

}  // namespace jenky
