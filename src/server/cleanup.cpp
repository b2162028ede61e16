#include "server/cleanup.hpp"

#include "mail/auth_results.hpp"

#include "core/log.hpp"
#include "mail/ascii.hpp"

namespace tegami::server {

Cleanup::Cleanup(CleanupSettings settings, std::unique_ptr<MailboxDelivery> local,
                 std::unique_ptr<QueueMessageWriter> remote)
    : settings_(std::move(settings)), local_(std::move(local)), remote_(std::move(remote)) {}

void Cleanup::fail_with(const Error& e) {
  if (!error_) error_ = e;
}

void Cleanup::put(std::string_view crlf) {
  if (error_ || crlf.empty()) return;
  if (remote_) {
    if (auto r = remote_->append(crlf); !r) return fail_with(r.error());
  }
  if (local_) {
    // CRLF -> LF; a CR at the end of a piece waits for the next one.
    lf_.clear();
    lf_.reserve(crlf.size() + 1);
    std::size_t i = 0;
    if (cr_held_) {
      if (crlf[0] != '\n') lf_ += '\r';
      cr_held_ = false;
    }
    for (; i < crlf.size(); ++i) {
      const char c = crlf[i];
      if (c == '\r') {
        if (i + 1 == crlf.size()) {
          cr_held_ = true;
          break;
        }
        if (crlf[i + 1] == '\n') continue;
      }
      lf_ += c;
    }
    if (auto r = local_->append(lf_); !r) return fail_with(r.error());
    if (lf_.capacity() > 256 * 1024) std::string().swap(lf_);
  }
}

void Cleanup::write(std::string_view crlf) {
  size_ += crlf.size();
  if (error_) return;
  if (header_done_) return put(crlf);
  // Collect the header block up to its blank line (CRLF CRLF, or a message
  // that starts with one), then write it behind our own fields.
  const std::size_t old = header_block_.size();
  header_block_.append(crlf);
  std::size_t from = old >= 3 ? old - 3 : 0;
  std::size_t end = std::string::npos;
  if (header_block_.rfind("\r\n", 0) == 0) {
    end = 2;  // no header at all: the blank line first
  } else {
    auto p = header_block_.find("\r\n\r\n", from);
    if (p != std::string::npos) end = p + 4;
  }
  if (end == std::string::npos && header_block_.size() < kMaxHeaderBlock) return;
  if (end == std::string::npos) {
    end = header_block_.size();
    header_truncated_ = true;
  }
  std::string rest = header_block_.substr(end);
  header_block_.resize(end);
  flush_header();
  put(rest);
}

namespace {

// The header block without the Authentication-Results fields whose
// authserv-id is `id` (each field with its folded continuation lines).
std::string without_auth_results(const std::string& block, const std::string& id,
                                 std::size_t& removed) {
  std::string out;
  out.reserve(block.size());
  std::size_t pos = 0;
  while (pos < block.size()) {
    // One field: its first line and the lines that start with SP or HTAB.
    std::size_t end = pos;
    do {
      std::size_t nl = block.find("\r\n", end);
      end = nl == std::string::npos ? block.size() : nl + 2;
    } while (end < block.size() && (block[end] == ' ' || block[end] == '\t'));
    std::string_view field(block.data() + pos, end - pos);
    constexpr std::string_view kName = "authentication-results";
    bool drop = false;
    if (field.size() > kName.size() && mail::iequals(field.substr(0, kName.size()), kName)) {
      auto rest = field.substr(kName.size());
      while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
      if (!rest.empty() && rest.front() == ':') {
        auto parsed = mail::parse_auth_results(rest.substr(1));
        drop = mail::iequals(parsed.authserv_id, id);
      }
    }
    if (drop) {
      ++removed;
    } else {
      out.append(field);
    }
    pos = end;
  }
  return out;
}

}  // namespace

void Cleanup::flush_header() {
  header_done_ = true;
  if (settings_.strip_own_auth_results && !settings_.authserv_id.empty())
    header_block_ = without_auth_results(header_block_, settings_.authserv_id, stripped_);
  header_ = mail::parse_header(header_block_);
  std::string ours;
  if (!settings_.auth_results.empty())
    ours += "Authentication-Results: " + settings_.auth_results + "\r\n";
  if (!settings_.received_spf.empty()) ours += "Received-SPF: " + settings_.received_spf + "\r\n";
  ours += "Received: " + settings_.received + "\r\n";
  if (settings_.add_missing_fields) {
    if (header_.find("Date") == nullptr) {
      ours += "Date: " + settings_.date + "\r\n";
      added_ += "Date";
    }
    if (header_.find("Message-ID") == nullptr) {
      ours += "Message-ID: " + settings_.message_id + "\r\n";
      if (!added_.empty()) added_ += ", ";
      added_ += "Message-ID";
    }
  }
  if (error_) return;
  if (local_) {
    const std::string rp = "Return-Path: " + settings_.return_path + "\n";
    if (auto r = local_->append(rp); !r) return fail_with(r.error());
  }
  put(ours);
  put(header_block_);
  if (settings_.keep_header) stored_header_ = ours + header_block_;
  std::string().swap(header_block_);
}

void Cleanup::abandon() {
  local_.reset();  // dropping an uncommitted delivery removes its file
  remote_.reset();
  std::string().swap(header_block_);
  fail_with(Error::perm("message abandoned"));
}

Result<void> Cleanup::end() {
  if (!header_done_ && !error_) flush_header();  // a message that is all header
  if (local_ && cr_held_ && !error_) {
    if (auto r = local_->append("\r"); !r) fail_with(r.error());
    cr_held_ = false;
  }
  if (error_) {
    local_.reset();
    remote_.reset();
    return fail(Error::temp(error_->message));
  }
  return {};
}

std::size_t Cleanup::received_count() const {
  std::size_t n = 0;
  for (const auto& f : header_.fields)
    if (mail::iequals(f.name, "Received")) ++n;
  return n;
}

Result<void> Cleanup::commit_local() {
  if (!local_) return {};
  auto r = local_->commit();
  local_.reset();
  return r;
}

Result<void> Cleanup::commit_remote(QueueStore& queue, QueueEntry& entry) {
  if (!remote_) return {};
  entry.size = remote_->size();
  entry.eight_bit = remote_->eight_bit();
  auto r = queue.commit(entry, *remote_);
  remote_.reset();
  return r;
}

}  // namespace tegami::server
