// CurlSender (notify/sender.h): libcurl's multi interface on a thread of its
// own. The only file that includes curl.
//
// libcurl is loaded with dlopen when the first message is sent, not linked:
// it brings some thirty shared libraries (GnuTLS, Kerberos, LDAP, ...) that
// would double the RSS of every jenky process, a run's supervisor too, and
// the time of each exec. A server that never notifies never loads it.
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>

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

constexpr size_t kKeptAnswer = 1024;              // of a response body, for the error shown
constexpr const char* kLibCurl = "libcurl.so.4";  // Debian's libcurl4

// The libcurl functions jenky calls, from the library dlopen found.
struct CurlApi {
  decltype(&curl_global_init) global_init;
  decltype(&curl_easy_init) easy_init;
  decltype(&curl_easy_setopt) easy_setopt;
  decltype(&curl_easy_getinfo) easy_getinfo;
  decltype(&curl_easy_cleanup) easy_cleanup;
  decltype(&curl_easy_strerror) easy_strerror;
  decltype(&curl_getdate) getdate;
  decltype(&curl_slist_append) slist_append;
  decltype(&curl_slist_free_all) slist_free_all;
  decltype(&curl_multi_init) multi_init;
  decltype(&curl_multi_add_handle) multi_add_handle;
  decltype(&curl_multi_remove_handle) multi_remove_handle;
  decltype(&curl_multi_perform) multi_perform;
  decltype(&curl_multi_poll) multi_poll;
  decltype(&curl_multi_wakeup) multi_wakeup;
  decltype(&curl_multi_info_read) multi_info_read;
  decltype(&curl_multi_cleanup) multi_cleanup;
};

template <typename T>
bool Resolve(void* lib, const char* name, T& fn, std::string& error) {
  fn = reinterpret_cast<T>(dlsym(lib, name));
  if (!fn && error.empty()) error = fmt::format("{} has no {}", kLibCurl, name);
  return fn != nullptr;
}

// Filled by LoadCurl, once; read only after it succeeded.
CurlApi api;

// Loads libcurl once per process (and keeps it); ERROR says why it could not.
const CurlApi* LoadCurl(std::string& error) {
  static std::string failed;
  static const bool loaded = [] {
    void* lib = dlopen(kLibCurl, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* why = dlerror();
      failed =
          fmt::format("cannot load {} for notifications ({}); install it: apt-get install libcurl4",
                      kLibCurl, why ? why : "not found");
      return false;
    }
    bool ok = Resolve(lib, "curl_global_init", api.global_init, failed) &
              Resolve(lib, "curl_easy_init", api.easy_init, failed) &
              Resolve(lib, "curl_easy_setopt", api.easy_setopt, failed) &
              Resolve(lib, "curl_easy_getinfo", api.easy_getinfo, failed) &
              Resolve(lib, "curl_easy_cleanup", api.easy_cleanup, failed) &
              Resolve(lib, "curl_easy_strerror", api.easy_strerror, failed) &
              Resolve(lib, "curl_getdate", api.getdate, failed) &
              Resolve(lib, "curl_slist_append", api.slist_append, failed) &
              Resolve(lib, "curl_slist_free_all", api.slist_free_all, failed) &
              Resolve(lib, "curl_multi_init", api.multi_init, failed) &
              Resolve(lib, "curl_multi_add_handle", api.multi_add_handle, failed) &
              Resolve(lib, "curl_multi_remove_handle", api.multi_remove_handle, failed) &
              Resolve(lib, "curl_multi_perform", api.multi_perform, failed) &
              Resolve(lib, "curl_multi_poll", api.multi_poll, failed) &
              Resolve(lib, "curl_multi_wakeup", api.multi_wakeup, failed) &
              Resolve(lib, "curl_multi_info_read", api.multi_info_read, failed) &
              Resolve(lib, "curl_multi_cleanup", api.multi_cleanup, failed);
    if (ok && api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      failed = "curl_global_init failed";
      ok = false;
    }
    return ok;
  }();
  if (!loaded) error = failed;
  return loaded ? &api : nullptr;
}

// The loaded library: called only once LoadCurl has succeeded.
const CurlApi& Curl() { return api; }

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
    Curl().slist_free_all(headers);
    Curl().slist_free_all(rcpt);
    if (easy) Curl().easy_cleanup(easy);
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
    } else if (time_t when = Curl().getdate(value.c_str(), nullptr); when > 0) {
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
  CurlSender() = default;
  ~CurlSender() override {
    Stop();
    if (multi_) Curl().multi_cleanup(multi_);
  }

  void Send(OutboundRequest request, Done done) override {
    OutboundResult refused;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      if (Started()) {
        auto t = std::make_unique<Transfer>();
        t->req = std::move(request);
        t->done = std::move(done);
        incoming_.push_back(std::move(t));
      } else {
        refused.error = load_error_;
      }
    }
    if (!refused.error.empty()) return done(std::move(refused));  // outside the lock
    Curl().multi_wakeup(multi_);
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      if (!multi_) return;  // never started
    }
    Curl().multi_wakeup(multi_);
    if (thread_.joinable()) thread_.join();
  }

 private:
  // Loads libcurl and starts the thread at the first message; false (with
  // load_error_) when libcurl cannot be loaded. Under mu_.
  bool Started() {
    if (multi_) return true;
    if (!load_error_.empty()) return false;
    if (!LoadCurl(load_error_)) return false;
    multi_ = Curl().multi_init();
    if (!multi_) {
      load_error_ = "curl_multi_init failed";
      return false;
    }
    thread_ = std::thread([this] { Loop(); });
    return true;
  }

  void Loop() {
    // Sending is never more urgent than a deploy: this thread takes a CPU
    // only when nothing else wants it, so a run that starts as its
    // messages go out (or a log being relayed) is not slowed by them.
    sched_param idle{};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
    for (;;) {
      std::vector<std::unique_ptr<Transfer>> fresh;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) break;
        fresh.swap(incoming_);
      }
      for (auto& t : fresh) Start(std::move(t));
      int running = 0;
      Curl().multi_perform(multi_, &running);
      int left = 0;
      while (CURLMsg* msg = Curl().multi_info_read(multi_, &left)) {
        if (msg->msg == CURLMSG_DONE) Finish(msg->easy_handle, msg->data.result);
      }
      Curl().multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    for (auto& [easy, t] : active_) Curl().multi_remove_handle(multi_, easy);
    active_.clear();
  }

  void Start(std::unique_ptr<Transfer> t) {
    CURL* e = Curl().easy_init();
    if (!e) {
      OutboundResult r;
      r.error = "curl_easy_init failed";
      t->done(std::move(r));
      return;
    }
    t->easy = e;
    const OutboundRequest& q = t->req;
    Curl().easy_setopt(e, CURLOPT_URL, q.url.c_str());
    Curl().easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");
    Curl().easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    Curl().easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    Curl().easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(q.timeout.count()));
    Curl().easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(std::min<int64_t>(q.timeout.count(), 10000)));
    Curl().easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    Curl().easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!q.ca_file.empty()) Curl().easy_setopt(e, CURLOPT_CAINFO, q.ca_file.c_str());
    Curl().easy_setopt(e, CURLOPT_WRITEFUNCTION, OnBody);
    Curl().easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    if (q.url.rfind("smtp", 0) == 0) {
      Curl().easy_setopt(e, CURLOPT_MAIL_FROM, ("<" + q.mail_from + ">").c_str());
      for (const std::string& to : q.mail_rcpt) {
        t->rcpt = Curl().slist_append(t->rcpt, ("<" + to + ">").c_str());
      }
      Curl().easy_setopt(e, CURLOPT_MAIL_RCPT, t->rcpt);
      Curl().easy_setopt(e, CURLOPT_UPLOAD, 1L);
      Curl().easy_setopt(e, CURLOPT_READFUNCTION, OnRead);
      Curl().easy_setopt(e, CURLOPT_READDATA, t.get());
      Curl().easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(q.body.size()));
      if (q.url.rfind("smtp://", 0) == 0) {
        Curl().easy_setopt(e, CURLOPT_USE_SSL, q.require_tls ? CURLUSESSL_ALL : CURLUSESSL_NONE);
      }
      if (!q.username.empty()) {
        Curl().easy_setopt(e, CURLOPT_USERNAME, q.username.c_str());
        Curl().easy_setopt(e, CURLOPT_PASSWORD, q.password.c_str());
      }
    } else {
      for (const std::string& h : q.headers)
        t->headers = Curl().slist_append(t->headers, h.c_str());
      // No "Expect: 100-continue": a receiver that does not answer it would
      // cost a second per message.
      t->headers = Curl().slist_append(t->headers, "Expect:");
      Curl().easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
      Curl().easy_setopt(e, CURLOPT_POST, 1L);
      Curl().easy_setopt(e, CURLOPT_POSTFIELDS, q.body.data());
      Curl().easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(q.body.size()));
      Curl().easy_setopt(e, CURLOPT_HEADERFUNCTION, OnHeader);
      Curl().easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    }
    Curl().multi_add_handle(multi_, e);
    active_[e] = std::move(t);
  }

  void Finish(CURL* easy, CURLcode rc) {
    auto it = active_.find(easy);
    if (it == active_.end()) return;
    std::unique_ptr<Transfer> t = std::move(it->second);
    active_.erase(it);
    Curl().multi_remove_handle(multi_, easy);
    OutboundResult r;
    long code = 0;
    Curl().easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    bool smtp = t->req.url.rfind("smtp", 0) == 0;
    if (rc == CURLE_OK) {
      r.http_status = static_cast<int>(code);
    } else {
      if (smtp && code >= 400) r.http_status = static_cast<int>(code);
      r.error = t->error[0] ? t->error : Curl().easy_strerror(rc);
      if (rc == CURLE_OPERATION_TIMEDOUT) {
        r.error = "no answer within " + FormatDuration(t->req.timeout) + " (timeout)";
      }
    }
    r.body = std::move(t->answer);
    r.retry_after_ms = t->retry_after_ms;
    t->done(std::move(r));
  }

  CURLM* multi_ = nullptr;  // set once, under mu_, before the thread starts
  std::string load_error_;  // guarded by mu_
  std::thread thread_;
  std::mutex mu_;
  bool stopping_ = false;                              // guarded by mu_
  std::vector<std::unique_ptr<Transfer>> incoming_;    // guarded by mu_
  std::map<CURL*, std::unique_ptr<Transfer>> active_;  // the sender's thread only
};

}  // namespace

std::unique_ptr<Sender> MakeCurlSender() { return std::make_unique<CurlSender>(); }

}  // namespace jenky
