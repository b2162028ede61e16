#include "server/spf_check.hpp"

#include <cstring>
#include <variant>

namespace tegami::server {

namespace {

using mailauth::DnsAnswer;
using mailauth::DnsQuestion;
using mailauth::DnsRcode;
using mailauth::DnsType;

DnsRcode rcode_of(net::DnsStatus s) {
  switch (s) {
    case net::DnsStatus::kOk:
      return DnsRcode::kOk;
    case net::DnsStatus::kNoData:
      return DnsRcode::kNoData;
    case net::DnsStatus::kNotFound:
    case net::DnsStatus::kBadName:  // a name DNS cannot hold does not exist
      return DnsRcode::kNotFound;
    case net::DnsStatus::kTempFail:
      return DnsRcode::kTempFail;
  }
  return DnsRcode::kTempFail;
}

net::awaitable<DnsAnswer> ask(net::DnsResolver& resolver, const DnsQuestion& q,
                              net::DnsResolver::Deadline deadline) {
  DnsAnswer out;
  switch (q.type) {
    case DnsType::kTxt: {
      auto a = co_await resolver.lookup_txt(q.name, deadline);
      out.rcode = rcode_of(a.status);
      out.txt = std::move(a.records);
      break;
    }
    case DnsType::kA:
    case DnsType::kAaaa: {
      net::AddressAnswer a;  // (no co_await inside ?:, which GCC 12 miscompiles at times)
      if (q.type == DnsType::kA) {
        a = co_await resolver.lookup_a(q.name, deadline);
      } else {
        a = co_await resolver.lookup_aaaa(q.name, deadline);
      }
      out.rcode = rcode_of(a.status);
      for (const auto& addr : a.addresses) {
        mailauth::IpAddress ip;
        if (addr.is_v4()) {
          auto b = addr.to_v4().to_bytes();
          std::memcpy(ip.bytes.data(), b.data(), b.size());
        } else {
          ip.v6 = true;  // as published, even if IPv4-mapped: AAAA is compared as IPv6
          auto b = addr.to_v6().to_bytes();
          std::memcpy(ip.bytes.data(), b.data(), b.size());
        }
        out.addresses.push_back(ip);
      }
      break;
    }
    case DnsType::kMx: {
      auto a = co_await resolver.lookup_mx(q.name, deadline);
      out.rcode = rcode_of(a.status);
      for (const auto& r : a.records) out.names.push_back(r.host);
      break;
    }
    case DnsType::kPtr: {
      auto a = co_await resolver.lookup_ptr(q.name, deadline);
      out.rcode = rcode_of(a.status);
      out.names = std::move(a.names);
      break;
    }
  }
  co_return out;
}

}  // namespace

mailauth::IpAddress spf_address(const asio::ip::address& address) {
  mailauth::IpAddress ip;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    auto b = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_bytes();
    std::memcpy(ip.bytes.data(), b.data(), b.size());
  } else if (address.is_v4()) {
    auto b = address.to_v4().to_bytes();
    std::memcpy(ip.bytes.data(), b.data(), b.size());
  } else {
    ip.v6 = true;
    auto b = address.to_v6().to_bytes();
    std::memcpy(ip.bytes.data(), b.data(), b.size());
  }
  return ip;
}

net::awaitable<mailauth::SpfOutcome> check_spf(net::DnsResolver& resolver, mailauth::SpfQuery query,
                                               std::chrono::steady_clock::time_point deadline) {
  mailauth::SpfCheck check(std::move(query));
  int asked = 0;
  for (;;) {
    auto step = check.step();
    if (auto* done = std::get_if<mailauth::SpfOutcome>(&step)) co_return std::move(*done);
    auto question = std::get<DnsQuestion>(std::move(step));
    DnsAnswer answer;
    if (std::chrono::steady_clock::now() < deadline) {
      answer = co_await ask(resolver, question, deadline);
      ++asked;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      mailauth::SpfOutcome out;
      out.result = mailauth::SpfResult::kTempError;
      out.problem = "SPF check deadline reached (" + std::to_string(asked) +
                    " DNS questions, waiting for " + std::string(to_string(question.type)) + " " +
                    question.name + ")";
      out.questions = asked;
      co_return out;
    }
    check.feed(std::move(answer));
  }
}

}  // namespace tegami::server
