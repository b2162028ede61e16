// Where messages come from: a file, stdin ("-"), an mbox file (every
// message in it), or a folder (a Maildir's new/ and cur/, or else every
// regular file in the folder), in a stable order (file names sorted).
//
// mbox: a message starts at a "From " line at the top of the file or after
// an empty line (mboxo/mboxrd); ">From " quoting is undone. A file with one
// envelope line is one message. Errors are values (Result): a path that
// cannot be read is an error; a message that cannot be parsed is not.
#pragma once

#include <functional>
#include <string>

#include "core/result.hpp"

namespace tegami::trace {

struct InputMessage {
  std::string source;  // the path, "-", or "PATH:N" for the N-th message of an mbox
  std::string data;
};

struct InputInfo {
  bool bulk = false;  // more than one message may follow (folder or mbox)
};

// Calls `begin` once (bulk or not), then `each` per message, in order.
Result<void> read_messages(const std::string& path,
                           const std::function<void(const InputInfo&)>& begin,
                           const std::function<void(InputMessage&&)>& each);

// Splits mbox text into messages (exposed for tests).
std::vector<std::string> split_mbox(const std::string& text);

}  // namespace tegami::trace
