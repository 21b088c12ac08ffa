// A Sender (notify/sender.h) for tests: nothing goes on the network; each
// request is kept, in the order sent, and the test answers it when it likes
// (or never: a receiver that does not answer).
#pragma once

#include <string>
#include <vector>

#include "notify/sender.h"

namespace jenky {

struct FakeNet {
  struct Call {
    OutboundRequest req;
    Sender::Done done;
    bool answered = false;
  };
  std::vector<Call> calls;
  // Indexes of the calls not answered yet.
  std::vector<size_t> Open() const {
    std::vector<size_t> out;
    for (size_t i = 0; i < calls.size(); ++i) {
      if (!calls[i].answered) out.push_back(i);
    }
    return out;
  }
};

class FakeSender final : public Sender {
 public:
  explicit FakeSender(FakeNet& net) : net_(net) {}
  void Send(OutboundRequest req, Done done) override {
    net_.calls.push_back({std::move(req), std::move(done)});
  }
  void Stop() override {}

 private:
  FakeNet& net_;
};

// The value of header NAME in R ("" if absent).
inline std::string Header(const OutboundRequest& r, const std::string& name) {
  for (const std::string& h : r.headers) {
    if (h.rfind(name + ": ", 0) == 0) return h.substr(name.size() + 2);
  }
  return "";
}

}  // namespace jenky
