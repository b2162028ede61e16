// Errors as values (DESIGN rule 6).
//
// An Error knows whether it is temporary or permanent and carries the SMTP
// reply code and RFC 3463 enhanced status code a protocol layer should answer
// with. Unknown errors are temporary: the safe answer for a mail server is
// "try again later", never a silent loss.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace tegami {

struct Error {
  bool temporary = true;
  int smtp_code = 451;             // RFC 5321 reply code
  std::string enhanced = "4.3.0";  // RFC 3463 status code
  std::string message;

  // A temporary failure: "451 4.3.0" unless told otherwise.
  static Error temp(std::string msg, int code = 451, std::string enh = "4.3.0") {
    return Error{true, code, std::move(enh), std::move(msg)};
  }
  // A permanent failure: "550 5.0.0" unless told otherwise.
  static Error perm(std::string msg, int code = 550, std::string enh = "5.0.0") {
    return Error{false, code, std::move(enh), std::move(msg)};
  }
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(Error e) {
  return tl::unexpected<Error>(std::move(e));
}

}  // namespace tegami
