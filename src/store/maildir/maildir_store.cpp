#include "store/maildir/maildir_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "core/log.hpp"
#include "mail/intl.hpp"
#include "store/maildir/maildir_fs.hpp"
#include "store/maildir/maildir_maildrop.hpp"
#include "store/maildir/maildir_names.hpp"

namespace tegami {

namespace fs = std::filesystem;
using namespace maildir;

namespace {

constexpr int kNameAttempts = 16;  // retries when a generated name already exists

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// One path component: not empty, not "." or "..", no '/', and printable
// UTF-8 (no NUL or other control byte, no malformed sequence). UTF-8 local
// parts (SMTPUTF8) are directory names as the directory stores them (NFC).
bool safe_component(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         mail::printable_utf8(s);
}

std::string system_hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace

MaildirStore::MaildirStore(std::string mail_dir, std::string hostname)
    : mail_dir_(std::move(mail_dir)),
      host_(hostname.empty() ? system_hostname() : std::move(hostname)),
      pid_(::getpid()) {
  while (mail_dir_.size() > 1 && mail_dir_.back() == '/') mail_dir_.pop_back();
}

Result<std::string> MaildirStore::mailbox_path(const MailboxRef& box) const {
  std::string domain = lower(box.domain), local = lower(box.local);
  if (!safe_component(domain) || !safe_component(local))
    return fail(Error::perm("invalid mailbox name '" + log_safe(box.address()) + "'"));
  return mail_dir_ + "/" + domain + "/" + local;
}

std::string MaildirStore::unique_name(std::uint64_t disk_size, std::uint64_t wire_size) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto sec = std::chrono::duration_cast<std::chrono::seconds>(now);
  auto usec = std::chrono::duration_cast<std::chrono::microseconds>(now - sec);
  std::string base = fmt::format("{}.M{:06}P{}Q{}", sec.count(), usec.count(), pid_,
                                 counter_.fetch_add(1, std::memory_order_relaxed) + 1);
  // The base name is the POP3 UIDL: keep it within 70 characters.
  std::size_t budget = kMaxUidLength > base.size() + 1 ? kMaxUidLength - base.size() - 1 : 0;
  std::string host = sanitize_host(host_, budget);
  if (!host.empty()) base += "." + host;
  return fmt::format("{},S={},W={}", base, disk_size, wire_size);
}

std::string MaildirStore::incoming_prefix() const {
  return "incoming." + sanitize_host(host_, 64) + ".";
}

std::string MaildirStore::incoming_name() {
  return fmt::format("{}{}.{}", incoming_prefix(), pid_,
                     counter_.fetch_add(1, std::memory_order_relaxed) + 1);
}

bool MaildirStore::abandoned_incoming(const std::string& name) const {
  // "incoming.HOST.PID.N": ours if HOST is this host; abandoned when that
  // process is gone (or is this one: nothing is written before start-up ends,
  // and a restarted container often gets the same pid again).
  const std::string prefix = incoming_prefix();
  if (name.rfind(prefix, 0) != 0) return false;
  std::size_t i = prefix.size(), j = i;
  while (j < name.size() && name[j] >= '0' && name[j] <= '9') ++j;
  if (j == i || j >= name.size() || name[j] != '.' || j - i > 9) return false;
  const pid_t pid = static_cast<pid_t>(std::stol(name.substr(i, j - i)));
  if (pid == pid_) return true;
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

Result<std::string> MaildirStore::deliver_copy(const std::string& dir, const std::string& src,
                                               std::uint64_t disk_size, std::uint64_t wire_size,
                                               int src_fd) {
  for (int attempt = 0; attempt < kNameAttempts; ++attempt) {
    std::string name = unique_name(disk_size, wire_size);
    std::string tmp = dir + "/tmp/" + name, dst = dir + "/new/" + name;
    auto w = SyncedWriter::create(tmp);
    if (!w) {
      if (w.error().enhanced == "EEXIST") continue;
      return fail(w.error());
    }
    // An unnamed source is read again through /proc (its own offset).
    std::string from = src_fd >= 0 ? "/proc/self/fd/" + std::to_string(src_fd) : src;
    int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC | (src_fd >= 0 ? 0 : O_NOFOLLOW));
    if (in < 0) return fail(fs_error("cannot open", from, errno));
    std::string buf(SyncedWriter::kBuffer, '\0');
    Result<void> r;
    for (;;) {
      ssize_t n = ::read(in, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        r = fail(fs_error("cannot read", src, errno));
        break;
      }
      if (n == 0) break;
      r = w->append(std::string_view(buf.data(), static_cast<std::size_t>(n)));
      if (!r) break;
    }
    ::close(in);
    if (r) r = w->finish();
    if (!r) return fail(r.error());
    int rc = ::link(tmp.c_str(), dst.c_str());
    int err = errno;
    ::unlink(tmp.c_str());
    if (rc == 0) return dst;
    if (err != EEXIST) return fail(fs_error("cannot link into", dst, err));
  }
  return fail(Error::temp("cannot find a unique file name in " + dir));
}

// The streaming delivery: written once into the first mailbox's tmp/ under
// a name without the real sizes (not known yet), fsynced, then linked into
// each new/ under a name with ,S= and ,W=.
class MaildirDelivery final : public MailboxDelivery {
 public:
  MaildirDelivery(MaildirStore& store, std::vector<std::string> dirs, SyncedWriter file)
      : store_(store), dirs_(std::move(dirs)), file_(std::move(file)) {}
  ~MaildirDelivery() override {
    if (!committed_) file_.discard();
  }

  Result<void> append(std::string_view lf_data) override {
    if (!lf_data.empty()) {
      lone_lfs_ += lone_lf_count(lf_data, last_);
      last_ = lf_data.back();
    }
    return file_.append(lf_data);
  }

  Result<void> commit() override {
    const std::uint64_t disk_size = file_.size();
    const char last[1] = {last_};
    const std::uint64_t wire_size =
        disk_size + lone_lfs_ +
        (disk_size > 0 ? line_completion(std::string_view(last, 1)).size() : 0);
    if (auto r = file_.finish(); !r) {
      file_.discard();
      return fail(Error::temp(r.error().message));
    }
    // The source for a copy across file systems: the unnamed file's
    // descriptor, or the tmp/ name.
    const bool anonymous = file_.anonymous();
    const std::string tmp_path = anonymous ? std::string() : file_.path();
    std::vector<std::string> linked;
    auto rollback = [&](Error e) -> Result<void> {
      for (const auto& p : linked) ::unlink(p.c_str());
      if (anonymous) {
        file_.discard();
      } else {
        ::unlink(tmp_path.c_str());
      }
      store_.forget(dirs_);
      spdlog::warn("delivery failed, nothing delivered: {}", log_safe(e.message, 400));
      return fail(Error::temp(e.message));
    };
    // 2. Link into every new/, each under its own name.
    for (const auto& dir : dirs_) {
      bool done = false;
      for (int attempt = 0; attempt < kNameAttempts && !done; ++attempt) {
        std::string dst = dir + "/new/" + store_.unique_name(disk_size, wire_size);
        int err = 0;
        if (anonymous) {
          auto l = file_.link_to(dst);
          err = l                                ? 0
                : l.error().enhanced == "EEXIST" ? EEXIST
                : l.error().enhanced == "EXDEV"  ? EXDEV
                                                 : EIO;
          if (err == EIO) return rollback(l.error());
        } else if (::link(tmp_path.c_str(), dst.c_str()) != 0) {
          err = errno;
        }
        if (err == 0) {
          linked.push_back(dst);
          done = true;
        } else if (err == EXDEV) {
          // Mailboxes on another file system: hard links cannot cross it.
          auto copy =
              store_.deliver_copy(dir, tmp_path, disk_size, wire_size, anonymous ? file_.fd() : -1);
          if (!copy) return rollback(copy.error());
          linked.push_back(*copy);
          done = true;
        } else if (err != EEXIST) {
          return rollback(fs_error("cannot link into", dst, err));
        }
      }
      if (!done) return rollback(Error::temp("cannot find a unique file name in " + dir));
    }
    // 3. Make the new directory entries durable.
    for (const auto& d : dirs_)
      if (auto r = fsync_dir(d + "/new"); !r) return rollback(r.error());
    // 4. The tmp/ name is no longer needed; a failure here only leaves a
    //    stale file that cleanup_tmp() removes later.
    if (anonymous) {
      file_.discard();  // closes it; the links keep the data
    } else {
      ::unlink(tmp_path.c_str());
    }
    committed_ = true;
    return {};
  }

 private:
  MaildirStore& store_;
  std::vector<std::string> dirs_;
  SyncedWriter file_;
  std::uint64_t lone_lfs_ = 0;
  char last_ = '\0';
  bool committed_ = false;
};

Result<std::unique_ptr<MailboxDelivery>> MaildirStore::begin_delivery(
    const std::vector<MailboxRef>& boxes) {
  // Resolve and deduplicate the mailbox directories, keeping the caller's order.
  std::vector<std::string> dirs;
  for (const auto& b : boxes) {
    auto p = mailbox_path(b);
    if (!p) return fail(Error::temp(p.error().message));
    if (std::find(dirs.begin(), dirs.end(), *p) == dirs.end()) dirs.push_back(*p);
  }
  if (dirs.empty()) return fail(Error::temp("delivery without a mailbox"));
  for (const auto& d : dirs)
    if (auto r = ensure_known(d); !r) return fail(r.error());
  // 1. One file, in the first mailbox's tmp/: unnamed when the file system
  //    can (O_TMPFILE: no tmp/ entry to create and remove, so concurrent
  //    deliveries into one mailbox do not queue on tmp/'s lock; issue 16).
  auto w = SyncedWriter::create_anonymous(dirs[0] + "/tmp");
  if (!w && w.error().enhanced != "EOPNOTSUPP") {
    // A mailbox removed since it was made: make it again, once.
    forget(dirs);
    for (const auto& d : dirs)
      if (auto r = ensure_known(d); !r) return fail(r.error());
    w = SyncedWriter::create_anonymous(dirs[0] + "/tmp");
  }
  if (w) {
    return std::unique_ptr<MailboxDelivery>(
        std::make_unique<MaildirDelivery>(*this, std::move(dirs), std::move(*w)));
  } else if (w.error().enhanced != "EOPNOTSUPP") {
    forget(dirs);
    return fail(w.error());
  }
  for (int attempt = 0;; ++attempt) {
    auto named = SyncedWriter::create(dirs[0] + "/tmp/" + incoming_name());
    if (named) {
      return std::unique_ptr<MailboxDelivery>(
          std::make_unique<MaildirDelivery>(*this, std::move(dirs), std::move(*named)));
    }
    if (named.error().enhanced != "EEXIST" || attempt + 1 >= kNameAttempts) {
      forget(dirs);
      return fail(named.error());
    }
  }
}

Result<void> MaildirStore::ensure_known(const std::string& dir) {
  {
    std::lock_guard lock(known_mu_);
    if (known_.count(dir)) return {};
  }
  if (auto r = ensure_maildir(mail_dir_, dir); !r) return r;
  std::lock_guard lock(known_mu_);
  if (known_.size() >= kMaxKnown) known_.clear();
  known_.insert(dir);
  return {};
}

void MaildirStore::forget(const std::vector<std::string>& dirs) {
  std::lock_guard lock(known_mu_);
  for (const auto& d : dirs) known_.erase(d);
}

Result<void> MaildirStore::deliver(const std::vector<MailboxRef>& boxes, std::string_view message) {
  auto d = begin_delivery(boxes);
  if (!d) return fail(d.error());
  if (auto r = (*d)->append(crlf_to_lf(message)); !r) return fail(Error::temp(r.error().message));
  return (*d)->commit();
}

Result<std::unique_ptr<Maildrop>> MaildirStore::open_maildrop(const MailboxRef& box) {
  auto dir = mailbox_path(box);
  if (!dir) return fail(dir.error());
  if (auto r = ensure_maildir(mail_dir_, *dir); !r) return fail(r.error());
  return open_maildir_maildrop(*dir);
}

Result<std::size_t> MaildirStore::cleanup_tmp(std::chrono::seconds max_age) {
  std::error_code ec;
  if (!fs::exists(mail_dir_, ec)) return std::size_t{0};
  const auto cutoff = std::chrono::system_clock::now() - max_age;
  std::size_t removed = 0;
  fs::directory_iterator domains(mail_dir_, ec);
  if (ec) return fail(fs_error("cannot list", mail_dir_, ec.value()));
  for (const auto& domain : domains) {
    if (!domain.is_directory(ec)) continue;
    for (const auto& box : fs::directory_iterator(domain.path(), ec)) {
      std::string tmp = box.path().string() + "/tmp";
      for (const auto& f : fs::directory_iterator(tmp, ec)) {
        struct stat st {};
        std::string p = f.path().string();
        if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (std::chrono::system_clock::from_time_t(st.st_mtime) >= cutoff &&
            !abandoned_incoming(f.path().filename().string()))
          continue;
        if (::unlink(p.c_str()) == 0) {
          ++removed;
          spdlog::info("removed stale tmp file {}", log_safe(p, 400));
        }
      }
      ec.clear();
    }
    ec.clear();
  }
  return removed;
}

}  // namespace tegami
