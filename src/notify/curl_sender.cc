// CurlSender (notify/sender.h): libcurl's multi interface on a thread of its
// own. The only file that includes curl.
#include <curl/curl.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "notify/sender.h"
#include "util/duration.h"

namespace jenky {
namespace {

constexpr size_t kKeptAnswer = 1024;  // of a response body, for the error shown

struct Transfer {
  OutboundRequest req;
  Sender::Done done;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* rcpt = nullptr;
  std::string answer;
  size_t sent = 0;  // SMTP: bytes of the message read by curl
  int64_t retry_after_ms = -1;
  char error[CURL_ERROR_SIZE] = {};

  ~Transfer() {
    curl_slist_free_all(headers);
    curl_slist_free_all(rcpt);
    if (easy) curl_easy_cleanup(easy);
  }
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t bytes = size * n;
  if (t->answer.size() < kKeptAnswer) {
    t->answer.append(data, std::min(bytes, kKeptAnswer - t->answer.size()));
  }
  return bytes;
}

// Retry-After: seconds, or an HTTP date.
size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t bytes = size * n;
  std::string line(data, bytes);
  if (line.size() > 12 && strncasecmp(line.c_str(), "retry-after:", 12) == 0) {
    std::string value = line.substr(12);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t\r\n") + 1);
    if (!value.empty() && value.find_first_not_of("0123456789") == std::string::npos) {
      t->retry_after_ms = std::min<int64_t>(std::stoll(value.substr(0, 9)), 86400) * 1000;
    } else if (time_t when = curl_getdate(value.c_str(), nullptr); when > 0) {
      t->retry_after_ms = std::max<int64_t>(0, (when - time(nullptr)) * 1000);
    }
  }
  return bytes;
}

size_t OnRead(char* buffer, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = std::min(size * n, t->req.body.size() - t->sent);
  memcpy(buffer, t->req.body.data() + t->sent, len);
  t->sent += len;
  return len;
}

class CurlSender final : public Sender {
 public:
  CurlSender() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi_ = curl_multi_init();
    thread_ = std::thread([this] { Loop(); });
  }
  ~CurlSender() override {
    Stop();
    curl_multi_cleanup(multi_);
  }

  void Send(OutboundRequest request, Done done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      auto t = std::make_unique<Transfer>();
      t->req = std::move(request);
      t->done = std::move(done);
      incoming_.push_back(std::move(t));
    }
    curl_multi_wakeup(multi_);
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    curl_multi_wakeup(multi_);
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    for (;;) {
      std::vector<std::unique_ptr<Transfer>> fresh;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) break;
        fresh.swap(incoming_);
      }
      for (auto& t : fresh) Start(std::move(t));
      int running = 0;
      curl_multi_perform(multi_, &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
        if (msg->msg == CURLMSG_DONE) Finish(msg->easy_handle, msg->data.result);
      }
      curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    for (auto& [easy, t] : active_) curl_multi_remove_handle(multi_, easy);
    active_.clear();
  }

  void Start(std::unique_ptr<Transfer> t) {
    CURL* e = curl_easy_init();
    if (!e) {
      OutboundResult r;
      r.error = "curl_easy_init failed";
      t->done(std::move(r));
      return;
    }
    t->easy = e;
    const OutboundRequest& q = t->req;
    curl_easy_setopt(e, CURLOPT_URL, q.url.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(q.timeout.count()));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min<int64_t>(q.timeout.count(), 10000)));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!q.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, q.ca_file.c_str());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    if (q.url.rfind("smtp", 0) == 0) {
      curl_easy_setopt(e, CURLOPT_MAIL_FROM, ("<" + q.mail_from + ">").c_str());
      for (const std::string& to : q.mail_rcpt) {
        t->rcpt = curl_slist_append(t->rcpt, ("<" + to + ">").c_str());
      }
      curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t->rcpt);
      curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(e, CURLOPT_READFUNCTION, OnRead);
      curl_easy_setopt(e, CURLOPT_READDATA, t.get());
      curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(q.body.size()));
      if (q.url.rfind("smtp://", 0) == 0) {
        curl_easy_setopt(e, CURLOPT_USE_SSL, q.require_tls ? CURLUSESSL_ALL : CURLUSESSL_NONE);
      }
      if (!q.username.empty()) {
        curl_easy_setopt(e, CURLOPT_USERNAME, q.username.c_str());
        curl_easy_setopt(e, CURLOPT_PASSWORD, q.password.c_str());
      }
    } else {
      for (const std::string& h : q.headers) t->headers = curl_slist_append(t->headers, h.c_str());
      // No "Expect: 100-continue": a receiver that does not answer it would
      // cost a second per message.
      t->headers = curl_slist_append(t->headers, "Expect:");
      curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, q.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(q.body.size()));
      curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, OnHeader);
      curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    }
    curl_multi_add_handle(multi_, e);
    active_[e] = std::move(t);
  }

  void Finish(CURL* easy, CURLcode rc) {
    auto it = active_.find(easy);
    if (it == active_.end()) return;
    std::unique_ptr<Transfer> t = std::move(it->second);
    active_.erase(it);
    curl_multi_remove_handle(multi_, easy);
    OutboundResult r;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    bool smtp = t->req.url.rfind("smtp", 0) == 0;
    if (rc == CURLE_OK) {
      r.http_status = static_cast<int>(code);
    } else {
      if (smtp && code >= 400) r.http_status = static_cast<int>(code);
      r.error = t->error[0] ? t->error : curl_easy_strerror(rc);
      if (rc == CURLE_OPERATION_TIMEDOUT) {
        r.error = "no answer within " + FormatDuration(t->req.timeout) + " (timeout)";
      }
    }
    r.body = std::move(t->answer);
    r.retry_after_ms = t->retry_after_ms;
    t->done(std::move(r));
  }

  CURLM* multi_ = nullptr;
  std::thread thread_;
  std::mutex mu_;
  bool stopping_ = false;                              // guarded by mu_
  std::vector<std::unique_ptr<Transfer>> incoming_;    // guarded by mu_
  std::map<CURL*, std::unique_ptr<Transfer>> active_;  // the sender's thread only
};

}  // namespace

std::unique_ptr<Sender> MakeCurlSender() { return std::make_unique<CurlSender>(); }

}  // namespace jenky
