#include "store/maildir/maildir_maildrop.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>  // open_how, RESOLVE_CACHED
#include <stdio.h>          // renameat2, RENAME_NOREPLACE (glibc 2.28+)
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <set>

#include "core/log.hpp"
#include "store/maildir/maildir_fs.hpp"
#include "store/maildir/maildir_names.hpp"

namespace tegami::maildir {

namespace {

struct Found {
  std::string name;
  bool in_new;
};

// Regular files of dir/sub, dot files skipped. Only names and types: no file is opened.
Result<void> scan(const std::string& dir, const char* sub, bool in_new, std::vector<Found>& out) {
  std::string path = dir + "/" + sub;
  DIR* d = ::opendir(path.c_str());
  if (!d) return fail(fs_error("cannot list", path, errno));
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;
    bool regular = e->d_type == DT_REG;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      regular =
          ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    }
    if (regular) out.push_back(Found{std::move(name), in_new});
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return fail(fs_error("cannot list", path, err));
  return {};
}

// The CRLF size of a file without ,W= (a foreign Maildir): read it once.
Result<std::uint64_t> measure(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return fail(fs_error("cannot open", path, errno));
  std::uint64_t size = 0;
  char prev = '\0';
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return fail(fs_error("cannot read", path, err));
    }
    if (n == 0) break;
    std::string_view chunk(buf, static_cast<std::size_t>(n));
    size += chunk.size() + lone_lf_count(chunk, prev);
    prev = chunk.back();
  }
  ::close(fd);
  // lf_to_crlf() completes an unterminated last line; count that too.
  if (size > 0) size += line_completion(std::string_view(&prev, 1)).size();
  return size;
}

class MaildirMaildrop final : public Maildrop {
 public:
  MaildirMaildrop(std::string dir, int lock_fd) : dir_(std::move(dir)), lock_fd_(lock_fd) {}
  ~MaildirMaildrop() override { ::close(lock_fd_); }  // releases the OFD lock
  MaildirMaildrop(const MaildirMaildrop&) = delete;
  MaildirMaildrop& operator=(const MaildirMaildrop&) = delete;

  Result<void> load();

  const std::vector<MaildropEntry>& entries() const override { return entries_; }
  Result<std::string> read(std::size_t index) override;
  Result<int> open_message(std::size_t index) override;
  int open_message_cached(std::size_t index) override;
  Result<void> commit(const std::vector<bool>& deleted, const std::vector<bool>& seen) override;

 private:
  std::string dir_;
  int lock_fd_;
  std::vector<MaildropEntry> entries_;
};

Result<void> MaildirMaildrop::load() {
  std::vector<Found> found;
  if (auto r = scan(dir_, "cur", false, found); !r) return r;
  if (auto r = scan(dir_, "new", true, found); !r) return r;
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return older_first(a.name, b.name); });
  std::set<std::string> uids;
  for (auto& f : found) {
    MaildropEntry e;
    e.in_new = f.in_new;
    e.path = dir_ + (f.in_new ? "/new/" : "/cur/") + f.name;
    if (auto w = size_field(f.name, 'W')) {
      e.size = *w;
    } else {
      auto m = measure(e.path);
      if (!m) {
        // Vanished between readdir and open (another MUA): not part of the snapshot.
        spdlog::warn("maildrop: skipping {}: {}", log_safe(e.path, 400), m.error().message);
        continue;
      }
      e.size = *m;
    }
    e.uid = uid_for(f.name);
    if (!uids.insert(e.uid).second) {
      e.uid = hashed_uid(f.name);
      if (!uids.insert(e.uid).second) continue;  // the very same name twice: list it once
    }
    entries_.push_back(std::move(e));
  }
  return {};
}

Result<std::string> MaildirMaildrop::read(std::size_t index) {
  if (index >= entries_.size()) return fail(Error::perm("no such message"));
  auto data = read_file(entries_[index].path);
  if (!data) return fail(data.error());
  return lf_to_crlf(*data);
}

Result<int> MaildirMaildrop::open_message(std::size_t index) {
  if (index >= entries_.size()) return fail(Error::perm("no such message"));
  const std::string& path = entries_[index].path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return fail(fs_error("cannot open", path, errno));
  return fd;
}

int MaildirMaildrop::open_message_cached(std::size_t index) {
  // openat2(2) with RESOLVE_CACHED (Linux 5.12) fails with EAGAIN instead
  // of reading a directory or inode from disk. Older kernels: never cached.
  static std::atomic<bool> unsupported{false};
  if (index >= entries_.size() || unsupported.load(std::memory_order_relaxed)) return -1;
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW;
  how.resolve = RESOLVE_CACHED;
  long fd = ::syscall(SYS_openat2, AT_FDCWD, entries_[index].path.c_str(), &how, sizeof how);
  if (fd < 0) {
    if (errno == ENOSYS || errno == EINVAL || errno == E2BIG)
      unsupported.store(true, std::memory_order_relaxed);
    return -1;
  }
  return static_cast<int>(fd);
}

Result<void> MaildirMaildrop::commit(const std::vector<bool>& deleted,
                                     const std::vector<bool>& seen) {
  if (deleted.size() != entries_.size() || seen.size() != entries_.size())
    return fail(Error::perm("maildrop commit: flag vectors do not match the snapshot"));
  std::optional<Error> first;
  bool touched_new = false, touched_cur = false;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    auto& e = entries_[i];
    if (deleted[i]) {
      if (::unlink(e.path.c_str()) != 0 && errno != ENOENT) {
        if (!first) first = fs_error("cannot delete", e.path, errno);
        continue;
      }
      (e.in_new ? touched_new : touched_cur) = true;
    } else if (seen[i] && e.in_new) {
      std::string name = e.path.substr(e.path.find_last_of('/') + 1);
      std::string dst = dir_ + "/cur/" + with_seen_flag(name);
      // Never replace a message already in cur/ under that name (a restored
      // or copied Maildir can hold the same base name twice): keep it in new/.
      if (::renameat2(AT_FDCWD, e.path.c_str(), AT_FDCWD, dst.c_str(), RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST) {
          spdlog::warn("maildrop: {} exists in cur/; leaving the message in new/",
                       log_safe(dst, 400));
        } else if (errno != ENOENT && !first) {
          first = fs_error("cannot move to cur/", e.path, errno);
        }
        continue;
      }
      e.path = dst;
      e.in_new = false;
      touched_new = touched_cur = true;
    }
  }
  if (touched_new)
    if (auto r = fsync_dir(dir_ + "/new"); !r && !first) first = r.error();
  if (touched_cur)
    if (auto r = fsync_dir(dir_ + "/cur"); !r && !first) first = r.error();
  if (first) return fail(*first);
  return {};
}

}  // namespace

Result<std::unique_ptr<Maildrop>> open_maildir_maildrop(const std::string& dir) {
  std::string lock_path = dir + "/.tegami.lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fail(fs_error("cannot open lock file", lock_path, errno));
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;  // the whole file
  fl.l_pid = 0;  // required for OFD locks
  if (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EAGAIN || err == EACCES)
      return fail(Error::temp("maildrop is locked by another session", 451, "IN-USE"));
    return fail(fs_error("cannot lock", lock_path, err));
  }
  auto drop = std::make_unique<MaildirMaildrop>(dir, fd);
  if (auto r = drop->load(); !r) return fail(r.error());
  return std::unique_ptr<Maildrop>(std::move(drop));
}

}  // namespace tegami::maildir
