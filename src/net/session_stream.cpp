#include "net/session_stream.hpp"

namespace tegami::net {

namespace {
std::string ip_text(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}
}  // namespace

SessionStream::SessionStream(tcp::socket s) : socket_(std::move(s)), timer_(socket_.get_executor()) {
  std::error_code ec;
  auto r = socket_.remote_endpoint(ec);
  if (!ec) {
    remote_ip_ = ip_text(r.address());
    remote_port_ = r.port();
  }
  auto l = socket_.local_endpoint(ec);
  if (!ec) {
    local_ip_ = ip_text(l.address());
    local_port_ = l.port();
  }
  socket_.set_option(tcp::no_delay(true), ec);
}

awaitable<std::pair<std::error_code, std::size_t>> SessionStream::read_some(char* buf,
                                                                            std::size_t n) {
  auto [ec, got] = co_await socket_.async_read_some(asio::buffer(buf, n), kNoThrow);
  if (timed_out_) ec = asio::error::timed_out;
  co_return std::pair{ec, got};
}

awaitable<std::error_code> SessionStream::write_all(std::string_view data) {
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(data.data(), data.size()),
                                            kNoThrow);
  (void)n;
  if (timed_out_) ec = asio::error::timed_out;
  co_return ec;
}

void SessionStream::expires_after(clock::duration d) {
  auto next = clock::now() + d;
  bool sooner = next < expiry_;
  expiry_ = next;
  if (sooner) timer_.cancel();  // wake the watchdog to re-arm
}

awaitable<void> SessionStream::watchdog() {
  while (!closed_) {
    timer_.expires_at(expiry_);
    co_await timer_.async_wait(kNoThrow);
    if (closed_) break;
    if (expiry_ > clock::now()) continue;  // moved, or woken to re-arm
    std::error_code ignored;
    if (!timed_out_) {
      timed_out_ = true;
      expiry_ = clock::time_point::max();
      socket_.cancel(ignored);
      continue;
    }
    socket_.close(ignored);
    break;
  }
}

std::size_t SessionStream::available() {
  std::error_code ec;
  auto n = socket_.available(ec);
  return ec ? 0 : n;
}

void SessionStream::cancel() {
  std::error_code ec;
  socket_.cancel(ec);
}

void SessionStream::close() {
  closed_ = true;
  std::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  timer_.cancel();
}

}  // namespace tegami::net
