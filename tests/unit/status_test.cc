#include "util/status.h"

#include <gtest/gtest.h>

#include <string>

namespace jenky {
namespace {

TEST(StatusCode, EachCodeHasOneWireNameThatParsesBackToIt) {
  const std::pair<StatusCode, std::string> names[] = {
      {StatusCode::kInternal, "internal"},         {StatusCode::kNotFound, "not_found"},
      {StatusCode::kConflict, "conflict"},         {StatusCode::kQueueFull, "queue_full"},
      {StatusCode::kTlsCert, "tls_cert"},          {StatusCode::kTlsKey, "tls_key"},
      {StatusCode::kDisconnected, "disconnected"}, {StatusCode::kPaused, "paused"}};
  for (const auto& [code, name] : names) {
    EXPECT_EQ(StatusCodeName(code), name);
    EXPECT_EQ(ParseStatusCode(name), code) << name;
  }
  EXPECT_EQ(ParseStatusCode("NOT_FOUND"), std::nullopt);
}

TEST(StatusCode, AnErrorIsInternalUnlessItSaysOtherwise) {
  Status s = Status::Error("disk full");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.kind(), StatusCode::kInternal);
  EXPECT_EQ(s.code(), "internal");
  Status q = Status::Error("queue is full", StatusCode::kQueueFull);
  EXPECT_EQ(q.code(), "queue_full");
  EXPECT_EQ(q.message(), "queue is full");
}

TEST(StatusCode, EveryCodesNameParsesBackToIt) {
  for (StatusCode c : {StatusCode::kInternal, StatusCode::kNotFound, StatusCode::kConflict,
                       StatusCode::kQueueFull, StatusCode::kTlsCert, StatusCode::kTlsKey,
                       StatusCode::kDisconnected, StatusCode::kSupervisorLost}) {
    EXPECT_EQ(ParseStatusCode(StatusCodeName(c)), c) << StatusCodeName(c);
  }
  EXPECT_EQ(ParseStatusCode("no_such_code"), std::nullopt);
}

TEST(StatusCode, AResultCarriesItsErrorsCode) {
  Result<int> r = Status::Error("no run with id 3", StatusCode::kNotFound);
  EXPECT_EQ(r.status().kind(), StatusCode::kNotFound);
  EXPECT_EQ(Result<int>(3).status().kind(), StatusCode::kInternal);  // ok: no kind to speak of
}

}  // namespace
}  // namespace jenky
