// Test helper: runs a push parser over an input cut into chunks, so every
// parser can be checked to give the same results at every byte boundary
// (DESIGN rule 12).
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tegami::smtp::testing {

// The chunkings of `input` we try: whole, cut once at every position, and one
// byte at a time.
inline std::vector<std::vector<std::string_view>> all_splits(std::string_view input) {
  std::vector<std::vector<std::string_view>> out;
  out.push_back({input});
  for (std::size_t k = 1; k < input.size(); ++k) {
    out.push_back({input.substr(0, k), input.substr(k)});
  }
  std::vector<std::string_view> bytes;
  for (std::size_t k = 0; k < input.size(); ++k) bytes.push_back(input.substr(k, 1));
  out.push_back(bytes);
  return out;
}

inline std::string describe_split(const std::vector<std::string_view>& chunks) {
  std::string s;
  for (auto c : chunks) s += std::to_string(c.size()) + " ";
  return s;
}

}  // namespace tegami::smtp::testing
