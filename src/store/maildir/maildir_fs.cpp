#include "store/maildir/maildir_fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

namespace tegami::maildir {

Error fs_error(std::string_view what, const std::string& path, int err) {
  return Error::temp(std::string(what) + " " + path + ": " + std::strerror(err));
}

namespace {

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

namespace {

Result<void> fsync_dir_now(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(fs_error("cannot open directory", path, errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return fail(fs_error("cannot fsync directory", path, err));
  return {};
}

}  // namespace

Result<void> GroupSync::sync(const std::string& path) {
  std::unique_lock lock(mu_);
  const std::uint64_t mine = ++requested_;
  while (covered_ < mine) {
    if (running_) {
      cv_.wait(lock);
      continue;
    }
    // Every ticket given so far belongs to a caller whose change came
    // before its call: one sync started now covers them all.
    running_ = true;
    const std::uint64_t from = covered_ + 1, upto = requested_;
    lock.unlock();
    Result<void> r = fn_(path);
    lock.lock();
    ++syncs_;
    running_ = false;
    covered_ = upto;
    if (!r) {
      // Failures are rare (a dying disk); the last few are kept so that
      // every caller a failed sync covered sees its error.
      if (failures_.size() >= kFailuresKept) failures_.erase(failures_.begin());
      failures_.push_back(Failure{from, upto, r.error()});
    }
    cv_.notify_all();
  }
  for (const auto& f : failures_)
    if (mine >= f.from && mine <= f.to) return fail(f.error);
  return {};
}

std::uint64_t GroupSync::syncs() const {
  std::lock_guard lock(mu_);
  return syncs_;
}

Result<void> fsync_dir(const std::string& path) {
  // One GroupSync per directory path, kept for the life of the process
  // (a few hundred bytes per mailbox directory written to).
  static std::mutex registry_mu;
  static std::unordered_map<std::string, std::unique_ptr<GroupSync>> registry;
  GroupSync* g = nullptr;
  {
    std::lock_guard lock(registry_mu);
    auto& slot = registry[path];
    if (!slot) slot = std::make_unique<GroupSync>(&fsync_dir_now);
    g = slot.get();
  }
  return g->sync(path);
}

Result<void> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) == 0) return fsync_dir(parent_of(path));
  if (errno == EEXIST) return {};
  return fail(fs_error("cannot create directory", path, errno));
}

Result<void> ensure_maildir(const std::string& stop, const std::string& root) {
  // Ancestors between `stop` (exclusive) and root, outermost first.
  if (auto r = make_dir(stop); !r) return r;
  std::vector<std::string> chain;
  for (std::string p = root; p.size() > stop.size() && p.compare(0, stop.size(), stop) == 0;
       p = parent_of(p))
    chain.insert(chain.begin(), p);
  for (const auto& p : chain)
    if (auto r = make_dir(p); !r) return r;
  for (const char* sub : {"/tmp", "/new", "/cur"})
    if (auto r = make_dir(root + sub); !r) return r;
  return {};
}

Result<void> write_file_synced(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    Error e = fs_error("cannot create", path, errno);
    if (errno == EEXIST) e.enhanced = "EEXIST";
    return fail(e);
  }
  const char* p = data.data();
  std::size_t left = data.size();
  Result<void> r;
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      r = fail(fs_error("cannot write", path, errno));
      break;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (r && ::fsync(fd) != 0) r = fail(fs_error("cannot fsync", path, errno));
  if (::close(fd) != 0 && r) r = fail(fs_error("cannot close", path, errno));
  if (!r) ::unlink(path.c_str());
  return r;
}

Result<SyncedWriter> SyncedWriter::create(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    Error e = fs_error("cannot create", path, errno);
    if (errno == EEXIST) e.enhanced = "EEXIST";
    return fail(e);
  }
  return SyncedWriter(path, fd);
}

Result<SyncedWriter> SyncedWriter::create_anonymous(const std::string& dir) {
  // linkat() of an unnamed file goes through /proc/self/fd (no capability
  // needed); without /proc mounted, the named path is used instead.
  static const bool proc_fd = ::access("/proc/self/fd", X_OK) == 0;
  if (!proc_fd) {
    Error e = Error::temp("no /proc/self/fd for O_TMPFILE");
    e.enhanced = "EOPNOTSUPP";
    return fail(e);
  }
  int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    Error e = fs_error("cannot create a file in", dir, errno);
    if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) e.enhanced = "EOPNOTSUPP";
    return fail(e);
  }
  SyncedWriter w(dir, fd);
  w.anonymous_ = true;
  return w;
}

Result<void> SyncedWriter::link_to(const std::string& dst) {
  if (!anonymous_ || fd_ < 0) return fail(Error::temp("link of a file not open: " + dst));
  std::string self = "/proc/self/fd/" + std::to_string(fd_);
  if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, dst.c_str(), AT_SYMLINK_FOLLOW) == 0) return {};
  Error e = fs_error("cannot link into", dst, errno);
  if (errno == EEXIST) e.enhanced = "EEXIST";
  if (errno == EXDEV) e.enhanced = "EXDEV";
  return fail(e);
}

SyncedWriter::SyncedWriter(SyncedWriter&& o) noexcept
    : path_(std::move(o.path_)),
      fd_(o.fd_),
      buf_(std::move(o.buf_)),
      size_(o.size_),
      committed_(o.committed_),
      anonymous_(o.anonymous_) {
  o.fd_ = -1;
  o.committed_ = true;
}

SyncedWriter& SyncedWriter::operator=(SyncedWriter&& o) noexcept {
  if (this != &o) {
    discard();
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    buf_ = std::move(o.buf_);
    size_ = o.size_;
    committed_ = o.committed_;
    anonymous_ = o.anonymous_;
    o.fd_ = -1;
    o.committed_ = true;
  }
  return *this;
}

Result<void> SyncedWriter::write_all(std::string_view data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(fs_error("cannot write", path_, errno));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return {};
}

Result<void> SyncedWriter::flush() {
  auto r = write_all(buf_);
  if (r) buf_.clear();
  return r;
}

Result<void> SyncedWriter::append(std::string_view data) {
  if (fd_ < 0) return fail(Error::temp("write to a closed file " + path_));
  size_ += data.size();
  if (buf_.size() + data.size() <= kBuffer) {
    buf_.append(data);
    return {};
  }
  if (auto r = flush(); !r) return r;
  if (data.size() >= kBuffer) return write_all(data);  // a large piece: straight through
  buf_.append(data);
  return {};
}

Result<void> SyncedWriter::finish() {
  if (fd_ < 0) return fail(Error::temp("finish of a closed file " + path_));
  Result<void> r = flush();
  if (r && ::fsync(fd_) != 0) r = fail(fs_error("cannot fsync", path_, errno));
  if (!r) return r;           // the destructor or discard() removes the file
  if (anonymous_) return {};  // open until linked; discard() closes it
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    Error e = fs_error("cannot close", path_, errno);
    ::unlink(path_.c_str());
    return fail(e);
  }
  committed_ = true;  // discard() no longer removes it
  return {};
}

void SyncedWriter::discard() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!committed_ && !anonymous_ && !path_.empty()) ::unlink(path_.c_str());
  committed_ = true;
  std::string().swap(buf_);
}

Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    Error e = fs_error("cannot open", path, errno);
    if (errno == ENOENT) e.enhanced = "ENOENT";
    return fail(e);
  }
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return fail(fs_error("cannot read", path, err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace tegami::maildir
