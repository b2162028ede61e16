#include "server/intake.hpp"

#include "core/log.hpp"
#include "proto/smtp/data_encoder.hpp"
#include "server/outbound.hpp"

namespace tegami::server {

bool in_networks(const std::vector<Cidr>& networks, const std::string& ip) {
  for (const auto& n : networks)
    if (n.contains(ip)) return true;
  return false;
}

Result<void> commit_message(ServerContext& ctx, Cleanup& cleanup, QueueEntry entry) {
  const std::string queue_id = entry.id;
  if (cleanup.has_remote()) {
    if (ctx.outbound == nullptr)
      return fail(Error::temp("the outbound queue is not running", 451, "4.3.0"));
    // Every remote recipient pending, due now.
    entry.created = ctx.clock.now();
    for (auto& r : entry.recipients) r.next_attempt = entry.created;
    if (auto q = cleanup.commit_remote(ctx.outbound->store(), entry); !q) return q;
  }
  if (cleanup.has_local()) {
    if (auto d = cleanup.commit_local(); !d) {
      if (!entry.recipients.empty()) {
        auto undo = ctx.outbound->cancel(queue_id);
        if (!undo)
          spdlog::error(
              "qid={} local delivery failed and the queued copy could not be removed (the queue "
              "retries the removal and never delivers it): {}",
              queue_id, undo.error().message);
      }
      return d;
    }
  }
  return {};
}

}  // namespace tegami::server
