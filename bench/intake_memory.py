#!/usr/bin/env python3
"""Issue 13 benchmark (not a test): the server's memory while messages stream in.

  bench/intake_memory.py [--bin build/ci/tegami] [--conns 20] [--mib 24] [--msgs 2000]

1. RSS growth while `--conns` connections each send `--mib` MiB of DATA
   without the final dot (the attack of issue 13; goal: under 32 MiB in all).
2. Throughput of 4 KiB messages over one SMTP session (smtplib), for a
   before/after comparison on the same machine in the same run.
Uses the integration harness (real binary, port 0, a temporary directory)."""
import argparse
import os
import smtplib
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402
from harness import rss_kib  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=harness.BIN)
    ap.add_argument("--conns", type=int, default=20)
    ap.add_argument("--mib", type=int, default=24)
    ap.add_argument("--msgs", type=int, default=2000)
    a = ap.parse_args()
    harness.BIN = a.bin
    srv = harness.Server(users=("alice",), extra_config={"limits.connections_per_ip": "100"})
    srv.start()
    try:
        pid = srv.proc.pid
        port = srv.ports["smtp"]
        # Warm up: one small message.
        with smtplib.SMTP("127.0.0.1", port) as s:
            s.sendmail("x@example.org", ["alice@example.test"], b"Subject: warm\r\n\r\nhi\r\n")
        # Throughput first: the memory phase leaves the disk busy writing back
        # what the streamed connections wrote.
        # Throughput: 4 KiB messages over one session.
        body = b"Subject: bench\r\n\r\n" + (b"z" * 76 + b"\r\n") * 52  # 4 KiB
        with smtplib.SMTP("127.0.0.1", port) as s:
            s.ehlo("bench")
            t0 = time.monotonic()
            for _ in range(a.msgs):
                s.sendmail("x@example.org", ["alice@example.test"], body)
            dt = time.monotonic() - t0
        print(f"{a.msgs} x 4 KiB messages, one session: {a.msgs / dt:.0f} msg/s")
        before = rss_kib(pid)
        line = b"y" * 76 + b"\r\n"
        chunk = line * (1024 * 1024 // len(line))
        socks = []
        for i in range(a.conns):
            c = socket.create_connection(("127.0.0.1", port))
            f = c.makefile("rb")
            f.readline()
            c.sendall(b"EHLO bench\r\n")
            while not f.readline().startswith(b"250 "):
                pass
            c.sendall(b"MAIL FROM:<x@example.org>\r\n")
            f.readline()
            c.sendall(b"RCPT TO:<alice@example.test>\r\n")
            f.readline()
            c.sendall(b"DATA\r\n")
            f.readline()
            socks.append((c, f))
        peak = before
        for _ in range(a.mib):
            for c, _f in socks:
                c.sendall(chunk)
            peak = max(peak, rss_kib(pid))
        time.sleep(1.0)
        held = rss_kib(pid)
        peak = max(peak, held)
        print(f"{a.conns} connections x {a.mib} MiB unterminated DATA: RSS {before} KiB before, "
              f"peak {peak} KiB (+{(peak - before) / 1024:.1f} MiB), held {held} KiB "
              f"(+{(held - before) / 1024:.1f} MiB)")
        for c, _f in socks:
            c.close()
    finally:
        srv.stop()
        srv.cleanup()


if __name__ == "__main__":
    main()
