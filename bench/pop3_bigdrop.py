#!/usr/bin/python3
"""POP3 on a big maildrop: how long login, STAT, LIST, UIDL and QUIT take.

Writes N small messages straight into a fresh installation's Maildir (names as
tegami writes them, with ,S= and ,W=), starts `tegami serve`, and times each
step of a POP3 session, several rounds. Also prints the server's resident
memory before and after an idle connection is held open, so "an idle POP3
connection costs kilobytes" can be watched.

    TEGAMI_BIN=build/release/tegami bench/pop3_bigdrop.py [-n 10000] [-r 5] [--idle 200]

Standard library only. Not a test: it prints numbers and asserts only totals.
"""
import argparse
import os
import random
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from harness import DOMAIN, PASSWORD, Server  # noqa: E402


def crlf_size(data):
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


def fill(srv, n, md=None):
    md = md or srv.maildir("alice")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    rng = random.Random(n)
    total = 0
    for i in range(n):
        data = (f"From: bench@example.org\nTo: alice@{DOMAIN}\nSubject: bulk {i}\n\n".encode()
                + b"x" * rng.randrange(0, 2000) + b"\n")
        w = crlf_size(data)
        total += w
        sub = "cur" if i % 2 else "new"
        name = (f"{1700000000 + i // 1000}.M{i % 1000:06d}P1Q{i}.bench,S={len(data)},W={w}"
                + (":2,S" if sub == "cur" else ""))
        with open(os.path.join(md, sub, name), "wb") as f:
            f.write(data)
    return total


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.f = self.s.makefile("rb")

    def line(self):
        return self.f.readline().rstrip(b"\r\n")

    def cmd(self, text, multi=False):
        self.s.sendall(text.encode() + b"\r\n")
        first = self.line()
        if not first.startswith(b"+OK"):
            raise RuntimeError(f"{text}: {first!r}")
        if not multi:
            return first, []
        lines = []
        while True:
            l = self.line()
            if l == b".":
                return first, lines
            lines.append(l)


def time_server(port, user, password, a, total):
    steps = {k: [] for k in ("connect+greeting", "USER+PASS", "STAT", "LIST", "UIDL", "QUIT")}
    for _ in range(a.rounds):
        t = time.perf_counter()
        c = Client(port)
        c.line()
        steps["connect+greeting"].append(time.perf_counter() - t)
        t = time.perf_counter()
        c.cmd(f"USER {user}")
        c.cmd(f"PASS {password}")
        steps["USER+PASS"].append(time.perf_counter() - t)
        t = time.perf_counter()
        first, _ = c.cmd("STAT")
        steps["STAT"].append(time.perf_counter() - t)
        assert first.split()[1:3] == [str(a.n).encode(), str(total).encode()], first
        for verb in ("LIST", "UIDL"):
            t = time.perf_counter()
            _, lines = c.cmd(verb, multi=True)
            steps[verb].append(time.perf_counter() - t)
            assert len(lines) == a.n, (verb, len(lines))
        t = time.perf_counter()
        c.cmd("QUIT")
        steps["QUIT"].append(time.perf_counter() - t)
        c.s.close()
    return steps


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10000, help="messages in the maildrop")
    ap.add_argument("-r", "--rounds", type=int, default=5)
    ap.add_argument("--idle", type=int, default=200, help="idle connections to hold open")
    ap.add_argument("--other", metavar="PORT:MAILDIR:USER:PASSWORD",
                    help="also time another POP3 server (e.g. the Dovecot of ../shared/bench, "
                         "1110:/tmp/bench-mail/example.test/user2:user2@example.test:pass2) "
                         "on the same maildrop, written into its (emptied) MAILDIR")
    a = ap.parse_args()

    srv = Server(users=("alice",))
    try:
        t0 = time.time()
        total = fill(srv, a.n)
        print(f"wrote {a.n} messages ({total} octets on the wire) in {time.time() - t0:.1f} s")
        srv.start()
        targets = [("tegami", srv.ports["pop3"], f"alice@{DOMAIN}", PASSWORD)]
        if a.other:
            port, md, user, password = a.other.split(":", 3)
            for sub in ("new", "cur"):
                d = os.path.join(md, sub)
                for f in os.listdir(d) if os.path.isdir(d) else []:
                    os.unlink(os.path.join(d, f))
            fill(srv, a.n, md)
            targets.append(("other", int(port), user, password))
        for name, port, user, password in targets:
            steps = time_server(port, user, password, a, total)
            print(f"{name}: {'step':<18}{'median ms':>10}{'max ms':>10}   ({a.rounds} rounds; "
                  f"the first round builds any index)")
            for k, v in steps.items():
                print(f"{name}: {k:<18}{statistics.median(v) * 1000:>10.1f}{max(v) * 1000:>10.1f}")

        pid = srv.proc.pid
        before = rss_kib(pid)
        idle = []
        for i in range(a.idle):
            # Distinct source addresses: the per-IP connection cap stays out of the way.
            s = socket.create_connection(("127.0.0.1", port), timeout=30,
                                         source_address=(f"127.1.{i // 250}.{i % 250 + 1}", 0))
            s.recv(512)
            idle.append(s)
        time.sleep(0.5)
        after = rss_kib(pid)
        print(f"server RSS {before} KiB; with {len(idle)} idle connections {after} KiB "
              f"({(after - before) / max(1, len(idle)):.1f} KiB each)")
        for s in idle:
            s.close()
    finally:
        srv.stop()
        srv.cleanup()


if __name__ == "__main__":
    main()
