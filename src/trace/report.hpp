// The route analysis of one message (DESIGN §5 "Trace JSON"): hops read from
// its Received: fields, delays, clock skew, origin, chain consistency,
// authentication results and the spoofing verdict.
//
// Invariants (the contract renderers and scripts rely on):
// - hops are in header order reversed: the bottom Received: is hop 1, and
//   hops are never sorted by time;
// - delay_seconds is set only for a hop whose time is consistent with the
//   route (never negative); a hop whose clock disagrees is listed in
//   clock_skew with skew_seconds instead; a hop without a date has neither;
// - a chain break at hop i means hop i's sender does not match hop i-1's
//   receiver; every hop below the highest break is `unverified`;
// - analysis is pure: no clock, no network, no file access.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "mail/date.hpp"
#include "mail/header.hpp"
#include "mail/received.hpp"
#include "trace/own_network.hpp"

namespace tegami::trace {

struct Hop {
  int index = 0;  // 1 = the bottom Received:
  mail::Received rx;
  std::string raw;       // the unfolded field value
  std::size_t line = 0;  // where the field starts in the message
  std::optional<std::chrono::sys_seconds> time;
  std::optional<long long> delay_seconds;
  std::optional<long long> skew_seconds;  // for clock_skew hops: offset from the route
  bool clock_skew = false;
  bool chain_break = false;
  bool unverified = false;
};

struct MessageInfo {
  std::optional<std::string> from;     // decoded, UTF-8
  std::optional<std::string> subject;  // decoded, UTF-8
  std::optional<std::string> date;     // RFC 3339, zone as written
  std::optional<std::string> message_id;
  std::optional<mail::DateTime> date_parsed;
  std::string from_domain;         // lower case, "" when none
  std::string return_path_domain;  // lower case, "" when none
};

struct Origin {
  std::string ip;
  std::string host;
  int hop = 0;
};

struct AuthSummary {
  std::string spf = "not_checked";
  std::string dkim = "not_checked";
  std::string dmarc = "not_checked";
};

struct Verdict {
  bool spoofing_suspected = false;
  std::vector<std::string> reasons;
};

struct Report {
  MessageInfo message;
  std::vector<Hop> hops;
  std::optional<long long> total_seconds;
  std::optional<int> slowest_hop;
  std::vector<int> clock_skew;
  std::optional<Origin> origin;
  AuthSummary auth;
  Verdict verdict;
  std::vector<std::string> notes;     // plain-words remarks (chain breaks, skew, ...)
  std::vector<std::string> problems;  // what could not be parsed
};

struct Options {
  OwnNetwork own;
  std::vector<std::string> trusted_authserv_ids;  // lower case
};

Report analyze(const mail::MessageHeader& header, const Options& options);

}  // namespace tegami::trace
