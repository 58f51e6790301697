#include "arrowring/bridge/wire.h"

#include <vector>

#include <gtest/gtest.h>

#include "arrowring/bridge/assembler.h"
#include "arrowring/bridge/auth.h"
#include "arrowring/bridge/client.h"

namespace arrowring::bridge {
namespace {

TEST(Ticket, RoundTrips) {
  Ticket ticket{"daq", "storage", 41};
  auto parsed = Ticket::Parse(ticket.Encode());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ring, "daq");
  EXPECT_EQ(parsed->subscriber, "storage");
  EXPECT_EQ(parsed->resume_after, 41u);
  auto fresh = Ticket::Parse(Ticket{"daq", "s", std::nullopt}.Encode());
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->resume_after);
}

TEST(Ticket, RejectsMalformed) {
  for (std::string bad :
       std::vector<std::string>{"", "daq", "arrowring1\ndaq\ns", "arrowring2\ndaq\ns\n-", "arrowring1\n\ns\n-",
                                "arrowring1\ndaq\ns\n12x", std::string(600, 'x')}) {
    EXPECT_FALSE(Ticket::Parse(bad).ok()) << bad;
  }
}

TEST(BatchTag, RoundTripsAndRejectsGarbage) {
  BatchTag tag{7, 42, 1, 3, 5, 99};
  auto parsed = BatchTag::Parse(tag.Encode().get());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->ring_id, 7u);
  EXPECT_EQ(parsed->sequence, 42u);
  EXPECT_EQ(parsed->batch_index, 1u);
  EXPECT_EQ(parsed->batch_count, 3u);
  EXPECT_EQ(parsed->missed, 5u);
  EXPECT_FALSE(BatchTag::Parse(nullptr).ok());
  EXPECT_FALSE(BatchTag::Parse(arrow::Buffer::FromString("ARB1").get()).ok());
  BatchTag out_of_range{7, 42, 3, 3, 0, 0};
  EXPECT_FALSE(BatchTag::Parse(out_of_range.Encode().get()).ok());
}

TEST(Auth, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("secret", ""));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(RemoteRing, Parses) {
  auto remote = RemoteRing::Parse("grpc+tls://127.0.0.1:5005/daq");
  ASSERT_TRUE(remote.ok());
  EXPECT_EQ(remote->location, "grpc+tls://127.0.0.1:5005");
  EXPECT_EQ(remote->ring, "daq");
  EXPECT_FALSE(RemoteRing::Parse("127.0.0.1:5005/daq").ok());
  EXPECT_FALSE(RemoteRing::Parse("grpc://127.0.0.1:5005").ok());
  EXPECT_FALSE(RemoteRing::Parse("http://h:1/r").ok());
  EXPECT_TRUE(RemoteRing::Parse("grpc://[::1]:8815/daq").ok());
  for (const char* bad : {"grpc://127.0.0.1:notaport/r", "grpc://[::1/r", "grpc:///r", "grpc://host/r",
                          "grpc://:8815/r", "grpc://h:123456/r"}) {
    auto parsed = RemoteRing::Parse(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find("HOST:PORT/RING"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace arrowring::bridge
