#include "util/client_address.h"

#include <arpa/inet.h>

#include <cstring>

#include <fmt/format.h>

namespace jenky {
namespace {

// ADDRESS as 16 bytes (IPv4 mapped); false if it is not an IP address.
bool ToBytes(std::string_view address, std::array<unsigned char, 16>& out) {
  std::string a(address);
  if (a.size() > 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  unsigned char v4[4];
  if (inet_pton(AF_INET, a.c_str(), v4) == 1) {
    out.fill(0);
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, v4, 4);
    return true;
  }
  return inet_pton(AF_INET6, a.c_str(), out.data()) == 1;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<AddressSet> AddressSet::Parse(const std::vector<std::string>& entries) {
  AddressSet set;
  for (const auto& e : entries) {
    Net net;
    std::string_view address = e;
    size_t slash = e.find('/');
    int max = 128;
    if (slash != std::string::npos) address = std::string_view(e).substr(0, slash);
    if (!ToBytes(address, net.bytes)) {
      return Status::Error(
          fmt::format("'{}' is not an IP address or network (like 10.0.0.0/8 or "
                      "::1)",
                      e));
    }
    bool v4 = address.find(':') == std::string_view::npos;
    if (v4) max = 32;
    int prefix = max;
    if (slash != std::string::npos) {
      std::string bits = e.substr(slash + 1);
      char* end = nullptr;
      long n = std::strtol(bits.c_str(), &end, 10);
      if (bits.empty() || *end || n < 0 || n > max) {
        return Status::Error(fmt::format("'{}': the prefix length must be 0 to {}", e, max));
      }
      prefix = static_cast<int>(n);
    }
    net.prefix = v4 ? prefix + 96 : prefix;
    set.nets_.push_back(net);
  }
  return set;
}

bool AddressSet::Contains(std::string_view address) const {
  std::array<unsigned char, 16> a;
  if (!ToBytes(address, a)) return false;
  for (const auto& n : nets_) {
    int full = n.prefix / 8, rest = n.prefix % 8;
    if (std::memcmp(a.data(), n.bytes.data(), full) != 0) continue;
    if (rest) {
      unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
      if ((a[full] & mask) != (n.bytes[full] & mask)) continue;
    }
    return true;
  }
  return false;
}

std::string ClientAddress(const std::string& peer, std::string_view forwarded_for,
                          const AddressSet& trusted_proxies) {
  if (forwarded_for.empty() || trusted_proxies.empty() || !trusted_proxies.Contains(peer)) {
    return peer;
  }
  // Each proxy appends the address it received from: the rightmost entries
  // are the most trustworthy. Walk left past our own proxies.
  std::string client = peer;
  std::string_view rest = forwarded_for;
  while (!rest.empty()) {
    size_t comma = rest.rfind(',');
    std::string_view hop = Trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    std::array<unsigned char, 16> ignored;
    if (!ToBytes(hop, ignored)) break;  // garbage: stop at the last address we could trust
    client = std::string(hop);
    if (client.size() > 2 && client.front() == '[') client = client.substr(1, client.size() - 2);
    if (!trusted_proxies.Contains(hop)) break;
  }
  return client;
}

}  // namespace jenky
