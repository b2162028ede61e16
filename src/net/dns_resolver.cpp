#include "net/dns_resolver.hpp"

#include <ares.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <cstring>

#include "core/log.hpp"

namespace tegami::net {

namespace {

DnsStatus status_of(int ares_status) {
  switch (ares_status) {
    case ARES_SUCCESS:
      return DnsStatus::kOk;
    case ARES_ENODATA:
      return DnsStatus::kNoData;
    case ARES_ENOTFOUND:
      return DnsStatus::kNotFound;
    case ARES_EBADNAME:
      return DnsStatus::kBadName;
    default:
      return DnsStatus::kTempFail;  // SERVFAIL, timeout, refused, bad response...
  }
}

std::string lower_host(const char* name) {
  std::string s = name ? name : "";
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// One initialisation of the c-ares library per process, before any channel.
struct AresLibrary {
  AresLibrary() : status(ares_library_init(ARES_LIB_INIT_ALL)) {}
  ~AresLibrary() {
    if (status == ARES_SUCCESS) ares_library_cleanup();
  }
  int status;
};

int ares_library_status() {
  static AresLibrary lib;
  return lib.status;
}

// The addresses of a parsed A (AF_INET) or AAAA (AF_INET6) answer.
void append_addresses(const hostent* he, int family, std::vector<asio::ip::address>& out) {
  for (char** p = he->h_addr_list; p && *p; ++p) {
    if (family == AF_INET) {
      asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), *p, b.size());
      out.emplace_back(asio::ip::address_v4(b));
    } else {
      asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), *p, b.size());
      out.emplace_back(asio::ip::address_v6(b));
    }
  }
}

}  // namespace

std::string_view to_string(DnsStatus s) {
  switch (s) {
    case DnsStatus::kOk:
      return "ok";
    case DnsStatus::kNoData:
      return "no data";
    case DnsStatus::kNotFound:
      return "not found";
    case DnsStatus::kBadName:
      return "bad name";
    case DnsStatus::kTempFail:
      return "temporary failure";
  }
  return "?";
}

// A lookup in flight; lives in the awaiting coroutine's frame.
struct DnsResolver::Query {
  explicit Query(DnsResolver* r)
      : self(r), event(r->executor_, std::chrono::steady_clock::time_point::max()) {}
  DnsResolver* self;
  asio::steady_timer event;  // cancelled when the answer arrives
  bool done = false;
  int status = ARES_ETIMEOUT;
  std::string answer;            // the raw DNS message
  std::shared_ptr<Query> owner;  // heap queries: c-ares' reference until the answer
};

DnsResolver::DnsResolver(asio::any_io_executor executor)
    : executor_(std::move(executor)), alive_(std::make_shared<bool>(true)) {}

Result<std::unique_ptr<DnsResolver>> DnsResolver::create(asio::any_io_executor executor,
                                                         const std::vector<std::string>& servers) {
  if (int st = ares_library_status(); st != ARES_SUCCESS)
    return fail(Error::perm(std::string("c-ares: ") + ares_strerror(st)));
  std::unique_ptr<DnsResolver> r(new DnsResolver(std::move(executor)));
  ares_options opts{};
  opts.sock_state_cb = [](void* data, ares_socket_t fd, int readable, int writable) {
    on_socket_state(data, fd, readable, writable);
  };
  opts.sock_state_cb_data = r.get();
  opts.timeout = kTimeoutMs;
  opts.tries = kTries;
  ares_channel channel = nullptr;
  int st = ares_init_options(&channel, &opts,
                             ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (st != ARES_SUCCESS)
    return fail(Error::perm(std::string("c-ares initialisation failed: ") + ares_strerror(st)));
  r->channel_ = channel;
  if (!servers.empty()) {
    std::string csv;
    for (const auto& s : servers) {
      if (s.empty() || s.find(',') != std::string::npos)
        return fail(Error::perm("bad DNS server '" + s + "'"));
      if (!csv.empty()) csv += ",";
      csv += s;
    }
    st = ares_set_servers_ports_csv(channel, csv.c_str());
    if (st != ARES_SUCCESS)
      return fail(Error::perm("bad [dns] servers \"" + csv + "\": " + ares_strerror(st)));
  }
  return r;
}

DnsResolver::~DnsResolver() {
  *alive_ = false;
  // Completes every pending lookup with ARES_EDESTRUCTION (a temporary failure).
  if (channel_) ares_destroy(channel_);
}

void DnsResolver::on_socket_state(void* data, int fd, int readable, int writable) {
  auto* self = static_cast<DnsResolver*>(data);
  if (!readable && !writable) {
    self->sockets_.erase(fd);
  } else {
    self->sockets_[fd] = {readable != 0, writable != 0};
  }
}

void DnsResolver::on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf,
                            int alen) {
  auto* q = static_cast<Query*>(arg);
  std::shared_ptr<Query> keep = std::move(q->owner);  // a heap query may die with `keep`
  q->status = status;
  if (abuf && alen > 0)
    q->answer.assign(reinterpret_cast<const char*>(abuf), static_cast<std::size_t>(alen));
  q->done = true;
  --q->self->pending_;
  q->event.cancel();
}

void DnsResolver::start(Query& q, const std::string& name, int type) {
  ++pending_;
  ares_query(channel_, name.c_str(), ns_c_in, type, &DnsResolver::on_answer, &q);
  ensure_pump();
}

awaitable<void> DnsResolver::wait(Query& q) {
  while (!q.done) co_await q.event.async_wait(kNoThrow);
}

void DnsResolver::ensure_pump() {
  if (pumping_ || pending_ == 0) return;
  pumping_ = true;
  asio::co_spawn(executor_, pump(), asio::detached);
}

awaitable<void> DnsResolver::pump() {
  std::shared_ptr<bool> alive = alive_;
  asio::steady_timer tick(executor_);
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    for (const auto& [fd, rw] : sockets_) {
      short ev = static_cast<short>((rw.first ? POLLIN : 0) | (rw.second ? POLLOUT : 0));
      fds.push_back(pollfd{fd, ev, 0});
    }
    if (!fds.empty() && ::poll(fds.data(), fds.size(), 0) > 0) {
      for (const auto& p : fds) {
        bool r = p.revents & (POLLIN | POLLERR | POLLHUP);
        bool w = p.revents & (POLLOUT | POLLERR | POLLHUP);
        if (r || w)
          ares_process_fd(channel_, r ? p.fd : ARES_SOCKET_BAD, w ? p.fd : ARES_SOCKET_BAD);
      }
    }
    ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts and retries
    if (pending_ == 0) break;
    tick.expires_after(kPumpInterval);
    co_await tick.async_wait(kNoThrow);
    if (!*alive) co_return;  // the resolver is gone
  }
  pumping_ = false;
}

// A hosts-file-or-DNS lookup in flight (ares_gethostbyaddr/byname).
struct DnsResolver::HostQuery {
  explicit HostQuery(DnsResolver* r)
      : self(r), event(r->executor_, std::chrono::steady_clock::time_point::max()) {}
  DnsResolver* self;
  asio::steady_timer event;
  bool done = false;
  int status = ARES_ETIMEOUT;
  std::vector<std::string> names;            // h_name, then the aliases
  std::vector<asio::ip::address> addresses;  // h_addr_list
};

void DnsResolver::on_host(void* arg, int status, int /*timeouts*/, hostent* host) {
  auto* q = static_cast<HostQuery*>(arg);
  q->status = status;
  if (status == ARES_SUCCESS && host != nullptr) {
    if (host->h_name != nullptr) q->names.push_back(lower_host(host->h_name));
    for (char** a = host->h_aliases; a && *a; ++a) q->names.push_back(lower_host(*a));
    for (char** p = host->h_addr_list; p && *p; ++p) {
      if (host->h_addrtype == AF_INET) {
        asio::ip::address_v4::bytes_type b;
        std::memcpy(b.data(), *p, b.size());
        q->addresses.emplace_back(asio::ip::address_v4(b));
      } else if (host->h_addrtype == AF_INET6) {
        asio::ip::address_v6::bytes_type b;
        std::memcpy(b.data(), *p, b.size());
        q->addresses.emplace_back(asio::ip::address_v6(b));
      }
    }
  }
  q->done = true;
  --q->self->pending_;
  q->event.cancel();
}

awaitable<std::string> DnsResolver::verified_name(const asio::ip::address& address) {
  std::vector<std::string> names;
  {
    HostQuery q(this);
    ++pending_;
    if (address.is_v4()) {
      auto b = address.to_v4().to_bytes();
      ares_gethostbyaddr(channel_, b.data(), static_cast<int>(b.size()), AF_INET,
                         &DnsResolver::on_host, &q);
    } else {
      auto b = address.to_v6().to_bytes();
      ares_gethostbyaddr(channel_, b.data(), static_cast<int>(b.size()), AF_INET6,
                         &DnsResolver::on_host, &q);
    }
    ensure_pump();
    while (!q.done) co_await q.event.async_wait(kNoThrow);
    if (q.status != ARES_SUCCESS) co_return std::string();
    names = std::move(q.names);
  }
  if (names.size() > kMaxPtrNames) names.resize(kMaxPtrNames);
  for (const auto& name : names) {
    // Only a plausible host name goes on (it ends up in Received: fields).
    bool plausible = !name.empty() && name.size() <= 253;
    for (char c : name)
      plausible = plausible && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                                c == '.' || c == '_');
    if (!plausible) continue;
    HostQuery q(this);
    ++pending_;
    ares_gethostbyname(channel_, name.c_str(), address.is_v4() ? AF_INET : AF_INET6,
                       &DnsResolver::on_host, &q);
    ensure_pump();
    while (!q.done) co_await q.event.async_wait(kNoThrow);
    if (q.status != ARES_SUCCESS) continue;
    for (const auto& a : q.addresses)
      if (a == address) co_return name;
  }
  co_return std::string();
}

namespace {

MxAnswer parse_mx(int status, const std::string& answer) {
  MxAnswer out;
  out.status = status_of(status);
  if (out.status != DnsStatus::kOk) {
    out.error = ares_strerror(status);
    return out;
  }
  ares_mx_reply* mx = nullptr;
  int st = ares_parse_mx_reply(reinterpret_cast<const unsigned char*>(answer.data()),
                               static_cast<int>(answer.size()), &mx);
  if (st != ARES_SUCCESS) {
    out.status = st == ARES_ENODATA ? DnsStatus::kNoData : DnsStatus::kTempFail;
    out.error = ares_strerror(st);
    return out;
  }
  for (auto* p = mx; p; p = p->next)
    out.records.push_back(MxRecord{p->priority, lower_host(p->host)});
  ares_free_data(mx);
  if (out.records.empty()) {
    out.status = DnsStatus::kNoData;
    out.error = "no MX records";
  }
  return out;
}

}  // namespace

awaitable<MxAnswer> DnsResolver::lookup_mx(const std::string& domain) {
  Query q(this);
  start(q, domain, ns_t_mx);
  co_await wait(q);
  co_return parse_mx(q.status, q.answer);
}

awaitable<MxAnswer> DnsResolver::lookup_mx(std::string domain, Deadline deadline) {
  auto q = co_await query(domain, ns_t_mx, deadline);
  if (!q->done) {
    MxAnswer out;
    out.error = "deadline reached";
    co_return out;
  }
  co_return parse_mx(q->status, q->answer);
}

awaitable<AddressAnswer> DnsResolver::lookup_addresses(const std::string& host) {
  Query a(this), aaaa(this);
  start(a, host, ns_t_a);
  start(aaaa, host, ns_t_aaaa);
  co_await wait(a);
  co_await wait(aaaa);
  AddressAnswer out;
  auto collect = [&out](const Query& q, int family) {
    if (q.status != ARES_SUCCESS) return status_of(q.status);
    hostent* he = nullptr;
    const auto* buf = reinterpret_cast<const unsigned char*>(q.answer.data());
    int len = static_cast<int>(q.answer.size());
    int st = family == AF_INET ? ares_parse_a_reply(buf, len, &he, nullptr, nullptr)
                               : ares_parse_aaaa_reply(buf, len, &he, nullptr, nullptr);
    if (st != ARES_SUCCESS) return st == ARES_ENODATA ? DnsStatus::kNoData : DnsStatus::kTempFail;
    append_addresses(he, family, out.addresses);
    ares_free_hostent(he);
    return DnsStatus::kOk;
  };
  DnsStatus s4 = collect(a, AF_INET), s6 = collect(aaaa, AF_INET6);
  if (!out.addresses.empty()) {
    out.status = DnsStatus::kOk;
  } else if (s4 == DnsStatus::kTempFail || s6 == DnsStatus::kTempFail) {
    out.status = DnsStatus::kTempFail;  // one family may still have answers: try later
  } else if (s4 == DnsStatus::kNotFound && s6 == DnsStatus::kNotFound) {
    out.status = DnsStatus::kNotFound;
  } else if (s4 == DnsStatus::kBadName || s6 == DnsStatus::kBadName) {
    out.status = DnsStatus::kBadName;
  } else {
    out.status = DnsStatus::kNoData;
  }
  if (out.status == DnsStatus::kNoData) {
    out.error = "no A or AAAA records";
  } else if (out.status != DnsStatus::kOk) {
    out.error = ares_strerror(a.status != ARES_SUCCESS ? a.status : aaaa.status);
  }
  co_return out;
}

awaitable<std::shared_ptr<DnsResolver::Query>> DnsResolver::query(const std::string& name, int type,
                                                                  Deadline deadline) {
  auto q = std::make_shared<Query>(this);
  q->owner = q;
  q->event.expires_at(deadline);
  start(*q, name, type);
  while (!q->done) {
    auto [ec] = co_await q->event.async_wait(kNoThrow);
    if (!ec && !q->done) break;  // the deadline, not the answer
  }
  co_return q;
}

namespace {

constexpr const char* kDeadline = "deadline reached";

// The common start of an answer: false when `out` is already final (the
// deadline passed, or DNS said no); true when the records are to be read.
template <class Q, class Answer>
bool answered(const Q& q, Answer& out) {
  if (!q.done) {
    out.error = kDeadline;
    return false;
  }
  out.status = status_of(q.status);
  if (out.status != DnsStatus::kOk) {
    out.error = ares_strerror(q.status);
    return false;
  }
  return true;
}

}  // namespace

awaitable<TxtAnswer> DnsResolver::lookup_txt(std::string name, Deadline deadline) {
  auto q = co_await query(name, ns_t_txt, deadline);
  TxtAnswer out;
  if (!answered(*q, out)) co_return out;
  ares_txt_ext* txt = nullptr;
  int st = ares_parse_txt_reply_ext(reinterpret_cast<const unsigned char*>(q->answer.data()),
                                    static_cast<int>(q->answer.size()), &txt);
  if (st != ARES_SUCCESS) {
    out.status = st == ARES_ENODATA ? DnsStatus::kNoData : DnsStatus::kTempFail;
    out.error = ares_strerror(st);
    co_return out;
  }
  for (auto* p = txt; p; p = p->next) {
    if (p->record_start || out.records.empty()) out.records.emplace_back();
    out.records.back().emplace_back(reinterpret_cast<const char*>(p->txt), p->length);
  }
  ares_free_data(txt);
  if (out.records.empty()) {
    out.status = DnsStatus::kNoData;
    out.error = "no TXT records";
  }
  co_return out;
}

awaitable<AddressAnswer> DnsResolver::lookup_family(std::string name, int family,
                                                    Deadline deadline) {
  auto q = co_await query(name, family == AF_INET ? ns_t_a : ns_t_aaaa, deadline);
  AddressAnswer out;
  if (!answered(*q, out)) co_return out;
  hostent* he = nullptr;
  const auto* buf = reinterpret_cast<const unsigned char*>(q->answer.data());
  int len = static_cast<int>(q->answer.size());
  int st = family == AF_INET ? ares_parse_a_reply(buf, len, &he, nullptr, nullptr)
                             : ares_parse_aaaa_reply(buf, len, &he, nullptr, nullptr);
  if (st != ARES_SUCCESS) {
    out.status = st == ARES_ENODATA ? DnsStatus::kNoData : DnsStatus::kTempFail;
    out.error = ares_strerror(st);
    co_return out;
  }
  append_addresses(he, family, out.addresses);
  ares_free_hostent(he);
  if (out.addresses.empty()) {
    out.status = DnsStatus::kNoData;
    out.error = "no address records";
  }
  co_return out;
}

awaitable<AddressAnswer> DnsResolver::lookup_a(std::string name, Deadline deadline) {
  return lookup_family(std::move(name), AF_INET, deadline);
}

awaitable<AddressAnswer> DnsResolver::lookup_aaaa(std::string name, Deadline deadline) {
  return lookup_family(std::move(name), AF_INET6, deadline);
}

awaitable<NameAnswer> DnsResolver::lookup_ptr(std::string reverse_name, Deadline deadline) {
  auto q = co_await query(reverse_name, ns_t_ptr, deadline);
  NameAnswer out;
  if (!answered(*q, out)) co_return out;
  // c-ares wants the address the names belong to; only its family matters
  // here (it is copied into the hostent, which we do not read).
  bool v4 =
      reverse_name.size() >= 13 && lower_host(reverse_name.c_str()).ends_with(".in-addr.arpa");
  unsigned char addr[16] = {};
  hostent* he = nullptr;
  int st = ares_parse_ptr_reply(reinterpret_cast<const unsigned char*>(q->answer.data()),
                                static_cast<int>(q->answer.size()), addr, v4 ? 4 : 16,
                                v4 ? AF_INET : AF_INET6, &he);
  if (st != ARES_SUCCESS) {
    out.status = st == ARES_ENODATA ? DnsStatus::kNoData : DnsStatus::kTempFail;
    out.error = ares_strerror(st);
    co_return out;
  }
  // c-ares versions differ on where the names go (1.18: every name among
  // the aliases and the last one also as h_name): aliases, then h_name,
  // each name once.
  auto add = [&out](const char* n) {
    std::string name = lower_host(n);
    if (std::find(out.names.begin(), out.names.end(), name) == out.names.end())
      out.names.push_back(std::move(name));
  };
  for (char** a = he->h_aliases; a && *a; ++a) add(*a);
  if (he->h_name != nullptr) add(he->h_name);
  ares_free_hostent(he);
  if (out.names.empty()) {
    out.status = DnsStatus::kNoData;
    out.error = "no PTR records";
  }
  co_return out;
}

}  // namespace tegami::net
