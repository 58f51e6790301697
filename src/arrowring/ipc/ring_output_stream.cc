#include "arrowring/ipc/ring_output_stream.h"

#include "arrowring/ring/streaming_copy.h"

namespace arrowring {

arrow::Status RingOutputStream::Write(const void* data, int64_t nbytes) {
  if (closed_) return arrow::Status::Invalid("write to a closed RingOutputStream");
  const auto available = static_cast<int64_t>(destination_.size()) - position_;
  if (nbytes < 0 || nbytes > available) {
    return arrow::Status::CapacityError("a write of ", nbytes, " bytes at offset ", position_, " does not fit the ",
                                        destination_.size(), " bytes reserved");
  }
  CopyIntoRing(destination_.data() + position_, data, static_cast<size_t>(nbytes), cold_);
  position_ += nbytes;
  return arrow::Status::OK();
}

}  // namespace arrowring
