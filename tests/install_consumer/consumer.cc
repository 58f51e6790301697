// Publishes a table into a new ring and reads it back zero-copy, through installed headers
// and libraries only, with the umbrella header as its one arrowring include: it is all a
// consumer needs. Prints "ok" and exits 0 when the table came back equal.
#include <unistd.h>

#include <iostream>
#include <string>

#include <arrow/api.h>

#include "arrowring/arrowring.h"

int main() {
  const std::string name = "install-consumer-" + std::to_string(getpid());
  auto ring = arrowring::Ring::Create(name, 1 << 20);
  if (!ring.ok()) {
    std::cerr << ring.error().ToString() << "\n";
    return 1;
  }
  arrowring::Ring::Unlink(name);  // The mapping stays; nothing is left in /dev/shm.
  auto subscriber = arrowring::Subscriber::Make(*ring, "consumer");
  arrow::Int64Builder builder;
  for (int64_t i = 0; i < 1000; ++i) (void)builder.Append(i * 3);
  auto table = arrow::Table::Make(arrow::schema({arrow::field("x", arrow::int64())}), {*builder.Finish()});
  arrowring::Publisher publisher(*ring);
  if (!subscriber.ok() || !publisher.Publish(*table).ok()) return 1;
  auto message = subscriber->Next(std::chrono::seconds(5));
  if (!message.ok() || !message->has_value() || !(*message)->table->Equals(*table)) {
    std::cerr << "the table did not come back equal\n";
    return 1;
  }
  std::cout << "ok\n";
  return 0;
}
