// Who sent a request: the peer's address, or, when the peer is a reverse
// proxy the operator named in [server] trusted_proxies, the address that proxy
// put in X-Forwarded-For. The failed-auth limit, the connection cap, logs and
// the deliveries record count callers by it. X-Forwarded-For from anyone else
// is ignored: a client could otherwise pick a fresh address per request and
// never be limited.
//
// Pure functions of strings: no Beast, no I/O.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace jenky {

// Addresses and networks ("127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8").
class AddressSet {
 public:
  // An error names the entry that is neither an address nor a network.
  static Result<AddressSet> Parse(const std::vector<std::string>& entries);
  bool Contains(std::string_view address) const;
  bool empty() const { return nets_.empty(); }

 private:
  struct Net {
    std::array<unsigned char, 16> bytes{};  // IPv4 as IPv4-mapped IPv6
    int prefix = 128;
  };
  std::vector<Net> nets_;
};

// PEER (the socket's address), and X-FORWARDED-FOR ("" when absent): the
// rightmost address in the header that is not a trusted proxy, when PEER is
// one; else PEER.
std::string ClientAddress(const std::string& peer, std::string_view forwarded_for,
                          const AddressSet& trusted_proxies);

}  // namespace jenky
