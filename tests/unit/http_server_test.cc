#include "http/server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace jenky {
namespace {

// A server on 127.0.0.1:0 answering every request {"ok":true}, its loop on a
// thread of its own; the test speaks to it over plain blocking sockets.
class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpLimits limits) {
    server_ = std::make_unique<HttpServer>(
        io_,
        [](Exchange& ex) -> net::awaitable<void> {
          co_await ex.SendJson(http::status::ok, "{\"ok\":true}");
        },
        limits);
    auto bound = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(bound.ok()) << bound.status().message();
    port_ = bound->port();
    loop_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
    net::post(io_, [this] {
      server_->Stop();
      io_.stop();
    });
    if (loop_.joinable()) loop_.join();
  }
  int Connect() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    fds_.push_back(fd);
    return fd;
  }
  // Sends a GET and returns the status line.
  static std::string Get(int fd) {
    std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    EXPECT_EQ(send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    std::string got;
    char buf[4096];
    while (got.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, n);
    }
    return got.substr(0, got.find("\r\n"));
  }

  net::io_context io_{1};
  std::unique_ptr<HttpServer> server_;
  std::thread loop_;
  unsigned short port_ = 0;
  std::vector<int> fds_;
};

TEST_F(HttpServerTest, ConnectionsPerAddressAreCapped) {
  HttpLimits limits;
  limits.max_connections_per_address = 2;
  limits.exempt_loopback = false;  // the test's only address
  Start(limits);
  int a = Connect(), b = Connect();
  EXPECT_EQ(Get(a), "HTTP/1.1 200 OK");
  EXPECT_EQ(Get(b), "HTTP/1.1 200 OK");
  EXPECT_EQ(Get(Connect()), "HTTP/1.1 503 Service Unavailable");
  // One closes: room for the next.
  close(a);
  fds_.erase(fds_.begin());
  std::string status;
  for (int i = 0; i < 200 && status != "HTTP/1.1 200 OK"; ++i) {
    status = Get(Connect());  // until the server has seen the close
  }
  EXPECT_EQ(status, "HTTP/1.1 200 OK");
}

TEST_F(HttpServerTest, LoopbackIsNotCappedByDefault) {
  HttpLimits limits;
  limits.max_connections_per_address = 1;
  Start(limits);
  int a = Connect(), b = Connect(), c = Connect();
  EXPECT_EQ(Get(a), "HTTP/1.1 200 OK");
  EXPECT_EQ(Get(b), "HTTP/1.1 200 OK");
  EXPECT_EQ(Get(c), "HTTP/1.1 200 OK");
}

}  // namespace
}  // namespace jenky
