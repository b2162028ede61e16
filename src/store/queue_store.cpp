#include "store/queue_store.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tegami {

std::string_view to_string(RecipientStatus s) {
  switch (s) {
    case RecipientStatus::kPending:
      return "pending";
    case RecipientStatus::kDelivered:
      return "delivered";
    case RecipientStatus::kFailed:
      return "failed";
    case RecipientStatus::kBounced:
      return "bounced";
  }
  return "?";
}

QueuedMessage::~QueuedMessage() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::size_t> QueuedMessage::read(std::uint64_t offset, char* buf, std::size_t n) const {
  for (;;) {
    ssize_t got = ::pread(fd_, buf, n, static_cast<off_t>(offset));
    if (got >= 0) return static_cast<std::size_t>(got);
    if (errno == EINTR) continue;
    return fail(Error::temp(std::string("cannot read a queued message: ") + std::strerror(errno),
                            451, "4.3.0"));
  }
}

bool QueueEntry::unfinished() const {
  for (const auto& r : recipients)
    if (r.status == RecipientStatus::kPending || r.status == RecipientStatus::kFailed ||
        r.relayed_dsn)
      return true;
  return false;
}

bool valid_queue_id(std::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  for (char c : id) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (!ok) return false;
  }
  return true;
}

}  // namespace tegami
