#include "store/sqlite/sqlite_grant_store.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "store/sqlite/address_rules.hpp"

namespace tegami {

namespace {

std::int64_t to_unix(GrantStore::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

GrantStore::TimePoint from_unix(std::int64_t s) {
  return GrantStore::TimePoint(std::chrono::seconds(s));
}

}  // namespace

std::optional<std::string> canonical_ip(const std::string& ip) {
  unsigned char b[16];
  char text[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, ip.c_str(), b) == 1) {
    if (!inet_ntop(AF_INET, b, text, sizeof text)) return std::nullopt;
    return std::string(text);
  }
  if (inet_pton(AF_INET6, ip.c_str(), b) == 1) {
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    int family = AF_INET6;
    const unsigned char* p = b;
    if (std::memcmp(b, kMapped, sizeof kMapped) == 0) {
      family = AF_INET;
      p = b + 12;
    }
    if (!inet_ntop(family, p, text, sizeof text)) return std::nullopt;
    return std::string(text);
  }
  return std::nullopt;
}

Result<void> SqliteGrantStore::record(const std::string& ip, const std::string& account,
                                      TimePoint expires) {
  auto canon = canonical_ip(ip);
  if (!canon) return fail(Error::perm("not an IP address: '" + ip + "'"));
  auto guard = db_->lock();
  auto st = db_->prepare(
      "INSERT INTO grants (ip, account, expires) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (ip) DO UPDATE SET account = excluded.account, expires = excluded.expires");
  if (!st) return fail(st.error());
  return st->bind(1, *canon)
      .bind(2, address_rules::to_lower(account))
      .bind(3, to_unix(expires))
      .run();
}

Result<std::optional<Grant>> SqliteGrantStore::find(const std::string& ip, TimePoint now) {
  auto canon = canonical_ip(ip);
  if (!canon) return std::optional<Grant>();
  auto guard = db_->lock();
  auto st = db_->prepare("SELECT ip, account, expires FROM grants WHERE ip = ?1 AND expires > ?2");
  if (!st) return fail(st.error());
  st->bind(1, *canon).bind(2, to_unix(now));
  auto row = st->step();
  if (!row) return fail(row.error());
  if (!*row) return std::optional<Grant>();
  return std::optional<Grant>(Grant{st->text(0), st->text(1), from_unix(st->int64(2))});
}

Result<std::vector<Grant>> SqliteGrantStore::list(TimePoint now) {
  auto guard = db_->lock();
  auto st = db_->prepare(
      "SELECT ip, account, expires FROM grants WHERE expires > ?1 ORDER BY expires, ip");
  if (!st) return fail(st.error());
  st->bind(1, to_unix(now));
  std::vector<Grant> out;
  for (;;) {
    auto row = st->step();
    if (!row) return fail(row.error());
    if (!*row) return out;
    out.push_back(Grant{st->text(0), st->text(1), from_unix(st->int64(2))});
  }
}

Result<std::size_t> SqliteGrantStore::purge(TimePoint now) {
  auto guard = db_->lock();
  auto st = db_->prepare("DELETE FROM grants WHERE expires <= ?1");
  if (!st) return fail(st.error());
  if (auto r = st->bind(1, to_unix(now)).run(); !r) return fail(r.error());
  return static_cast<std::size_t>(db_->changes());
}

}  // namespace tegami
