// A tiny DNS server for resolver tests: one UDP socket on 127.0.0.1, port
// chosen by the system, answering from a table (never the system resolver).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "net/asio.hpp"

namespace tegami::net {

constexpr std::uint16_t kTypeA = 1, kTypePtr = 12, kTypeMx = 15, kTypeTxt = 16, kTypeAaaa = 28;

struct FakeAnswer {
  int rcode = 0;                                          // 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN
  std::vector<std::pair<std::uint16_t, std::string>> mx;  // preference, exchange ("" = root)
  std::vector<std::string> a;                             // dotted quads
  std::vector<std::string> aaaa;                          // IPv6 text
  std::vector<std::vector<std::string>> txt;              // records of character-strings
  std::vector<std::string> ptr;                           // target names
  bool silent = false;                                    // never answer (timeouts)
};

inline void put16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

inline void put_name(std::string& out, const std::string& name) {
  std::size_t pos = 0;
  while (pos < name.size()) {
    auto dot = name.find('.', pos);
    if (dot == std::string::npos) dot = name.size();
    out += static_cast<char>(dot - pos);
    out += name.substr(pos, dot - pos);
    pos = dot + 1;
  }
  out += '\0';
}

// A tiny authoritative-looking DNS server: one UDP socket, answers from `zone`.
class FakeDns {
 public:
  explicit FakeDns(asio::io_context& ioc)
      : socket_(ioc, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    receive();
  }
  std::uint16_t port() const { return socket_.local_endpoint().port(); }
  std::map<std::pair<std::string, std::uint16_t>, FakeAnswer> zone;
  int queries = 0;

 private:
  void receive() {
    socket_.async_receive_from(asio::buffer(buf_), from_,
                               [this](std::error_code ec, std::size_t n) {
                                 if (ec) return;
                                 answer(std::string(buf_.data(), n));
                                 receive();
                               });
  }
  void answer(const std::string& q) {
    ++queries;
    if (q.size() < 17) return;
    // Question: QNAME labels, QTYPE, QCLASS.
    std::size_t pos = 12;
    std::string name;
    while (pos < q.size() && q[pos] != 0) {
      std::size_t len = static_cast<unsigned char>(q[pos]);
      if (!name.empty()) name += '.';
      name += q.substr(pos + 1, len);
      pos += 1 + len;
    }
    pos += 1;
    if (pos + 4 > q.size()) return;
    std::uint16_t type = static_cast<std::uint16_t>((static_cast<unsigned char>(q[pos]) << 8) |
                                                    static_cast<unsigned char>(q[pos + 1]));
    std::string question = q.substr(12, pos + 4 - 12);
    FakeAnswer a;
    auto it = zone.find({name, type});
    if (it != zone.end()) {
      a = it->second;
    } else {
      bool known = false;
      for (const auto& [k, v] : zone) known = known || k.first == name;
      a.rcode = known ? 0 : 3;  // the name exists with other types: NODATA; else NXDOMAIN
    }
    if (a.silent) return;
    std::string rrs;
    std::uint16_t count = 0;
    auto rr = [&](std::uint16_t t, const std::string& rdata) {
      put16(rrs, 0xC00C);  // the question's name
      put16(rrs, t);
      put16(rrs, 1);  // IN
      put16(rrs, 0);
      put16(rrs, 300);  // TTL
      put16(rrs, static_cast<std::uint16_t>(rdata.size()));
      rrs += rdata;
      ++count;
    };
    for (const auto& [pref, host] : a.mx) {
      std::string rdata;
      put16(rdata, pref);
      put_name(rdata, host);
      rr(kTypeMx, rdata);
    }
    for (const auto& strings : a.txt) {
      std::string rdata;
      for (const auto& s : strings) {
        rdata += static_cast<char>(s.size());
        rdata += s;
      }
      rr(kTypeTxt, rdata);
    }
    for (const auto& target : a.ptr) {
      std::string rdata;
      put_name(rdata, target);
      rr(kTypePtr, rdata);
    }
    for (const auto& ip : a.a) {
      auto b = asio::ip::make_address_v4(ip).to_bytes();
      rr(kTypeA, std::string(b.begin(), b.end()));
    }
    for (const auto& ip : a.aaaa) {
      auto b = asio::ip::make_address_v6(ip).to_bytes();
      rr(kTypeAaaa, std::string(b.begin(), b.end()));
    }
    std::string out = q.substr(0, 2);                          // id
    put16(out, static_cast<std::uint16_t>(0x8180 | a.rcode));  // QR RD RA, rcode
    put16(out, 1);
    put16(out, count);
    put16(out, 0);
    put16(out, 0);
    out += question + rrs;
    reply_ = out;
    socket_.send_to(asio::buffer(reply_), from_);
  }

  asio::ip::udp::socket socket_;
  asio::ip::udp::endpoint from_;
  std::array<char, 1500> buf_{};
  std::string reply_;
};

}  // namespace tegami::net
