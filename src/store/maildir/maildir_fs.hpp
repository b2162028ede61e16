// Small POSIX helpers for the Maildir store: each returns a temporary Error
// (451 4.3.0) carrying the path and strerror, because a failing disk or a
// permission problem is an operator problem, never the sender's.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace tegami::maildir {

Error fs_error(std::string_view what, const std::string& path, int err);

// Creates `path` (mode 0700) if missing; an existing entry is accepted as is
// (if it is not a directory, later operations fail). When it is created,
// the parent directory is fsynced so the new entry is durable.
Result<void> make_dir(const std::string& path);
// make_dir for `stop`, every missing directory from `stop` down to `root`, and
// root/tmp, root/new, root/cur. `root` must be below `stop`.
Result<void> ensure_maildir(const std::string& stop, const std::string& root);

Result<void> fsync_dir(const std::string& path);

// Creates `path` with O_EXCL (mode 0600), writes `data`, fsyncs, closes.
// EEXIST is reported with Error::enhanced == "EEXIST" so callers can retry
// under another name. On failure the file is removed.
Result<void> write_file_synced(const std::string& path, std::string_view data);

// Whole file; temporary Error (ENOENT with enhanced "ENOENT").
Result<std::string> read_file(const std::string& path);

}  // namespace tegami::maildir
