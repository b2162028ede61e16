#include "trace/input.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <system_error>
#include <vector>

namespace tegami::trace {

namespace fs = std::filesystem;

namespace {

Result<std::string> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return fail(Error::perm("cannot read " + p.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fail(Error::perm("error reading " + p.string()));
  return ss.str();
}

bool is_envelope(const std::string& s, std::size_t pos) {
  return s.compare(pos, 5, "From ") == 0;
}

// Undoes ">From " quoting (mboxrd: one '>' less before any "From ").
std::string unquote(std::string msg) {
  std::string out;
  out.reserve(msg.size());
  std::size_t pos = 0;
  while (pos < msg.size()) {
    std::size_t eol = msg.find('\n', pos);
    std::size_t end = eol == std::string::npos ? msg.size() : eol + 1;
    std::size_t g = pos;
    while (g < end && msg[g] == '>') ++g;
    if (g > pos && is_envelope(msg, g)) ++pos;
    out.append(msg, pos, end - pos);
    pos = end;
  }
  return out;
}

}  // namespace

std::vector<std::string> split_mbox(const std::string& s) {
  std::vector<std::size_t> starts;
  std::size_t pos = 0;
  bool prev_blank = true;
  while (pos < s.size()) {
    std::size_t eol = s.find('\n', pos);
    std::size_t end = eol == std::string::npos ? s.size() : eol + 1;
    if (prev_blank && is_envelope(s, pos)) starts.push_back(pos);
    std::size_t len = end - pos;
    prev_blank = len == 1 || (len == 2 && s[pos] == '\r');
    pos = end;
  }
  std::vector<std::string> out;
  if (starts.empty() || starts.front() != 0) {
    out.push_back(s);
    return out;
  }
  for (std::size_t i = 0; i < starts.size(); ++i) {
    std::size_t b = starts[i];
    std::size_t e = i + 1 < starts.size() ? starts[i + 1] : s.size();
    out.push_back(unquote(s.substr(b, e - b)));
  }
  return out;
}

Result<void> read_messages(const std::string& path,
                           const std::function<void(const InputInfo&)>& begin,
                           const std::function<void(InputMessage&&)>& each) {
  if (path == "-") {
    std::string data{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    auto parts = split_mbox(data);
    begin(InputInfo{parts.size() > 1});
    if (parts.size() == 1) {
      each({"-", std::move(parts[0])});
    } else {
      for (std::size_t i = 0; i < parts.size(); ++i)
        each({"-:" + std::to_string(i + 1), std::move(parts[i])});
    }
    return {};
  }
  std::error_code ec;
  fs::path p(path);
  auto st = fs::status(p, ec);
  if (ec || !fs::exists(st)) return fail(Error::perm("no such file or folder: " + path));
  if (fs::is_directory(st)) {
    std::vector<fs::path> files;
    std::vector<fs::path> dirs;
    if (fs::is_directory(p / "cur", ec) || fs::is_directory(p / "new", ec)) {
      dirs = {p / "new", p / "cur"};  // a Maildir
    } else {
      dirs = {p};
    }
    for (const auto& d : dirs) {
      std::vector<fs::path> here;
      for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().filename().string().starts_with(".")) continue;
        if (it->is_regular_file(ec)) here.push_back(it->path());
      }
      std::sort(here.begin(), here.end());
      files.insert(files.end(), here.begin(), here.end());
    }
    begin(InputInfo{true});
    for (const auto& f : files) {
      auto data = slurp(f);
      if (!data) return fail(data.error());
      each({f.string(), std::move(*data)});
    }
    return {};
  }
  auto data = slurp(p);
  if (!data) return fail(data.error());
  auto parts = split_mbox(*data);
  begin(InputInfo{parts.size() > 1});
  if (parts.size() == 1) {
    each({path, std::move(parts[0])});
  } else {
    for (std::size_t i = 0; i < parts.size(); ++i)
      each({path + ":" + std::to_string(i + 1), std::move(parts[i])});
  }
  return {};
}

}  // namespace tegami::trace
