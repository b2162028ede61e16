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

namespace {

// The queue entry of a new message: every remote recipient pending, due now.
QueueEntry new_entry(ServerContext& ctx, const std::string& queue_id, const std::string& sender,
                     const std::vector<std::string>& remote, bool smtputf8) {
  QueueEntry entry;
  entry.id = queue_id;
  entry.sender = sender;
  entry.created = ctx.clock.now();
  entry.smtputf8 = smtputf8;
  for (const auto& a : remote) {
    QueueRecipient r;
    r.address = a;
    r.next_attempt = entry.created;
    entry.recipients.push_back(std::move(r));
  }
  return entry;
}

}  // namespace

Result<void> commit_message(ServerContext& ctx, Cleanup& cleanup, const std::string& queue_id,
                            const std::string& sender, const std::vector<std::string>& remote,
                            bool smtputf8) {
  if (cleanup.has_remote()) {
    if (ctx.outbound == nullptr)
      return fail(Error::temp("the outbound queue is not running", 451, "4.3.0"));
    QueueEntry entry = new_entry(ctx, queue_id, sender, remote, smtputf8);
    if (auto q = cleanup.commit_remote(ctx.outbound->store(), entry); !q) return q;
  }
  if (cleanup.has_local()) {
    if (auto d = cleanup.commit_local(); !d) {
      if (!remote.empty()) {
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
