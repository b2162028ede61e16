// Intake: where an accepted message goes once DATA ended (DESIGN §1, "per
// recipient: local domain → MailboxStore.deliver, remote → QueueStore
// .enqueue").
//
// Invariant ("250 only after fsync", "one 250"): commit_message() succeeds
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

// Blocking (on the worker pool): commits what the cleanup stage wrote (issue
// 13), the queue entry for the remote recipients first, then the local copy.
// `entry` has the id, sender, SMTPUTF8 and DSN parameters (RET, ENVID) and
// one recipient per remote address (with its NOTIFY and ORCPT); its
// creation time and every recipient's first attempt are set here (now).
Result<void> commit_message(ServerContext& ctx, Cleanup& cleanup, QueueEntry entry);

// True when `ip` is inside one of `networks` ([relay] trusted_networks).
bool in_networks(const std::vector<Cidr>& networks, const std::string& ip);

}  // namespace tegami::server
