// Intake: where an accepted message goes once DATA ended (DESIGN §1, "per
// recipient: local domain → MailboxStore.deliver, remote → QueueStore
// .enqueue").
//
// Invariant ("250 only after fsync", "one 250"): store_message() succeeds
// only when every copy is durable — the queue entry for the remote
// recipients (fsynced spool) and the Maildir copies for the local ones. It
// queues first and delivers locally second; when the local delivery fails
// the queue entry is removed again, so the client's retry after our 451
// does not duplicate the remote copies. Only after both succeeded is the
// entry handed to the runner. A crash between the two leaves at worst a
// queued copy for a message the client will send again (a duplicate, never
// a loss).
//
// The queued copy has no Return-Path: (RFC 5321 §4.4: only the final
// delivery adds it); the Maildir copy keeps it.
#pragma once

#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"
#include "net/asio.hpp"
#include "server/cleanup.hpp"
#include "server/server_context.hpp"

namespace tegami::server {

// `message` starts with the "Return-Path:" line the driver added.
// `smtputf8`: the client used MAIL ... SMTPUTF8 (recorded in the queue entry).
net::awaitable<Result<void>> store_message(ServerContext& ctx, const std::string& queue_id,
                                           const std::string& sender,
                                           const std::vector<MailboxRef>& local,
                                           const std::vector<std::string>& remote,
                                           const std::string& message, bool smtputf8 = false);

// The streamed form (issue 13; blocking, on the worker pool): the queue
// entry for `remote` first, then the local copy; when the local copy fails
// the queue entry is removed again. Same promise as store_message().
Result<void> commit_message(ServerContext& ctx, Cleanup& cleanup, const std::string& queue_id,
                            const std::string& sender, const std::vector<std::string>& remote,
                            bool smtputf8);

// The opaque RecipientChecked::resolved key for a recipient to relay, and back.
std::string remote_key(const std::string& address);
bool is_remote_key(const std::string& key);
std::string remote_address(const std::string& key);

// True when `ip` is inside one of `networks` ([relay] trusted_networks).
bool in_networks(const std::vector<Cidr>& networks, const std::string& ip);

}  // namespace tegami::server
