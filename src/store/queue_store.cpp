#include "store/queue_store.hpp"

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

bool QueueEntry::unfinished() const {
  for (const auto& r : recipients)
    if (r.status == RecipientStatus::kPending || r.status == RecipientStatus::kFailed) return true;
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
