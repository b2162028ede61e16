// Authentication-Results: header fields (RFC 8601): who checked the message
// (authserv-id) and what each method (spf, dkim, dmarc, ...) concluded.
//
// Only the parts the route analysis needs are read: the authserv-id, and
// for each resinfo the method, result and properties ("smtp.mailfrom=",
// "header.from=", "header.d=", "header.i="). Comments (RFC 5322 CFWS) are
// dropped, quoted values unquoted; a field that cannot be read yields an
// empty `results` and a problem, never an exception. Whether the field can
// be trusted (its authserv-id is ours) is the caller's decision (RFC 8601
// section 5).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tegami::mail {

struct AuthResult {
  std::string method;  // lower case: "spf", "dkim", "dmarc", "arc", ...
  std::string result;  // lower case: "pass", "fail", "softfail", ...
  std::vector<std::pair<std::string, std::string>> properties;  // ("header.from", "x.example")
  // The value of a property (name compared case-insensitively), or "".
  std::string property(std::string_view name) const;
};

struct AuthResults {
  std::string authserv_id;  // lower case
  std::vector<AuthResult> results;
  std::vector<std::string> problems;
};

AuthResults parse_auth_results(std::string_view value);

}  // namespace tegami::mail
