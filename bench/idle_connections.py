#!/usr/bin/python3
"""Many idle connections, and a normal client served meanwhile (issue 16).

Starts `tegami serve` on a fresh installation, opens N idle connections
(half SMTP after EHLO, half POP3 after the greeting),
from many loopback addresses (127.0.1.x, so per-address limits are not
what is measured), then times a normal client: an SMTP transaction and a
POP3 login + STAT, reply by reply. Prints the server's memory (RSS, PSS
from /proc/PID/smaps_rollup) before and after.

    TEGAMI_BIN=build/release/tegami bench/idle_connections.py [-n 10000]

Standard library only. Not a test: it prints numbers.
"""
import argparse
import os
import poplib
import resource
import smtplib
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from harness import DOMAIN, PASSWORD, Server  # noqa: E402


def memory(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("Rss:", "Pss:"):
                out[parts[0][:-1]] = int(parts[1])
    return out


def open_idle(port, source, kind):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    f = s.makefile("rb")
    f.readline()  # greeting
    if kind == "smtp":
        s.sendall(b"EHLO idle.example\r\n")
        while True:
            line = f.readline()
            if not line or line[3:4] == b" ":
                break
    return s, f


def timed_client(srv):
    steps = []
    t = time.monotonic()
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=10) as s:
        steps.append(("smtp greeting", time.monotonic() - t))
        for name, fn in (("EHLO", lambda: s.ehlo("client.example")),
                         ("MAIL", lambda: s.mail("someone@example.org")),
                         ("RCPT", lambda: s.rcpt(f"bob@{DOMAIN}")),
                         ("DATA+dot", lambda: s.data(b"Subject: t\r\n\r\nhello\r\n"))):
            t = time.monotonic()
            code, reply = fn()
            steps.append((name, time.monotonic() - t))
            if code >= 400:
                raise RuntimeError(f"{name}: {code} {reply}")
    t = time.monotonic()
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=10)
    steps.append(("pop3 greeting", time.monotonic() - t))
    t = time.monotonic()
    p.user(f"bob@{DOMAIN}")
    p.pass_(PASSWORD)
    steps.append(("USER+PASS", time.monotonic() - t))
    t = time.monotonic()
    p.stat()
    steps.append(("STAT", time.monotonic() - t))
    p.quit()
    return steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10000, help="idle connections (half SMTP, half POP3)")
    ap.add_argument("--sources", type=int, default=200, help="loopback source addresses")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.n + 100:
        sys.exit(f"the open-file limit ({hard}) is too low for {args.n} connections")
    per_ip = args.n // args.sources + 10
    srv = Server(users=["alice", "bob"], extra_config={
        "limits.connections": str(args.n * 2),
        "limits.connections_per_ip": str(per_ip),
        "auth.failure_limit": "1000",
    })
    try:
        srv.start()
        pid = srv.proc.pid
        before = memory(pid)
        conns = []
        t = time.monotonic()
        for i in range(args.n):
            source = f"127.0.{1 + (i % args.sources) // 250}.{1 + (i % args.sources) % 250}"
            if i % 2 == 0:
                conns.append(open_idle(srv.ports["smtp"], source, "smtp"))
            else:
                conns.append(open_idle(srv.ports["pop3"], source, "pop3"))
        print(f"opened {len(conns)} idle connections in {time.monotonic() - t:.1f}s")
        time.sleep(2)
        after = memory(pid)
        print(f"server memory: RSS {before['Rss']} -> {after['Rss']} KiB, "
              f"PSS {before['Pss']} -> {after['Pss']} KiB; "
              f"per connection {(after['Pss'] - before['Pss']) / args.n:.1f} KiB PSS")
        worst = 0.0
        for rnd in range(3):
            steps = timed_client(srv)
            worst = max(worst, max(d for _, d in steps))
            print(f"normal client, round {rnd + 1}: " +
                  ", ".join(f"{n} {d * 1000:.1f} ms" for n, d in steps))
        print(f"slowest reply to the normal client: {worst * 1000:.1f} ms "
              f"({'within' if worst < 0.1 else 'OVER'} 100 ms)")
        alive = 0
        for i, (s, f) in enumerate(conns):
            try:
                s.sendall(b"NOOP\r\n" if i % 2 == 0 else b"CAPA\r\n")
                if f.readline()[:1] in (b"2", b"+"):
                    alive += 1
            except OSError:
                pass
        print(f"idle connections still served afterwards: {alive}/{len(conns)}")
        for s, _ in conns:
            s.close()
    finally:
        srv.stop()
        srv.cleanup()


if __name__ == "__main__":
    main()
