#include "dkim/dkim_key_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace tegami::dkim {

namespace {

Error fs_error(std::string_view what, const std::string& path, int err) {
  return Error::temp(std::string(what) + " " + path + ": " + std::strerror(err));
}

Result<void> fsync_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(fs_error("cannot open directory", path, errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return fail(fs_error("cannot fsync directory", path, err));
  return {};
}

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Result<void> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) == 0) return fsync_dir(parent_of(path));
  if (errno == EEXIST) return {};
  return fail(fs_error("cannot create directory", path, errno));
}

Result<void> write_new_file(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fail(fs_error("cannot create", tmp, errno));
  Result<void> r;
  if (::fchmod(fd, 0600) != 0) r = fail(fs_error("cannot chmod", tmp, errno));
  const char* p = data.data();
  std::size_t left = data.size();
  while (r && left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      r = fail(fs_error("cannot write", tmp, errno));
      break;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (r && ::fsync(fd) != 0) r = fail(fs_error("cannot fsync", tmp, errno));
  if (::close(fd) != 0 && r) r = fail(fs_error("cannot close", tmp, errno));
  if (r && ::link(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    r = fail(err == EEXIST ? Error::perm(path + " exists already")
                           : fs_error("cannot link", path, err));
  }
  ::unlink(tmp.c_str());
  if (!r) return r;
  return fsync_dir(parent_of(path));
}

constexpr std::string_view kRsaSuffix = ".rsa.pem";
constexpr std::string_view kEdSuffix = ".ed25519.pem";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

Result<std::vector<std::string>> entries(const std::string& dir, bool dirs) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return fail(fs_error("cannot read directory", dir, errno));
  }
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st {};
    if (::stat((dir + "/" + n).c_str(), &st) != 0) continue;
    if (dirs == S_ISDIR(st.st_mode)) out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(fs_error("cannot read", path, errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string DkimKeyStore::default_selector(std::chrono::system_clock::time_point now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "tegami%Y%m", &tm);
  return buf;
}

std::optional<std::string> DkimKeyStore::normalize_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return std::nullopt;
  std::string out;
  std::size_t label = 0;
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
      if (++label > 63) return std::nullopt;
    } else {
      return std::nullopt;
    }
    out.push_back(c);
  }
  if (label == 0) return std::nullopt;
  return out;
}

Result<StoredKey> DkimKeyStore::create(const std::string& domain_in, const std::string& selector_in,
                                       DkimKeyType type, int rsa_bits) const {
  auto domain = normalize_name(domain_in);
  if (!domain) return fail(Error::perm("not a domain name: " + domain_in));
  auto selector = normalize_name(selector_in);
  if (!selector) return fail(Error::perm("not a valid selector: " + selector_in));
  std::string dir = root_ + "/" + *domain;
  for (auto suffix : {kRsaSuffix, kEdSuffix}) {
    std::string p = dir + "/" + *selector + std::string(suffix);
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0)
      return fail(Error::perm("DKIM key " + *selector + " of " + *domain + " exists already (" + p +
                              "); choose another --selector"));
  }
  auto key = PrivateKey::generate(type, rsa_bits);
  if (!key) return fail(key.error());
  auto pem = key->to_pem();
  if (!pem) return fail(pem.error());
  if (auto r = make_dir(root_); !r) return fail(r.error());
  if (auto r = make_dir(dir); !r) return fail(r.error());
  std::string path =
      dir + "/" + *selector + std::string(type == DkimKeyType::kEd25519 ? kEdSuffix : kRsaSuffix);
  if (auto r = write_new_file(path, *pem); !r) {
    Error e = r.error();
    if (!e.temporary)
      e.message = "DKIM key " + *selector + " of " + *domain + " exists already (" + path +
                  "); choose another --selector";
    return fail(e);
  }
  return StoredKey{*domain, *selector, std::move(*key), path};
}

Result<std::vector<StoredKey>> DkimKeyStore::keys_for(const std::string& domain_in) const {
  std::vector<StoredKey> out;
  auto domain = normalize_name(domain_in);
  if (!domain) return out;
  std::string dir = root_ + "/" + *domain;
  auto files = entries(dir, false);
  if (!files) return fail(files.error());
  for (const auto& f : *files) {
    std::string_view suffix;
    if (ends_with(f, kRsaSuffix))
      suffix = kRsaSuffix;
    else if (ends_with(f, kEdSuffix))
      suffix = kEdSuffix;
    else
      continue;  // temporary files and anything else
    std::string path = dir + "/" + f;
    auto text = read_file(path);
    if (!text) return fail(text.error());
    auto key = PrivateKey::from_pem(*text);
    if (!key) return fail(Error::perm(path + ": " + key.error().message));
    out.push_back(StoredKey{*domain, f.substr(0, f.size() - suffix.size()), std::move(*key), path});
  }
  return out;
}

Result<std::vector<StoredKey>> DkimKeyStore::list() const {
  std::vector<StoredKey> out;
  auto domains = entries(root_, true);
  if (!domains) return fail(domains.error());
  for (const auto& d : *domains) {
    auto keys = keys_for(d);
    if (!keys) return fail(keys.error());
    for (auto& k : *keys) out.push_back(std::move(k));
  }
  return out;
}

Result<std::string> zone_file_record(const StoredKey& k) {
  auto txt = k.key.txt_record();
  if (!txt) return fail(txt.error());
  std::string out = k.selector + "._domainkey." + k.domain + ". IN TXT (";
  for (std::size_t i = 0; i < txt->size(); i += 255) out += " \"" + txt->substr(i, 255) + "\"";
  out += " )";
  return out;
}

}  // namespace tegami::dkim
