// Logging: one line per event on stderr, greppable key=value fields.
//
// We use spdlog's default logger (configured once at start-up by the app) so
// every layer logs the same way. Values that come from the network must be
// passed through log_safe() so control bytes never reach the log verbatim.
#pragma once

#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace tegami {

// Configures the process logger: stderr, "TIMESTAMP LEVEL message".
void init_logging(bool debug);

// Escapes control and non-ASCII bytes (\xNN) and caps the length, so that
// hostile input cannot forge log lines or flood the log.
std::string log_safe(std::string_view s, std::size_t max = 200);

}  // namespace tegami
