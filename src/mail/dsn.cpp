#include "mail/dsn.hpp"

#include <fmt/format.h>

#include "mail/date.hpp"
#include "mail/ip.hpp"
#include "mail/received.hpp"

namespace tegami::mail {

namespace {

constexpr std::size_t kFoldAt = 78;           // RFC 5322 §2.1.1 "SHOULD"
constexpr std::size_t kMaxLine = 998;         // RFC 5322 §2.1.1 "MUST"
constexpr std::size_t kMaxDiagnostic = 2000;  // a diagnostic is a reply, not a novel

std::string ascii(std::string_view s, std::size_t max = kMaxDiagnostic) {
  std::string out;
  for (char ch : s) {
    if (out.size() >= max) break;
    auto c = static_cast<unsigned char>(ch);
    out += (c >= 0x20 && c < 0x7f) ? ch : '?';
  }
  return out;
}

bool valid_status(std::string_view s) {
  // class "." subject "." detail: 1 digit (2, 4 or 5), 1-3 digits, 1-3 digits (RFC 3463 §2).
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) ++i;
    if (i == start) return false;
    if (part == 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  return i == s.size();
}

std::string status_of(const DsnRecipient& r) {
  if (valid_status(r.status)) return r.status;
  return r.action == DsnAction::kFailed ? "5.0.0" : "4.0.0";
}

std::string date(std::chrono::system_clock::time_point t, int offset) {
  return format_rfc5322_date(t, offset);
}

// Word-wraps free text for the human-readable part.
void wrap(std::string& out, std::string_view text, std::size_t width = 76) {
  std::string line;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto sp = text.find(' ', pos);
    if (sp == std::string_view::npos) sp = text.size();
    std::string_view word = text.substr(pos, sp - pos);
    pos = sp + 1;
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += line + "\r\n";
      line.clear();
    }
    while (word.size() > kMaxLine - 2) {  // one unbreakable monster: cut it
      out += std::string(word.substr(0, kMaxLine - 2)) + "\r\n";
      word.remove_prefix(kMaxLine - 2);
    }
    if (!line.empty()) line += ' ';
    line += word;
  }
  if (!line.empty()) out += line + "\r\n";
}

}  // namespace

std::string in_reply_to(std::string_view stage) {
  if (stage.empty()) return {};
  std::string s = ascii(stage, 64);
  if (s == "greeting") return "in reply to the initial greeting";
  if (s == "end of data") return "in reply to end of DATA command";
  return "in reply to " + s + " command";
}

bool is_dns_name(std::string_view remote_mta) {
  if (remote_mta.empty() || remote_mta.front() == '[') return false;
  return !normalize_ip(remote_mta).has_value();  // a bare IP (spool entries of old versions)
}

std::string fold_field(std::string_view name, std::string_view value) {
  std::string out(name);
  out += ':';
  std::size_t line_len = out.size();
  std::size_t pos = 0;
  bool first = true;
  while (pos <= value.size()) {
    auto sp = value.find(' ', pos);
    if (sp == std::string_view::npos) sp = value.size();
    std::string_view word = value.substr(pos, sp - pos);
    pos = sp + 1;
    if (word.empty() && !first) continue;
    if (!first && line_len + 1 + word.size() > kFoldAt) {
      out += "\r\n";
      line_len = 0;
    }
    // A word too long for any line is cut (a last resort: nothing to fold at).
    while (line_len + 1 + word.size() > kMaxLine) {
      std::size_t take = kMaxLine - line_len - 1;
      out += ' ';
      out += word.substr(0, take);
      out += "\r\n";
      line_len = 0;
      word.remove_prefix(take);
    }
    out += ' ';
    out += word;
    line_len += 1 + word.size();
    first = false;
  }
  return out;
}

std::string_view header_section(std::string_view message) {
  std::size_t pos = 0;
  while (pos < message.size()) {
    auto nl = message.find('\n', pos);
    std::string_view line =
        message.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (line.empty() || line == "\r") return message.substr(0, pos);
    if (nl == std::string_view::npos) return message;
    pos = nl + 1;
  }
  return message;
}

std::string build_dsn(const DsnReport& r) {
  bool failed = false;
  for (const auto& rc : r.recipients) failed = failed || rc.action == DsnAction::kFailed;
  const std::string sender = ascii(r.sender, 400);
  const std::string host = ascii(r.reporting_mta, 255);
  std::string_view original_headers = header_section(r.original);

  std::string boundary = ascii(r.boundary, 60);
  if (boundary.empty()) boundary = "tegami-dsn";
  while (original_headers.find(boundary) != std::string_view::npos) boundary += "=_";

  std::string msg;
  LocalStamp stamp;
  stamp.by_host = host;
  stamp.id = ascii(r.dsn_id, 64);
  stamp.time = r.now;
  stamp.offset_minutes = r.offset_minutes;
  msg += "Received: " + format_local_received(stamp) + "\r\n";
  msg += "From: Mail Delivery System <MAILER-DAEMON@" + host + ">\r\n";
  msg += fold_field("To", "<" + sender + ">") + "\r\n";
  msg += failed ? "Subject: Undelivered Mail Returned to Sender\r\n"
                : "Subject: Delayed Mail (still being retried)\r\n";
  msg += "Date: " + date(r.now, r.offset_minutes) + "\r\n";
  msg += "Message-ID: " + ascii(r.message_id, 300) + "\r\n";
  msg += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 §5: never answer this automatically
  msg += "MIME-Version: 1.0\r\n";
  msg += "Content-Type: multipart/report; report-type=delivery-status;\r\n";
  msg += "\tboundary=\"" + boundary + "\"\r\n";
  msg += "\r\n";
  msg += "This is a MIME-encapsulated message.\r\n\r\n";

  // 1. For humans.
  msg += "--" + boundary + "\r\n";
  msg += "Content-Description: Notification\r\n";
  msg += "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
  msg += "This is the mail system at host " + host + ".\r\n\r\n";
  if (failed) {
    wrap(msg,
         "I'm sorry to have to inform you that your message could not be delivered to one or "
         "more recipients. It is attached below (its header section).");
  } else {
    wrap(msg,
         "Your message could not be delivered yet to one or more recipients. The mail system "
         "will keep trying; you do not need to send it again.");
  }
  msg += "\r\n";
  wrap(msg,
       "For further assistance, please contact your system administrator or send mail to "
       "<postmaster@" +
           host + ">.");
  msg += "\r\n";
  for (const auto& rc : r.recipients) {
    std::string line = "<" + ascii(rc.final_recipient, 400) + ">: ";
    if (rc.action == DsnAction::kDelayed) line += "delivery delayed: ";
    const bool reply = rc.diagnostic.rfind("smtp;", 0) == 0;
    if (!rc.remote_mta.empty())
      line += "host " + ascii(rc.remote_mta, 255) + (reply ? " said: " : ": ");
    auto semi = rc.diagnostic.find(';');
    std::string_view diag = rc.diagnostic;
    if (semi != std::string::npos) diag = std::string_view(rc.diagnostic).substr(semi + 1);
    while (!diag.empty() && diag.front() == ' ') diag.remove_prefix(1);
    line += diag.empty() ? "(no further detail)" : ascii(diag);
    // The stage belongs here, not in Diagnostic-Code (the reply alone).
    if (reply && !diag.empty() && !rc.stage.empty()) line += " (" + in_reply_to(rc.stage) + ")";
    wrap(msg, line);
    if (rc.action == DsnAction::kDelayed && rc.will_retry_until)
      wrap(msg, "The mail system will retry until " + date(*rc.will_retry_until, r.offset_minutes) +
                    ".");
    msg += "\r\n";
  }

  // 2. For machines (RFC 3464 §2.2, §2.3).
  msg += "--" + boundary + "\r\n";
  msg += "Content-Description: Delivery report\r\n";
  msg += "Content-Type: message/delivery-status\r\n\r\n";
  msg += fold_field("Reporting-MTA", "dns; " + host) + "\r\n";
  msg += fold_field("X-Tegami-Queue-ID", ascii(r.queue_id, 64)) + "\r\n";
  msg += "Arrival-Date: " + date(r.arrival, r.offset_minutes) + "\r\n";
  for (const auto& rc : r.recipients) {
    msg += "\r\n";
    msg += fold_field("Final-Recipient", "rfc822; " + ascii(rc.final_recipient, 400)) + "\r\n";
    msg += rc.action == DsnAction::kFailed ? "Action: failed\r\n" : "Action: delayed\r\n";
    msg += "Status: " + status_of(rc) + "\r\n";
    // RFC 3464 §2.3.5: optional, its name type "dns"; no DNS name, no field.
    if (is_dns_name(rc.remote_mta))
      msg += fold_field("Remote-MTA", "dns; " + ascii(rc.remote_mta, 255)) + "\r\n";
    if (!rc.diagnostic.empty()) msg += fold_field("Diagnostic-Code", ascii(rc.diagnostic)) + "\r\n";
    if (rc.last_attempt.time_since_epoch().count() != 0)
      msg += "Last-Attempt-Date: " + date(rc.last_attempt, r.offset_minutes) + "\r\n";
    if (rc.action == DsnAction::kDelayed && rc.will_retry_until)
      msg += "Will-Retry-Until: " + date(*rc.will_retry_until, r.offset_minutes) + "\r\n";
  }
  msg += "\r\n";

  // 3. The original header section.
  msg += "--" + boundary + "\r\n";
  msg += "Content-Description: Undelivered Message Headers\r\n";
  msg += "Content-Type: text/rfc822-headers\r\n";
  bool eight_bit = false;
  for (char c : original_headers) eight_bit = eight_bit || static_cast<unsigned char>(c) >= 0x80;
  if (eight_bit) msg += "Content-Transfer-Encoding: 8bit\r\n";
  msg += "\r\n";
  msg += original_headers;
  if (!original_headers.empty() && original_headers.back() != '\n') msg += "\r\n";
  msg += "\r\n--" + boundary + "--\r\n";
  return msg;
}

}  // namespace tegami::mail
