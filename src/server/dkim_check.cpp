#include "server/dkim_check.hpp"

namespace tegami::server {

net::awaitable<void> lookup_dkim_keys(net::DnsResolver& resolver, dkim::DkimVerifier& verifier,
                                      std::chrono::steady_clock::time_point deadline) {
  for (const auto& name : verifier.key_queries()) {
    mailauth::DnsAnswer answer;  // kTempFail unless the lookup says otherwise
    if (std::chrono::steady_clock::now() < deadline) {
      auto a = co_await resolver.lookup_txt(name, deadline);
      switch (a.status) {
        case net::DnsStatus::kOk:
          answer.rcode = mailauth::DnsRcode::kOk;
          answer.txt = std::move(a.records);
          break;
        case net::DnsStatus::kNoData:
          answer.rcode = mailauth::DnsRcode::kNoData;
          break;
        case net::DnsStatus::kNotFound:
        case net::DnsStatus::kBadName:
          answer.rcode = mailauth::DnsRcode::kNotFound;
          break;
        case net::DnsStatus::kTempFail:
          break;
      }
      if (std::chrono::steady_clock::now() >= deadline) answer = mailauth::DnsAnswer{};
    }
    verifier.feed_key(name, answer);
  }
}

}  // namespace tegami::server
