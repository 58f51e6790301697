// RingOutputStream: an arrow::io::OutputStream that writes into reserved ring memory, with
// streaming stores when that memory is cold.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include <arrow/buffer.h>
#include <arrow/io/interfaces.h>
#include <arrow/result.h>
#include <arrow/status.h>

namespace arrowring {

/// Writes sequentially into a fixed span — a WriteSlot's bytes — as Arrow's
/// FixedSizeBufferWriter does (a write past the end fails with CapacityError and writes
/// nothing), but copies with CopyIntoRing: large writes into a cold slot (WriteSlot::cold)
/// use streaming stores, which write cold memory at up to twice memcpy's rate.
///
/// Every write is fenced before it returns, so what was written is ordered before the
/// commit that publishes it. Not thread-safe, as Arrow's streams are not.
class RingOutputStream final : public arrow::io::OutputStream {
 public:
  RingOutputStream(std::span<std::byte> destination, bool cold) : destination_(destination), cold_(cold) {}

  arrow::Status Write(const void* data, int64_t nbytes) override;
  arrow::Status Write(const std::shared_ptr<arrow::Buffer>& data) override { return Write(data->data(), data->size()); }
  arrow::Result<int64_t> Tell() const override { return position_; }
  arrow::Status Close() override {
    closed_ = true;
    return arrow::Status::OK();
  }
  bool closed() const override { return closed_; }

 private:
  std::span<std::byte> destination_;
  bool cold_;
  int64_t position_ = 0;
  bool closed_ = false;
};

}  // namespace arrowring
