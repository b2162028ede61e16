#include "store/spool/spool_store.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "core/log.hpp"
#include "store/maildir/maildir_fs.hpp"
#include "store/spool/spool_format.hpp"

namespace tegami {

namespace fs = std::filesystem;
using maildir::fs_error;
using maildir::fsync_dir;
using maildir::make_dir;
using maildir::read_file;
using maildir::write_file_synced;

namespace {

constexpr const char* kSubdirs[] = {"tmp", "msg", "env", "corrupt"};

Error bad_id(const std::string& id) {
  return Error::perm("invalid queue id '" + log_safe(id, 64) + "'");
}

// Holds the spool lock (an OFD write lock on DIR/lock) while alive.
class SpoolLock {
 public:
  explicit SpoolLock(const std::string& dir) : path_(dir + "/lock") {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd_ < 0) {
      err_ = errno;
      return;
    }
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    while (::fcntl(fd_, F_OFD_SETLKW, &fl) != 0) {
      if (errno == EINTR) continue;
      err_ = errno;
      ::close(fd_);
      fd_ = -1;
      return;
    }
  }
  ~SpoolLock() {
    if (fd_ >= 0) ::close(fd_);  // closing the description releases the OFD lock
  }
  SpoolLock(const SpoolLock&) = delete;
  SpoolLock& operator=(const SpoolLock&) = delete;
  Result<void> ok() const {
    if (fd_ < 0) return fail(fs_error("cannot lock", path_, err_));
    return {};
  }

 private:
  std::string path_;
  int fd_ = -1;
  int err_ = 0;
};

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// rename() that refuses to replace an existing file (a queue id is used once).
Result<void> rename_new(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return {};
  if (errno != EINVAL && errno != ENOSYS) return fail(fs_error("cannot rename to", to, errno));
  // A file system without RENAME_NOREPLACE: link() refuses an existing name too.
  if (::link(from.c_str(), to.c_str()) != 0) return fail(fs_error("cannot link to", to, errno));
  ::unlink(from.c_str());
  return {};
}

std::vector<std::string> names_in(const std::string& dir, std::error_code& ec) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

SpoolStore::SpoolStore(std::string queue_dir) : dir_(std::move(queue_dir)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

std::string SpoolStore::tmp_path(const std::string& id, const char* kind) {
  return fmt::format("{}/tmp/{}.{}.{}.{}", dir_, id, kind, ::getpid(),
                     counter_.fetch_add(1, std::memory_order_relaxed));
}

Result<void> SpoolStore::create_dirs() {
  if (auto r = make_dir(dir_); !r) return r;
  for (const char* sub : kSubdirs)
    if (auto r = make_dir(dir_ + "/" + sub); !r) return r;
  return {};
}

namespace {

// The message file of an entry being queued: tmp/, written as a stream.
class SpoolMessageWriter final : public QueueMessageWriter {
 public:
  SpoolMessageWriter(std::string id, maildir::SyncedWriter file)
      : id_(std::move(id)), file_(std::move(file)) {}
  Result<void> append(std::string_view crlf_data) override {
    if (!eight_bit_)
      eight_bit_ = std::any_of(crlf_data.begin(), crlf_data.end(),
                               [](char c) { return static_cast<unsigned char>(c) > 127; });
    return file_.append(crlf_data);
  }
  std::uint64_t size() const override { return file_.size(); }
  bool eight_bit() const override { return eight_bit_; }
  const std::string& id() const { return id_; }
  maildir::SyncedWriter& file() { return file_; }

 private:
  std::string id_;
  maildir::SyncedWriter file_;
  bool eight_bit_ = false;
};

}  // namespace

Result<std::unique_ptr<QueueMessageWriter>> SpoolStore::begin(const std::string& id) {
  if (!valid_queue_id(id)) return fail(bad_id(id));
  auto w = maildir::SyncedWriter::create(tmp_path(id, "msg"));
  if (!w) return fail(Error::temp(w.error().message));
  return std::unique_ptr<QueueMessageWriter>(
      std::make_unique<SpoolMessageWriter>(id, std::move(*w)));
}

Result<void> SpoolStore::commit(const QueueEntry& entry, QueueMessageWriter& message) {
  auto* writer = dynamic_cast<SpoolMessageWriter*>(&message);
  if (writer == nullptr || writer->id() != entry.id)
    return fail(Error::temp("queue commit with a foreign message writer"));
  const std::string& id = entry.id;
  if (entry.recipients.empty()) return fail(Error::temp("queue entry without recipients"));

  // 1. The message: tmp/, fsync, rename into msg/, fsync msg/.
  auto& file = writer->file();
  if (auto r = file.finish(); !r) {
    file.discard();
    return fail(Error::temp(r.error().message));
  }
  std::string tmp_msg = file.path();
  std::string msg = msg_path(id);
  if (auto r = rename_new(tmp_msg, msg); !r) {
    ::unlink(tmp_msg.c_str());
    return fail(r.error());
  }
  auto undo_msg = [&](Error e) -> Result<void> {
    ::unlink(msg.c_str());
    spdlog::warn("queue {}: enqueue failed, nothing queued: {}", id, log_safe(e.message, 400));
    return fail(Error::temp(e.message));
  };
  if (auto r = fsync_dir(dir_ + "/msg"); !r) return undo_msg(r.error());

  // 2. The envelope, the same way: its rename commits the entry.
  std::string tmp_env = tmp_path(id, "env");
  if (auto w = write_file_synced(tmp_env, spool::format_envelope(entry)); !w)
    return undo_msg(w.error());
  std::string env = env_path(id);
  if (auto r = rename_new(tmp_env, env); !r) {
    ::unlink(tmp_env.c_str());
    return undo_msg(r.error());
  }
  if (auto r = fsync_dir(dir_ + "/env"); !r) {
    ::unlink(env.c_str());
    return undo_msg(r.error());
  }
  return {};
}

Result<void> SpoolStore::enqueue(const QueueEntry& entry, std::string_view message) {
  if (!valid_queue_id(entry.id)) return fail(bad_id(entry.id));
  if (entry.recipients.empty()) return fail(Error::temp("queue entry without recipients"));
  auto w = begin(entry.id);
  if (!w) return fail(w.error());
  if (auto r = (*w)->append(message); !r) return fail(Error::temp(r.error().message));
  return commit(entry, **w);
}

Result<std::vector<std::string>> SpoolStore::list() {
  std::error_code ec;
  std::string env_dir = dir_ + "/env";
  if (!fs::exists(env_dir, ec)) return std::vector<std::string>{};
  auto names = names_in(env_dir, ec);
  if (ec) return fail(fs_error("cannot list", env_dir, ec.value()));
  names.erase(std::remove_if(names.begin(), names.end(),
                             [](const std::string& n) { return !valid_queue_id(n); }),
              names.end());
  return names;
}

Result<QueueEntry> SpoolStore::load(const std::string& id) {
  if (!valid_queue_id(id)) return fail(bad_id(id));
  auto text = read_file(env_path(id));
  if (!text) return fail(text.error());
  auto e = spool::parse_envelope(*text);
  if (!e) return fail(Error::temp(env_path(id) + ": " + e.error().message));
  if (e->id != id) return fail(Error::temp(env_path(id) + ": envelope names id " + e->id));
  return e;
}

Result<std::string> SpoolStore::read_message(const std::string& id) {
  if (!valid_queue_id(id)) return fail(bad_id(id));
  return read_file(msg_path(id));
}

Result<std::unique_ptr<QueuedMessage>> SpoolStore::open_message(const std::string& id) {
  if (!valid_queue_id(id)) return fail(bad_id(id));
  std::string path = msg_path(id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    Error e = fs_error("cannot open", path, errno);
    if (errno == ENOENT) e.enhanced = "ENOENT";
    return fail(e);
  }
  return std::make_unique<QueuedMessage>(fd);
}

Result<bool> SpoolStore::update(const QueueEntry& entry) {
  const std::string& id = entry.id;
  if (!valid_queue_id(id)) return fail(bad_id(id));
  std::string tmp = tmp_path(id, "env");
  if (auto w = write_file_synced(tmp, spool::format_envelope(entry)); !w) return fail(w.error());
  std::string env = env_path(id);
  SpoolLock lock(dir_);
  if (auto r = lock.ok(); !r) {
    ::unlink(tmp.c_str());
    return fail(r.error());
  }
  if (!exists(env)) {  // removed meanwhile: never resurrect it
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), env.c_str()) != 0) {
    Error e = fs_error("cannot rename to", env, errno);
    ::unlink(tmp.c_str());
    return fail(e);
  }
  if (auto r = fsync_dir(dir_ + "/env"); !r) return fail(r.error());
  return true;
}

Result<bool> SpoolStore::remove(const std::string& id) {
  if (!valid_queue_id(id)) return fail(bad_id(id));
  std::string env = env_path(id);
  {
    SpoolLock lock(dir_);
    if (auto r = lock.ok(); !r) return fail(r.error());
    if (::unlink(env.c_str()) != 0) {
      if (errno == ENOENT) return false;
      return fail(fs_error("cannot remove", env, errno));
    }
    if (auto r = fsync_dir(dir_ + "/env"); !r) return fail(r.error());
  }
  // The entry is gone; a failure from here on leaves an orphan for recover().
  std::string msg = msg_path(id);
  if (::unlink(msg.c_str()) != 0 && errno != ENOENT)
    spdlog::warn("queue {}: cannot remove {}: {}", id, msg, std::strerror(errno));
  else
    (void)fsync_dir(dir_ + "/msg");
  return true;
}

Result<SpoolStore::Recovery> SpoolStore::recover() {
  if (auto r = create_dirs(); !r) return fail(r.error());
  Recovery rec;
  std::error_code ec;

  // 1. Partial writes: nothing in tmp/ was ever committed.
  const std::string tmp_dir = dir_ + "/tmp";
  for (const auto& name : names_in(tmp_dir, ec)) {
    std::string p = tmp_dir + "/" + name;
    if (::unlink(p.c_str()) == 0) {
      ++rec.tmp_removed;
      spdlog::warn("queue recovery: removed partial file tmp/{} (a write interrupted by a crash)",
                   log_safe(name));
    }
  }
  if (ec) return fail(fs_error("cannot list", tmp_dir, ec.value()));

  // 2. Envelopes: each must parse and have its message; otherwise set aside.
  std::set<std::string> good;
  const std::string env_dir = dir_ + "/env", msg_dir = dir_ + "/msg";
  for (const auto& name : names_in(env_dir, ec)) {
    std::string why;
    if (!valid_queue_id(name)) {
      why = "not a queue id";
    } else if (!exists(msg_path(name))) {
      why = "its message file is missing";
    } else if (auto e = load(name); !e) {
      why = e.error().message;
    }
    if (why.empty()) {
      good.insert(name);
      continue;
    }
    ++rec.corrupt;
    spdlog::error("queue recovery: envelope env/{} is unusable ({}); moved to corrupt/",
                  log_safe(name), log_safe(why, 300));
    std::string dst = dir_ + "/corrupt/" + name;
    if (::rename((env_dir + "/" + name).c_str(), dst.c_str()) != 0)
      return fail(fs_error("cannot move to", dst, errno));
    if (valid_queue_id(name) && exists(msg_path(name)))
      ::rename(msg_path(name).c_str(), (dst + ".msg").c_str());
  }
  if (ec) return fail(fs_error("cannot list", env_dir, ec.value()));

  // 3. Messages without an envelope were never acknowledged (or were being removed).
  for (const auto& name : names_in(msg_dir, ec)) {
    if (good.count(name)) continue;
    std::string p = msg_dir + "/" + name;
    if (::unlink(p.c_str()) == 0) {
      ++rec.orphans_removed;
      spdlog::warn("queue recovery: removed msg/{}: no envelope (enqueue or removal interrupted)",
                   log_safe(name));
    }
  }
  if (ec) return fail(fs_error("cannot list", msg_dir, ec.value()));

  for (const char* sub : {"/tmp", "/env", "/msg", "/corrupt"})
    if (auto r = fsync_dir(dir_ + sub); !r) return fail(r.error());
  rec.entries = good.size();
  return rec;
}

}  // namespace tegami
