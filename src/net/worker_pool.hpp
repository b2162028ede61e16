// WorkerPool: where blocking work (SQLite, fsync, crypt) runs, so that the
// io_context threads never block (DESIGN rule 7).
//
// run(f) executes f on a pool thread and resumes the awaiting coroutine on
// its own executor. An exception thrown by f is rethrown in the caller
// (exceptions are bugs here: storage code returns Result values).
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include "net/asio.hpp"

namespace tegami::net {

class WorkerPool {
 public:
  explicit WorkerPool(std::size_t threads) : pool_(threads) {}
  ~WorkerPool() { join(); }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // `f` must be trivially destructible: capture by reference what lives in
  // the awaiting coroutine's frame (it outlives the call). g++ 12 destroys
  // temporaries of a co_await full-expression twice (GCC PR 100611), which
  // for a lambda owning a std::string means a double free; the
  // static_assert keeps that whole class of bug out at compile time.
  template <class F>
  awaitable<std::invoke_result_t<F>> run(F f) {
    static_assert(std::is_trivially_destructible_v<F>,
                  "WorkerPool::run: capture by reference (see the comment above)");
    using R = std::invoke_result_t<F>;
    return asio::co_spawn(
        pool_.get_executor(),
        [f]() mutable -> awaitable<R> {
          if constexpr (std::is_void_v<R>) {
            f();
            co_return;
          } else {
            co_return f();
          }
        },
        asio::use_awaitable);
  }

  void join() { pool_.join(); }

 private:
  asio::thread_pool pool_;
};

}  // namespace tegami::net
