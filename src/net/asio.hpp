// The one place that includes Asio, with the aliases the rest of the server
// uses. Asio's C++20 coroutines: one coroutine per connection (DESIGN rule 7).
#pragma once

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

namespace tegami::net {

using asio::awaitable;
using asio::ip::tcp;
// Completion token that returns (error_code, results...) instead of throwing:
// network errors are ordinary events, not exceptions.
inline constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace tegami::net
