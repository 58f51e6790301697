// A test helper for `arrowring recover` (cli/tests): a process that dies holding ring space.
//
//   arrowring_test_holder RING WRITE_BYTES
//
// Subscribes to RING (as "holder") and prints "subscribed"; takes the next message and keeps
// its read reference; reserves WRITE_BYTES and never commits them; prints
// "holding READ_BYTES WRITE_BYTES" (the sizes the ring accounts for) and waits to be killed.
// An alarm ends it after two minutes should the test that started it die first.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "arrowring/ring/ring.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s RING WRITE_BYTES\n", argv[0]);
    return 2;
  }
  alarm(120);
  auto fail = [](const std::string& what) {
    std::fprintf(stderr, "arrowring_test_holder: %s\n", what.c_str());
    return 1;
  };
  auto ring = arrowring::Ring::Attach(argv[1]);
  if (!ring.ok()) return fail(ring.error().message);
  auto subscription = ring->Subscribe("holder");
  if (!subscription.ok()) return fail(subscription.error().message);
  std::printf("subscribed\n");
  std::fflush(stdout);
  auto delivery = subscription->Next(std::chrono::seconds(60));
  if (!delivery.ok()) return fail(delivery.error().message);
  if (!delivery->has_value()) return fail("no message within 60 s");
  auto slot = ring->Allocate(std::stoull(argv[2]), std::chrono::seconds(60));
  if (!slot.ok()) return fail(slot.error().message);
  if (!slot->has_value()) return fail("no room for the write within 60 s");
  std::printf("holding %zu %zu\n", (*delivery)->slot.data().size(), (*slot)->data().size());
  std::fflush(stdout);
  while (true) pause();
}
