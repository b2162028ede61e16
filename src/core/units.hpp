// Parsing of the configuration's durations ("30s", "10m", "2h", "5d") and
// sizes ("512KiB", "25MiB"), as written in the DESIGN contract.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tegami {

// "0" is a valid duration (turns a feature off). A bare number is seconds.
std::optional<std::chrono::seconds> parse_duration(std::string_view s);
// Units B, KiB, MiB, GiB (and KB/MB/GB as powers of 1000). A bare number is bytes.
std::optional<std::uint64_t> parse_size(std::string_view s);

}  // namespace tegami
