#include "mail/dsn.hpp"

#include <fmt/format.h>

#include "mail/date.hpp"
#include "mail/intl.hpp"
#include "mail/ip.hpp"
#include "mail/received.hpp"

namespace tegami::mail {

namespace {

constexpr std::size_t kFoldAt = 78;           // RFC 5322 §2.1.1 "SHOULD"
constexpr std::size_t kMaxLine = 998;         // RFC 5322 §2.1.1 "MUST"
constexpr std::size_t kMaxDiagnostic = 2000;  // a diagnostic is a reply, not a novel
constexpr std::size_t kMaxEnvidText = 100;    // RFC 3461 §4.4

std::string ascii(std::string_view s, std::size_t max = kMaxDiagnostic) {
  std::string out;
  for (char ch : s) {
    if (out.size() >= max) break;
    auto c = static_cast<unsigned char>(ch);
    out += (c >= 0x20 && c < 0x7f) ? ch : '?';
  }
  return out;
}

// An address as a global DSN may show it (RFC 6533): printable UTF-8 kept
// as it is, anything else as ascii().
std::string address_text(std::string_view s, bool global, std::size_t max = 400) {
  if (global && s.size() <= max && !is_ascii(s) && printable_utf8(s)) return std::string(s);
  return ascii(s, max);
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

namespace {

bool is_success(DsnAction a) {
  return a == DsnAction::kDelivered || a == DsnAction::kRelayed;
}

std::string_view action_word(DsnAction a) {
  switch (a) {
    case DsnAction::kFailed:
      return "failed";
    case DsnAction::kDelayed:
      return "delayed";
    case DsnAction::kDelivered:
      return "delivered";
    case DsnAction::kRelayed:
      return "relayed";
  }
  return "failed";
}

std::string status_for(const DsnRecipient& r) {
  std::string s = status_of(r);
  // A success report's status is a success (class 2, RFC 3463 §3.1).
  if (is_success(r.action) && s[0] != '2') return "2.0.0";
  if (!is_success(r.action) && s[0] == '2')
    return r.action == DsnAction::kFailed ? "5.0.0" : "4.0.0";
  return s;
}

}  // namespace

DsnFrame build_dsn_frame(const DsnReport& r) {
  bool failed = false, delayed = false;
  for (const auto& rc : r.recipients) {
    failed = failed || rc.action == DsnAction::kFailed;
    delayed = delayed || rc.action == DsnAction::kDelayed;
  }
  // RFC 3461 §4.3: the whole message only in a report of a failure.
  const bool full = r.return_full && failed;
  const bool notice = r.notice != PostmasterNotice::kNone;
  // RFC 6533: a report about or to a UTF-8 address is a global one.
  bool global = !is_ascii(r.sender) && printable_utf8(r.sender);
  for (const auto& rc : r.recipients)
    global = global || (!is_ascii(rc.final_recipient) && printable_utf8(rc.final_recipient));
  const std::string sender = address_text(r.sender, global);
  const std::string host = ascii(r.reporting_mta, 255);
  std::string_view original_headers = header_section(r.original);

  DsnFrame f;
  f.full = full;
  f.boundary = ascii(r.boundary, 60);
  if (f.boundary.empty()) f.boundary = "tegami-dsn";
  while (original_headers.find(f.boundary) != std::string_view::npos) f.boundary += "=_";
  const std::string& boundary = f.boundary;

  std::string& msg = f.head;
  LocalStamp stamp;
  stamp.by_host = host;
  stamp.id = ascii(r.dsn_id, 64);
  stamp.time = r.now;
  stamp.offset_minutes = r.offset_minutes;
  msg += "Received: " + format_local_received(stamp) + "\r\n";
  msg += "From: Mail Delivery System <MAILER-DAEMON@" + host + ">\r\n";
  msg += fold_field("To", "<" + sender + ">") + "\r\n";
  if (notice) {
    msg += "Subject: Postmaster Copy: Undelivered Mail\r\n";
  } else if (failed) {
    msg += "Subject: Undelivered Mail Returned to Sender\r\n";
  } else if (delayed) {
    msg += "Subject: Delayed Mail (still being retried)\r\n";
  } else {
    msg += "Subject: Successful Mail Delivery Report\r\n";
  }
  msg += "Date: " + date(r.now, r.offset_minutes) + "\r\n";
  msg += "Message-ID: " + ascii(r.message_id, 300) + "\r\n";
  msg += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 §5: never answer this automatically
  msg += "MIME-Version: 1.0\r\n";
  msg += global ? "Content-Type: multipart/report; report-type=global-delivery-status;\r\n"
                : "Content-Type: multipart/report; report-type=delivery-status;\r\n";
  msg += "\tboundary=\"" + boundary + "\"\r\n";
  msg += "\r\n";
  msg += "This is a MIME-encapsulated message.\r\n\r\n";

  // 1. For humans.
  msg += "--" + boundary + "\r\n";
  msg += "Content-Description: Notification\r\n";
  msg += global ? "Content-Type: text/plain; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n\r\n"
                : "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
  msg += "This is the mail system at host " + host + ".\r\n\r\n";
  const std::string attached =
      full ? "It is attached below." : "It is attached below (its header section).";
  if (r.notice == PostmasterNotice::kDoubleBounce) {
    wrap(msg,
         "This is a copy for the postmaster: a delivery status notification (a message from the "
         "null sender <>) could not be delivered to one or more recipients. It is not returned to "
         "anyone else. " +
             attached);
  } else if (r.notice == PostmasterNotice::kUnknownSender) {
    wrap(msg,
         "This is a copy for the postmaster: a message could not be delivered to one or more "
         "recipients, and its sender <" +
             address_text(r.original_sender, global) +
             "> does not exist here, so the report could not be returned to it. " + attached);
  } else if (failed) {
    wrap(msg,
         "I'm sorry to have to inform you that your message could not be delivered to one or "
         "more recipients. " +
             attached);
  } else if (delayed) {
    wrap(msg,
         "Your message could not be delivered yet to one or more recipients. The mail system "
         "will keep trying; you do not need to send it again.");
  } else {
    wrap(msg,
         "Your message was successfully delivered to the destination(s) listed below. Where it "
         "was relayed to a system that does not report deliveries, you will get no further "
         "notice from there; you may still get notices of delivery errors. Its header section "
         "is attached below.");
  }
  msg += "\r\n";
  wrap(msg,
       "For further assistance, please contact your system administrator or send mail to "
       "<postmaster@" +
           host + ">.");
  msg += "\r\n";
  for (const auto& rc : r.recipients) {
    std::string line = "<" + address_text(rc.final_recipient, global) + ">: ";
    if (rc.action == DsnAction::kDelayed) line += "delivery delayed: ";
    if (rc.action == DsnAction::kDelivered) {
      wrap(msg, line + "delivered to the mailbox.");
      msg += "\r\n";
      continue;
    }
    if (rc.action == DsnAction::kRelayed)
      line += "relayed to a system that does not support delivery status notifications: ";
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
  msg += global ? "Content-Type: message/global-delivery-status\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n\r\n"
                : "Content-Type: message/delivery-status\r\n\r\n";
  // RFC 3461 §6.3 / RFC 3464 §2.2.1: the ENVID as the sender gave it (at
  // most 100 characters, so never folded: folding must not alter it).
  if (!r.envid.empty()) msg += "Original-Envelope-Id: " + ascii(r.envid, kMaxEnvidText) + "\r\n";
  msg += fold_field("Reporting-MTA", "dns; " + host) + "\r\n";
  msg += fold_field("X-Tegami-Queue-ID", ascii(r.queue_id, 64)) + "\r\n";
  msg += "Arrival-Date: " + date(r.arrival, r.offset_minutes) + "\r\n";
  for (const auto& rc : r.recipients) {
    msg += "\r\n";
    // RFC 3464 §2.3.1: from ORCPT (RFC 3461 §4.2), when the sender gave one.
    if (!rc.original_type.empty() && !rc.original_address.empty())
      msg += fold_field("Original-Recipient",
                        ascii(rc.original_type, 64) + "; " + ascii(rc.original_address, 500)) +
             "\r\n";
    // RFC 6533 §3: the "utf-8" address type, here as a plain utf-8-address
    // (message/global-delivery-status may carry UTF-8).
    std::string rcpt = address_text(rc.final_recipient, global);
    msg += fold_field("Final-Recipient", (is_ascii(rcpt) ? "rfc822; " : "utf-8; ") + rcpt) + "\r\n";
    msg += "Action: " + std::string(action_word(rc.action)) + "\r\n";
    msg += "Status: " + status_for(rc) + "\r\n";
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

  // 3. The original: its header section, or the whole of it (RET=FULL).
  msg += "--" + boundary + "\r\n";
  if (full) {
    msg += "Content-Description: Undelivered Message\r\n";
    // RFC 6533 §6.3: message/global may carry UTF-8 header fields.
    msg += global ? "Content-Type: message/global\r\n" : "Content-Type: message/rfc822\r\n";
    if (r.full_eight_bit) msg += "Content-Transfer-Encoding: 8bit\r\n";
    msg += "\r\n";
  } else {
    msg += !failed && !delayed ? "Content-Description: Message Headers\r\n"
                               : "Content-Description: Undelivered Message Headers\r\n";
    // RFC 6533 §6.3: message/global-headers may hold UTF-8 header fields.
    msg += global ? "Content-Type: message/global-headers\r\n"
                  : "Content-Type: text/rfc822-headers\r\n";
    bool eight_bit = false;
    for (char c : original_headers) eight_bit = eight_bit || static_cast<unsigned char>(c) >= 0x80;
    if (eight_bit) msg += "Content-Transfer-Encoding: 8bit\r\n";
    msg += "\r\n";
  }
  f.tail = "\r\n--" + boundary + "--\r\n";
  return f;
}

std::string build_dsn(const DsnReport& r) {
  DsnReport headers_only = r;
  headers_only.return_full = false;
  DsnFrame f = build_dsn_frame(headers_only);
  std::string_view original_headers = header_section(r.original);
  std::string msg = std::move(f.head);
  msg += original_headers;
  if (!original_headers.empty() && original_headers.back() != '\n') msg += "\r\n";
  msg += f.tail;
  return msg;
}

}  // namespace tegami::mail
