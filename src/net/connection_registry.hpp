// ConnectionRegistry: admission control and graceful shutdown for sessions.
//
// Caps connections in total and per client IP (so one host cannot take every
// slot), and lets the server interrupt idle sessions when it stops: each
// session registers an `interrupt` callback that must be safe to call from
// any thread (sessions post it to their own strand). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tegami::net {

class ConnectionRegistry {
 public:
  enum class Admit { Ok, TooMany, TooManyFromIp, Stopping };

  class Ticket {
   public:
    Ticket() = default;
    Ticket(ConnectionRegistry* r, std::uint64_t id) : reg_(r), id_(id) {}
    Ticket(Ticket&& o) noexcept : reg_(o.reg_), id_(o.id_) { o.reg_ = nullptr; }
    Ticket& operator=(Ticket&& o) noexcept;
    ~Ticket() { release(); }
    void release();
    std::uint64_t id() const { return id_; }

   private:
    ConnectionRegistry* reg_ = nullptr;
    std::uint64_t id_ = 0;
  };

  ConnectionRegistry(std::size_t max_total, std::size_t max_per_ip)
      : max_total_(max_total), max_per_ip_(max_per_ip) {}

  // On Ok, `ticket` holds the slot until destroyed.
  Admit admit(const std::string& ip, std::function<void()> interrupt, Ticket& ticket);
  // Marks the registry as stopping and calls every session's interrupt.
  void interrupt_all();
  bool stopping() const;
  std::size_t active() const;

 private:
  void remove(std::uint64_t id);

  struct Entry {
    std::string ip;
    std::function<void()> interrupt;
  };
  mutable std::mutex mu_;
  std::size_t max_total_;
  std::size_t max_per_ip_;
  bool stopping_ = false;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, Entry> sessions_;
  std::unordered_map<std::string, std::size_t> per_ip_;
};

}  // namespace tegami::net
