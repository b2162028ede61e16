#include "dkim/dkim_signer.hpp"

#include <algorithm>

#include "core/base64.hpp"

namespace tegami::dkim {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

// Appends `item` to the field being built, folding before it when the
// line would pass 78 octets (RFC 5322 §2.1.1).
void append_folded(std::string& field, std::size_t& line, std::string_view item) {
  if (line + item.size() > 78 && line > 1) {
    field += "\r\n\t";
    line = 1;
    if (!item.empty() && item.front() == ' ') item.remove_prefix(1);
  }
  field += item;
  line += item.size();
}

}  // namespace

const std::vector<std::string>& default_signed_headers() {
  static const std::vector<std::string> kHeaders = {"from",
                                                    "to",
                                                    "cc",
                                                    "subject",
                                                    "date",
                                                    "message-id",
                                                    "reply-to",
                                                    "in-reply-to",
                                                    "references",
                                                    "mime-version",
                                                    "content-type",
                                                    "content-transfer-encoding",
                                                    "content-disposition",
                                                    "sender",
                                                    "list-unsubscribe",
                                                    "list-unsubscribe-post",
                                                    "resent-from",
                                                    "resent-to",
                                                    "resent-cc",
                                                    "resent-date",
                                                    "resent-message-id"};
  return kHeaders;
}

DkimSigner::DkimSigner(DkimSignOptions options)
    : options_(std::move(options)),
      body_hash_(DkimHash::kSha256),
      canon_(mailauth::DkimCanon::kRelaxed,
             [this](std::string_view s) {
               body_octets_ += s.size();
               body_hash_.update(s);
             }),
      reader_([this](std::string_view s) { canon_.feed(s); }) {}

void DkimSigner::feed(std::string_view bytes) {
  if (!finished_) reader_.feed(bytes);
}

void DkimSigner::finish() {
  if (finished_) return;
  reader_.finish();
  canon_.finish();
  finished_ = true;
}

Result<std::string> DkimSigner::signature_field() {
  if (!finished_) finish();
  if (reader_.header_overflow()) return fail(Error::perm("header block too large to sign"));
  const auto& fields = reader_.fields();

  std::vector<std::string> names;
  for (const auto& h : options_.headers) {
    std::string n = lower(h);
    std::size_t count = 0;
    for (const auto& f : fields)
      if (lower(f.name) == n) ++count;
    bool over =
        std::find(options_.oversign.begin(), options_.oversign.end(), n) != options_.oversign.end();
    if (over) ++count;
    for (std::size_t i = 0; i < count; ++i) names.push_back(n);
  }
  if (std::find(names.begin(), names.end(), "from") == names.end())
    names.insert(names.begin(), "from");

  std::string bh = base64_encode(body_hash_.final());
  std::string field = "DKIM-Signature:";
  std::size_t line = field.size();
  auto add = [&](std::string item) { append_folded(field, line, " " + item); };
  add("v=1;");
  add("a=" + std::string(mailauth::to_string(options_.key.algorithm())) + ";");
  add("c=relaxed/relaxed;");
  add("d=" + options_.domain + ";");
  add("s=" + options_.selector + ";");
  if (!options_.identity.empty()) add("i=" + options_.identity + ";");
  add("t=" + std::to_string(options_.timestamp) + ";");
  if (options_.expire_after)
    add("x=" + std::to_string(options_.timestamp + *options_.expire_after) + ";");
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::string item = (i == 0 ? "h=" : "") + names[i] + (i + 1 == names.size() ? ";" : ":");
    if (i == 0)
      add(item);
    else
      append_folded(field, line, item);
  }
  if (options_.body_length) add("l=" + std::to_string(body_octets_) + ";");
  add("bh=" + bh + ";");
  field += "\r\n\tb=";
  line = 3;

  mailauth::RawHeaderField self{"DKIM-Signature", field + "\r\n"};
  std::string data = mailauth::canon_selected_headers(mailauth::DkimCanon::kRelaxed, fields, names);
  data += mailauth::canon_signature_field(mailauth::DkimCanon::kRelaxed, self);
  auto sig = options_.key.sign(data);
  if (!sig) return fail(sig.error());
  std::string b = base64_encode(*sig);
  for (std::size_t i = 0; i < b.size();) {
    std::size_t room = line < 76 ? 76 - line : 0;
    if (room == 0) {
      field += "\r\n\t ";
      line = 2;
      continue;
    }
    std::size_t n = std::min(room, b.size() - i);
    field.append(b, i, n);
    line += n;
    i += n;
  }
  field += "\r\n";
  return field;
}

}  // namespace tegami::dkim
