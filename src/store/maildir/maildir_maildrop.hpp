// MaildirMaildrop: the Maildrop (store/mailbox_store.hpp) of one Maildir,
// held under an OFD lock on DIR/.tegami.lock (see maildir_store.hpp).
//
// Snapshot: the regular files of cur/ and new/ (dot files skipped), sorted
// oldest first by their leading delivery time, then by name. The size comes
// from ,W= in the name; a file without it (a foreign Maildir) is read once
// to count its lone LFs. UIDs: maildir_names.hpp uid_for(); should two files
// share a base name, the later ones get a hash of their full name instead.
//
// commit() (RFC 1939 §6 UPDATE): unlinks deleted messages (one that already
// vanished is not an error), renames seen new/ messages into cur/ with the
// Seen flag, and fsyncs both directories. It keeps going after a failure
// and reports the first one. Call it once, at QUIT.
#pragma once

#include <memory>
#include <string>

#include "store/mailbox_store.hpp"

namespace tegami::maildir {

// `dir` is the mailbox directory (must exist with tmp/ new/ cur/).
// Error with enhanced == "IN-USE" when the lock is held elsewhere.
Result<std::unique_ptr<Maildrop>> open_maildir_maildrop(const std::string& dir);

}  // namespace tegami::maildir
