// SessionStream: the byte stream of one client connection, with a deadline.
//
// Every read and write runs under the stream's deadline (DESIGN rule 7): a
// watchdog coroutine closes the socket when the deadline passes, so a slow or
// silent client costs one timer, not a thread. The TLS issue adds an
// ssl::stream variant behind the same interface.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "net/asio.hpp"

namespace tegami::net {

class SessionStream {
 public:
  using clock = std::chrono::steady_clock;

  explicit SessionStream(tcp::socket s);

  // Reads what is available (at least one byte). Error on EOF, reset, timeout.
  awaitable<std::pair<std::error_code, std::size_t>> read_some(char* buf, std::size_t n);
  awaitable<std::error_code> write_all(std::string_view data);

  // Sets the deadline for the next operations.
  void expires_after(clock::duration d);
  bool timed_out() const { return timed_out_; }
  // Runs until the stream is closed. When the deadline passes it cancels the
  // pending operation (timed_out() becomes true, so the session can still
  // say goodbye under a new deadline); when a deadline passes again after
  // that, it closes the socket.
  awaitable<void> watchdog();

  // Bytes the client already sent that we have not read (pre-greeting detection).
  std::size_t available();
  void cancel();
  void close();

  const std::string& remote_ip() const { return remote_ip_; }
  std::uint16_t remote_port() const { return remote_port_; }
  const std::string& local_ip() const { return local_ip_; }
  std::uint16_t local_port() const { return local_port_; }
  tcp::socket::executor_type executor() { return socket_.get_executor(); }

 private:
  tcp::socket socket_;
  asio::steady_timer timer_;
  clock::time_point expiry_ = clock::time_point::max();
  bool timed_out_ = false;
  bool closed_ = false;
  std::string remote_ip_, local_ip_;
  std::uint16_t remote_port_ = 0, local_port_ = 0;
};

}  // namespace tegami::net
