// Reading a new password for `user add` / `user passwd`: the first line of
// stdin (--password-stdin, for scripts), or twice from the controlling
// terminal with echo off. Never from the command line, where `ps` and shell
// history would show it.
#pragma once

#include <string>

#include "core/result.hpp"

namespace tegami::cli {

Result<std::string> read_new_password(bool from_stdin);

}  // namespace tegami::cli
