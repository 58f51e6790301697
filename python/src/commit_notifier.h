// CommitNotifier: turns the ring's commit futex into a file descriptor an event loop watches,
// for arrowring's asyncio API (arrowring/_async.py).
//
// An event loop cannot sleep on a futex, and a thread that waits inside Subscription::Next on
// the loop's behalf would take a message even when the coroutine that asked for it was
// cancelled. So the waiting and the taking are split:
//   - the coroutine reads the commit epoch, tries to take a message without waiting, and if
//     there is none arms the notifier with that epoch and awaits its eventfd becoming readable;
//   - the notifier's thread sleeps on the ring's commit futex (Ring::WaitForCommit) while
//     armed, and writes the eventfd once the epoch moves past the armed one;
//   - the coroutine, woken by the loop, takes the message on the loop's thread.
// A cancelled await only disarms: nothing was taken, nothing is lost. No polling anywhere:
// the thread sleeps on a condition variable while disarmed and on the futex while armed.
#pragma once

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nanobind/nanobind.h>

#include "arrowring/ring/ring.h"

namespace arrowring::python {

class CommitNotifier {
 public:
  explicit CommitNotifier(Ring ring) : ring_(std::move(ring)) {
    fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd_ < 0) {
      throw RingError(
          {Errc::kSystem, std::string("eventfd() for the asyncio notifier failed: ") + std::strerror(errno)});
    }
    thread_ = std::thread([this] { Run(); });
    pthread_setname_np(thread_.native_handle(), kThreadName);  // in top -H, ps -T, /proc/*/task/*/comm
  }
  CommitNotifier(const CommitNotifier&) = delete;
  CommitNotifier& operator=(const CommitNotifier&) = delete;
  ~CommitNotifier() { Close(); }

  static constexpr const char* kThreadName = "arrowring-async";

  int fileno() const { return fd_; }
  uint32_t epoch() const { return ring_.commit_epoch(); }

  // Makes the eventfd readable once the commit epoch differs from `seen_epoch` (at once if it
  // already does). Replaces an earlier arming.
  void Arm(uint32_t seen_epoch) {
    if (ring_.commit_epoch() != seen_epoch) {
      Signal();
      return;
    }
    {
      std::lock_guard lock(mutex_);
      if (stopped_) throw RingError({Errc::kBadState, "the asyncio notifier of this subscriber was closed"});
      armed_ = seen_epoch;
    }
    wake_.notify_one();
  }

  // Stops watching for the armed epoch and empties the eventfd.
  void Disarm() {
    {
      std::lock_guard lock(mutex_);
      armed_.reset();
    }
    uint64_t count = 0;
    [[maybe_unused]] auto ignored = read(fd_, &count, sizeof count);  // EAGAIN when already empty
  }

  // Ends the thread (waking it from the futex by bumping the epoch: no lost wake-up) and
  // closes the eventfd. Idempotent.
  void Close() {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      stopped_ = true;
    }
    if (getpid() != owner_pid_) {  // A copy inherited across fork(): the thread is the parent's.
      thread_.detach();
      close(fd_);
      fd_ = -1;
      return;
    }
    wake_.notify_one();
    ring_.WakeCommitWaiters();
    if (thread_.joinable()) thread_.join();
    close(fd_);
    fd_ = -1;
  }

 private:
  void Signal() {
    const uint64_t one = 1;
    [[maybe_unused]] auto ignored = write(fd_, &one, sizeof one);  // only fails when the count would overflow
  }

  void Run() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return stopped_ || armed_.has_value(); });
      if (stopped_) return;
      const uint32_t seen = *armed_;
      lock.unlock();
      uint32_t now = ring_.commit_epoch();
      if (now == seen) now = ring_.WaitForCommit(seen, kWaitForever);
      lock.lock();
      if (stopped_) return;
      // Disarmed or re-armed meanwhile, or a spurious wake-up: look at the state again.
      if (armed_ == seen && now != seen) {
        armed_.reset();
        Signal();
      }
    }
  }

  Ring ring_;
  pid_t owner_pid_ = getpid();
  int fd_ = -1;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<uint32_t> armed_;
  bool stopped_ = false;
  std::thread thread_;  // last: starts after every member it uses exists
};

inline void BindCommitNotifier(nanobind::module_& m) {
  namespace nb = nanobind;
  using namespace nb::literals;
  nb::class_<CommitNotifier>(m, "CommitNotifier",
                             "An eventfd made readable when a ring's commit epoch moves past an armed value "
                             "(arrowring's asyncio API waits on it).")
      .def(nb::init<Ring>(), "ring"_a)
      .def("fileno", &CommitNotifier::fileno)
      .def_prop_ro("epoch", &CommitNotifier::epoch)
      .def("arm", &CommitNotifier::Arm, "seen_epoch"_a)
      .def("disarm", &CommitNotifier::Disarm)
      .def("close", [](CommitNotifier& n) {
        nb::gil_scoped_release unlocked;  // joins the thread
        n.Close();
      });
}

}  // namespace arrowring::python
