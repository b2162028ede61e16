// DnsResolver: asynchronous MX, A and AAAA lookups with c-ares, inside the
// io_context (DESIGN §2 net): a lookup costs a few hundred bytes and no
// thread, however slow the DNS server.
//
// How it runs: c-ares owns its sockets and tells us which ones it uses (the
// socket-state callback); while queries are pending, a pump coroutine polls
// those sockets without blocking (poll() with timeout 0), lets c-ares read
// and write them (ares_process_fd) and process its timeouts and retries,
// then sleeps kPumpInterval on an asio timer. Polling instead of
// registering c-ares' descriptors with the reactor keeps the descriptors'
// lifetime entirely c-ares' business (it closes them as it likes) at the
// price of at most kPumpInterval of latency per round trip.
//
// Invariants: every call (and the destruction) happens on the executor
// given at creation, which must be a strand or a single-threaded context:
// c-ares channels are not thread-safe, and the answer callbacks resume the
// waiting coroutines there. The resolver must be destroyed before its
// io_context (pending lookups then complete with a temporary failure).
//
// RFC 1035 (DNS), RFC 5321 §5.1 (what the results are used for), RFC 7505
// (null MX: an MX record whose exchange is "." is reported as host "").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "net/asio.hpp"

struct ares_channeldata;

namespace tegami::net {

enum class DnsStatus {
  kOk,        // records found
  kNoData,    // the name exists, but has no records of this type
  kNotFound,  // NXDOMAIN: the name does not exist
  kBadName,   // not a valid DNS name
  kTempFail,  // SERVFAIL, timeout, refused, unreachable server...: try later
};

std::string_view to_string(DnsStatus s);

struct MxRecord {
  std::uint16_t preference = 0;
  std::string host;  // lower case, no trailing dot; "" for the null MX "." (RFC 7505)
};

struct MxAnswer {
  DnsStatus status = DnsStatus::kTempFail;
  std::vector<MxRecord> records;  // in answer order
  std::string error;              // c-ares' explanation when status != kOk
};

struct AddressAnswer {
  DnsStatus status = DnsStatus::kTempFail;
  std::vector<asio::ip::address> addresses;  // A records first, then AAAA
  std::string error;
};

struct TxtAnswer {
  DnsStatus status = DnsStatus::kTempFail;
  // One entry per TXT record, each its character-strings in order, kept
  // apart: what joins them is the reader's business (SPF concatenates them
  // without spaces, RFC 7208 §3.3).
  std::vector<std::vector<std::string>> records;
  std::string error;
};

struct NameAnswer {
  DnsStatus status = DnsStatus::kTempFail;
  std::vector<std::string> names;  // PTR targets: lower case, no trailing dot, answer order
  std::string error;
};

class DnsResolver {
 public:
  // How often the pump looks at c-ares' sockets while lookups are pending.
  static constexpr std::chrono::milliseconds kPumpInterval{5};
  // Per-try timeout and tries per server (c-ares doubles the timeout per round).
  static constexpr int kTimeoutMs = 2000;
  static constexpr int kTries = 3;

  // `servers`: "IP", "IP:PORT" or "[IPv6]:PORT"; empty: /etc/resolv.conf.
  // A permanent Error names a server that c-ares does not accept.
  static Result<std::unique_ptr<DnsResolver>> create(asio::any_io_executor executor,
                                                     const std::vector<std::string>& servers);
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  // The MX records of `domain`. `domain` must outlive the call.
  awaitable<MxAnswer> lookup_mx(const std::string& domain);
  // The same, giving up at `deadline` (see the single-type lookups below).
  awaitable<MxAnswer> lookup_mx(std::string domain, std::chrono::steady_clock::time_point deadline);
  // The A and AAAA records of `host` (both asked at once). kOk when either
  // has records; kNotFound only when both say NXDOMAIN.
  awaitable<AddressAnswer> lookup_addresses(const std::string& host);
  // The client's forward-confirmed host name, or "" (issue 14: the inbound
  // reverse lookup, never on a worker thread): the PTR names of `address`,
  // each looked up again in the address's family until one resolves back
  // to it (anybody controlling their PTR record could claim any name
  // otherwise). Like getnameinfo/getaddrinfo, the hosts file is read before
  // DNS (c-ares' "fb" lookup order). At most kMaxPtrNames names are tried.
  awaitable<std::string> verified_name(const asio::ip::address& address);
  static constexpr std::size_t kMaxPtrNames = 4;

  // Single-type lookups for callers that apply their own rules (SPF, RFC
  // 7208 §5: A or AAAA by the client's family, PTR names unverified). Each
  // gives up at `deadline` with kTempFail ("deadline reached"); the query
  // itself stays with c-ares until it answers or times out, so these may
  // also be abandoned (cancelled) safely. `name` need not outlive the call.
  using Deadline = std::chrono::steady_clock::time_point;
  static constexpr Deadline kNoDeadline = Deadline::max();
  awaitable<TxtAnswer> lookup_txt(std::string name, Deadline deadline = kNoDeadline);
  awaitable<AddressAnswer> lookup_a(std::string name, Deadline deadline = kNoDeadline);
  awaitable<AddressAnswer> lookup_aaaa(std::string name, Deadline deadline = kNoDeadline);
  // `reverse_name`: "4.3.2.1.in-addr.arpa" or the nibbles under "ip6.arpa".
  awaitable<NameAnswer> lookup_ptr(std::string reverse_name, Deadline deadline = kNoDeadline);

 private:
  struct Query;
  struct HostQuery;
  static void on_host(void* arg, int status, int timeouts, struct hostent* host);
  explicit DnsResolver(asio::any_io_executor executor);
  // Starts ares_query for `q` and waits for its answer.
  void start(Query& q, const std::string& name, int type);
  awaitable<void> wait(Query& q);
  // A query on the heap, owned by c-ares until it answers: the waiting
  // coroutine may leave at its deadline (or be cancelled) without leaving
  // c-ares a dangling pointer. Returns it done, or not done at the deadline.
  awaitable<std::shared_ptr<Query>> query(const std::string& name, int type, Deadline deadline);
  awaitable<AddressAnswer> lookup_family(std::string name, int family, Deadline deadline);
  void ensure_pump();
  awaitable<void> pump();
  static void on_answer(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  static void on_socket_state(void* data, int fd, int readable, int writable);

  asio::any_io_executor executor_;
  ares_channeldata* channel_ = nullptr;
  std::map<int, std::pair<bool, bool>> sockets_;  // fd -> (wants read, wants write)
  std::size_t pending_ = 0;
  bool pumping_ = false;
  std::shared_ptr<bool> alive_;  // false once destroyed: the pump must not touch us
};

}  // namespace tegami::net
