// ConnectionRegistry: admission control and graceful shutdown for sessions.
//
// Caps connections in total and per client network (so one host cannot take
// every slot): an IPv4 address, or an IPv6 network of `ipv6_prefix` bits
// (core/network_key.hpp: a host given a /64 can use any address of it;
// IPv4-mapped IPv6 counts as IPv4). It also lets the server interrupt idle sessions when it stops:
// each session registers an `interrupt` callback that must be safe to call from any thread
// (sessions post it to their own strand). Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tegami::net {

class ConnectionRegistry {
 public:
  enum class Admit { Ok, TooMany, TooManyFromNetwork, Stopping };

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

  ConnectionRegistry(std::size_t max_total, std::size_t max_per_network, unsigned ipv6_prefix = 64)
      : max_total_(max_total), max_per_network_(max_per_network), ipv6_prefix_(ipv6_prefix) {}

  // The key `ip` is counted under.
  std::string network(const std::string& ip) const;
  // On Ok, `ticket` holds the slot until destroyed.
  // `on_stress` (optional, any thread, like `interrupt`) is called when
  // stress mode turns on, so an idle session can shorten its deadline.
  Admit admit(const std::string& ip, std::function<void()> interrupt, Ticket& ticket,
              std::function<void()> on_stress = {});
  // Sessions open from `ip`'s network.
  std::size_t active_from(const std::string& ip) const;
  // Marks the registry as stopping and calls every session's interrupt.
  void interrupt_all();
  bool stopping() const;
  std::size_t active() const;
  // Stress mode (issue 14, Postfix's "stress"): on once the connections
  // reach 80% of the total cap, off again below 60%; the drivers then use
  // kStressTimeout instead of their idle/command timeouts, so idle clients
  // make room before the server starts refusing. Each switch is logged once.
  bool stressed() const;
  static constexpr std::chrono::seconds kStressTimeout{10};

 private:
  void remove(std::uint64_t id);

  struct Entry {
    std::string network;
    std::function<void()> interrupt;
    std::function<void()> on_stress;
  };
  mutable std::mutex mu_;
  std::size_t max_total_;
  std::size_t max_per_network_;
  unsigned ipv6_prefix_;
  bool stopping_ = false;
  bool stressed_ = false;
  bool update_stress_locked();  // true when stress mode just turned on
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, Entry> sessions_;
  std::unordered_map<std::string, std::size_t> per_network_;
};

}  // namespace tegami::net
