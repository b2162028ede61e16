#include "mail/sasl_plain.hpp"

namespace tegami::mail {

std::optional<PlainCredentials> parse_sasl_plain(std::string_view message) {
  const std::size_t first = message.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  const std::size_t second = message.find('\0', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  PlainCredentials creds;
  creds.authzid = message.substr(0, first);
  creds.authcid = message.substr(first + 1, second - first - 1);
  creds.password = message.substr(second + 1);
  if (creds.password.find('\0') != std::string::npos) return std::nullopt;  // a third NUL
  if (creds.authcid.empty() || creds.password.empty()) return std::nullopt;
  if (creds.authzid.size() > kMaxPlainField || creds.authcid.size() > kMaxPlainField ||
      creds.password.size() > kMaxPlainField) {
    return std::nullopt;
  }
  return creds;
}

}  // namespace tegami::mail
