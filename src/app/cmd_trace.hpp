// `tegami trace [FILE|-] [--format text|json|jsonl|html] [--own-domain D]...
//  [--own-relay PATTERN]... [--trust-authserv-id ID]... [--offline] [-c CONF]`
// (DESIGN §5, issue 4): route analysis of messages read from a file, stdin,
// an mbox or a Maildir folder. Never touches the network (`--offline` is
// accepted as the explicit promise). Exit 0 when every message was analysed
// (whatever it contained), 1 when the input or configuration cannot be read,
// 2 for a usage error.
#pragma once

namespace tegami {

// argv[0] is "trace". Returns the process exit code.
int run_trace(int argc, char** argv);

}  // namespace tegami
