#include "server/next_hop.hpp"

#include <algorithm>
#include <random>

#include "mail/intl.hpp"

namespace tegami::server {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<NextHop> parse_route(const std::string& value) {
  NextHop h;
  std::string port;
  if (!value.empty() && value[0] == '[') {
    auto close = value.find(']');
    if (close == std::string::npos || close + 1 >= value.size() || value[close + 1] != ':')
      return fail(Error::perm("route '" + value + "': want [IPv6]:PORT"));
    h.host = value.substr(1, close - 1);
    port = value.substr(close + 2);
  } else {
    auto colon = value.rfind(':');
    if (colon == std::string::npos || colon == 0)
      return fail(Error::perm("route '" + value + "': want HOST:PORT"));
    h.host = value.substr(0, colon);
    port = value.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(port) == 0 || std::stoul(port) > 65535)
    return fail(Error::perm("route '" + value + "': bad port"));
  h.port = static_cast<std::uint16_t>(std::stoul(port));
  std::error_code ec;
  asio::ip::make_address(h.host, ec);
  h.literal = !ec;
  if (!h.literal) h.host = lower(h.host);
  return h;
}

std::optional<std::string> route_for(const std::map<std::string, std::string>& routes,
                                     const std::string& domain) {
  if (auto it = routes.find(domain); it != routes.end()) return it->second;
  // Domains in the queue are A-labels (SMTPUTF8); a route may name the
  // domain with U-labels ("例え.テスト" = "xn--r8jz45g.xn--zckzah").
  for (const auto& [key, target] : routes) {
    if (mail::is_ascii(key)) continue;
    if (auto a = mail::domain_to_ascii(key); a && *a == domain) return target;
  }
  if (auto it = routes.find("*"); it != routes.end()) return it->second;
  return std::nullopt;
}

bool is_null_mx(const std::vector<net::MxRecord>& records) {
  return records.size() == 1 && (records[0].host.empty() || records[0].host == ".");
}

std::vector<NextHop> order_mx(const std::vector<net::MxRecord>& records, std::uint16_t port,
                              std::uint32_t seed) {
  std::vector<net::MxRecord> sorted;
  for (const auto& r : records)
    if (!r.host.empty() && r.host != ".") sorted.push_back(r);
  std::minstd_rand rng(seed);
  std::shuffle(sorted.begin(), sorted.end(), rng);  // random order within a preference...
  std::stable_sort(
      sorted.begin(), sorted.end(),  // ...kept by the stable sort
      [](const net::MxRecord& a, const net::MxRecord& b) { return a.preference < b.preference; });
  std::vector<NextHop> out;
  for (const auto& r : sorted) {
    bool seen =
        std::any_of(out.begin(), out.end(), [&](const NextHop& h) { return h.host == r.host; });
    if (!seen) out.push_back(NextHop{r.host, port, false, r.preference});
  }
  return out;
}

std::string destination_key(const std::map<std::string, std::string>& routes,
                            const std::string& domain) {
  if (auto r = route_for(routes, domain)) return "route:" + *r;
  return domain;
}

std::string domain_of(const std::string& address) {
  auto at = address.rfind('@');
  return lower(at == std::string::npos ? std::string() : address.substr(at + 1));
}

}  // namespace tegami::server
