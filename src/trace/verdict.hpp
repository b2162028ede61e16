// The verdict on a message's sender (issue 4, "Verdict"), in plain words.
//
// A message whose From (or Return-Path) domain is one of ours is genuine only
// if it entered through one of our relays as a submission: its entry hop's
// receiver is ours, and the sender is ours too (an address in our networks,
// a verified rDNS name matching our relay globs) or authenticated. The entry
// hop is the origin (report.hpp), or the lowest verified hop when the origin
// lies below a chain break (a forger can write any Received: below ours).
// Also suspected: a trusted Authentication-Results (RFC 8601; authserv-id
// given by the operator) reporting spf, dkim or dmarc "fail" for the From
// domain. Authentication-Results with other authserv-ids are ignored: anyone
// can write one (RFC 8601 section 5).
#pragma once

#include "mail/header.hpp"
#include "trace/report.hpp"

namespace tegami::trace {

// Fills report.auth and report.verdict from the header and the hops.
void judge(const mail::MessageHeader& header, const Options& options, Report& report);

}  // namespace tegami::trace
