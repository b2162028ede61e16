// `tegami serve`: the composition root. Opens the stores, binds every
// configured listener, runs the io_context on one thread per core, and stops
// gracefully on SIGTERM/SIGINT: listeners close at once, idle sessions are
// told 421 (SMTP) or -ERR (POP3), sessions in DATA may finish within
// [limits] shutdown_grace, then the process exits 0.
#pragma once

#include "core/config.hpp"

namespace tegami {

// Returns the process exit code.
int run_serve(const Config& cfg);

}  // namespace tegami
