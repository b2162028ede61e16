#!/usr/bin/python3
"""A small stand-in for Postfix's smtp-source, used when it is not installed.

    smtpload.py -s SESSIONS -m MESSAGES -l LENGTH -f FROM -t TO HOST:PORT

Like `smtp-source -s S -m M -l L` without -d: S sessions in parallel, each
message over a new connection (EHLO, MAIL, RCPT, DATA, QUIT), M messages in
all, each with a body of L octets. Exits non-zero when any transaction was not
answered 250. Threads, standard library only; slower than smtp-source, so a
result says so (env.txt names the client).
"""
import argparse
import socket
import sys
import threading
import time

TIMEOUT = 60


class Session:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=TIMEOUT)
        self.f = self.s.makefile("rb")

    def reply(self):
        while True:
            ln = self.f.readline(4096)
            if not ln:
                raise ConnectionError("connection closed by the server")
            if ln[3:4] != b"-":
                return int(ln[:3]), ln

    def cmd(self, line, want):
        self.s.sendall(line + b"\r\n")
        code, ln = self.reply()
        if code != want:
            raise RuntimeError(f"{line[:40]!r}: {ln!r}")

    def close(self):
        self.f.close()
        self.s.close()


def body(length, sender, rcpt):
    head = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: smtpload\r\n\r\n").encode()
    line = b"La de da de da 1.\r\n"
    out = bytearray()
    while len(out) < length:
        out += line
    return head + bytes(out[:length]).rstrip(b"\r\n") + b"\r\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-s", type=int, default=1)
    ap.add_argument("-m", type=int, default=1)
    ap.add_argument("-l", type=int, default=4096)
    ap.add_argument("-f", default="bench@example.org")
    ap.add_argument("-t", required=True)
    ap.add_argument("-c", action="store_true", help="ignored (smtp-source's counter)")
    ap.add_argument("addr")
    a = ap.parse_args()
    host, _, port = a.addr.rpartition(":")
    port = int(port)
    data = body(a.l, a.f, a.t) + b".\r\n"
    lock = threading.Lock()
    state = {"next": 0, "done": 0, "errors": []}

    def worker():
        while True:
            with lock:
                if state["next"] >= a.m or state["errors"]:
                    return
                state["next"] += 1
            try:
                s = Session(host, port)
                try:
                    code, ln = s.reply()
                    if code != 220:
                        raise RuntimeError(f"greeting {ln!r}")
                    s.cmd(b"EHLO smtpload.example", 250)
                    s.cmd(b"MAIL FROM:<" + a.f.encode() + b">", 250)
                    s.cmd(b"RCPT TO:<" + a.t.encode() + b">", 250)
                    s.cmd(b"DATA", 354)
                    s.cmd(data[:-2], 250)        # the body ends with ".\r\n"
                    s.s.sendall(b"QUIT\r\n")
                    s.reply()
                finally:
                    s.close()
                with lock:
                    state["done"] += 1
            except Exception as e:  # noqa: BLE001 - reported, fails the run
                with lock:
                    state["errors"].append(repr(e))
                return

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, a.s))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    print(f"smtpload: {state['done']}/{a.m} messages in {dt:.2f}s", flush=True)
    if state["errors"]:
        print("smtpload: " + "; ".join(state["errors"][:3]), file=sys.stderr)
        return 1
    return 0 if state["done"] == a.m else 1


if __name__ == "__main__":
    sys.exit(main())
