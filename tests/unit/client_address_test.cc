#include "util/client_address.h"

#include <gtest/gtest.h>

namespace jenky {
namespace {

AddressSet Set(std::vector<std::string> entries) {
  auto s = AddressSet::Parse(entries);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? *s : AddressSet();
}

TEST(ClientAddressTest, NetworksMatchByPrefix) {
  AddressSet s = Set({"127.0.0.1", "10.0.0.0/8", "172.16.0.0/12", "fd00::/8", "::1"});
  for (const char* in :
       {"127.0.0.1", "10.255.1.2", "172.31.0.1", "fd12::1", "::1", "[::1]", "::ffff:10.0.0.1"}) {
    EXPECT_TRUE(s.Contains(in)) << in;
  }
  for (const char* out : {"127.0.0.2", "11.0.0.1", "172.32.0.1", "fe80::1", "::2", "", "junk"}) {
    EXPECT_FALSE(s.Contains(out)) << out;
  }
}

TEST(ClientAddressTest, BadEntriesAreNamed) {
  for (const char* bad : {"localhost", "10.0.0.0/33", "::/129", "1.2.3.4/", "1.2.3.4/x"}) {
    auto s = AddressSet::Parse({bad});
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find(bad), std::string::npos) << s.status().message();
  }
}

TEST(ClientAddressTest, ForwardedForCountsOnlyFromATrustedProxy) {
  AddressSet proxies = Set({"127.0.0.1", "10.0.0.0/8"});
  // Not a trusted peer: the header is the client's to make up.
  EXPECT_EQ(ClientAddress("203.0.113.9", "1.2.3.4", proxies), "203.0.113.9");
  EXPECT_EQ(ClientAddress("127.0.0.1", "", proxies), "127.0.0.1");
  EXPECT_EQ(ClientAddress("127.0.0.1", "198.51.100.7", proxies), "198.51.100.7");
  // A client that sends its own X-Forwarded-For: the proxy appends the real
  // address, and the rightmost untrusted one counts.
  EXPECT_EQ(ClientAddress("127.0.0.1", "6.6.6.6, 198.51.100.7", proxies), "198.51.100.7");
  // Two proxies of ours in a row.
  EXPECT_EQ(ClientAddress("127.0.0.1", "198.51.100.7, 10.1.1.1", proxies), "198.51.100.7");
  EXPECT_EQ(ClientAddress("127.0.0.1", "2001:db8::5", proxies), "2001:db8::5");
  // Garbage stops the walk at the last address that could be trusted.
  EXPECT_EQ(ClientAddress("127.0.0.1", "junk, 10.1.1.1", proxies), "10.1.1.1");
  EXPECT_EQ(ClientAddress("127.0.0.1", "junk", proxies), "127.0.0.1");
  // Nobody trusted: never read.
  EXPECT_EQ(ClientAddress("127.0.0.1", "198.51.100.7", AddressSet()), "127.0.0.1");
}

}  // namespace
}  // namespace jenky
