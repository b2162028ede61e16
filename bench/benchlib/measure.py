"""The measurements of bench/compare.py. Every wait has a deadline."""
import multiprocessing
import os
import poplib
import shutil
import signal
import socket
import subprocess
import sys
import time

from . import procs

HERE = os.path.dirname(os.path.abspath(__file__))
SMTP_RUN_TIMEOUT = 900      # s: one SMTP burst, until the last file is in the Maildir
POP3_TIMEOUT = 600          # s: one POP3 drain
IO_TIMEOUT = 30             # s: any single socket read
POLL_S = 0.05               # longest Maildir poll interval
SENDER = "bench@example.org"

_children = set()           # client processes to kill on the way out
_seq = 0                    # messages written by fill(), for unique Maildir names


def log(*a):
    print("[compare]", *a, file=sys.stderr, flush=True)


def kill_children():
    for p in list(_children):
        if p.poll() is None:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        _children.discard(p)


def smtp_client(kind):
    """The load generator: Postfix's smtp-source, or benchlib/smtpload.py."""
    src = shutil.which("smtp-source") or ("/usr/sbin/smtp-source" if os.path.exists("/usr/sbin/smtp-source") else None)
    if kind == "smtp-source" or (kind == "auto" and src):
        if not src:
            sys.exit("smtp-source is not installed (Debian package postfix): use --client python")
        return "smtp-source", [src]
    return "smtpload.py", [sys.executable, os.path.join(HERE, "smtpload.py")]


def settle(tgt):
    tgt.wait_idle()
    os.sync()
    time.sleep(1)


def smtp_burst(tgt, client, conc, msgs, length, logf, rcpt_idx=1):
    """Sends msgs messages over conc parallel sessions to user rcpt_idx and waits
    until all of them are files in its Maildir new/. Returns a dict of results."""
    cmd = client + ["-c", "-s", str(conc), "-m", str(msgs), "-l", str(length),
                    "-f", SENDER, "-t", tgt.rcpt(rcpt_idx), tgt.smtp_addr()]
    logf.write("$ " + " ".join(cmd) + "\n")
    logf.flush()
    roots = tgt.roots("smtp")
    new_dir = os.path.join(tgt.maildir(rcpt_idx), "new")
    cpu0 = procs.tree_cpu_s(roots)
    wall0 = time.time()
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    _children.add(p)
    deadline = t0 + SMTP_RUN_TIMEOUT
    t_client = t_done = None
    rc = None
    try:
        while time.monotonic() < deadline:
            if t_client is None and p.poll() is not None:
                t_client, rc = time.monotonic() - t0, p.returncode
                if rc != 0:
                    break
            if tgt.delivered(rcpt_idx) >= msgs:
                t_done = time.monotonic() - t0
                break
            # listing new/ competes with the server for the directory: poll often
            # at first, then every 50 ms; the end time comes from new/'s mtime
            time.sleep(min(POLL_S, max(0.005, (time.monotonic() - t0) / 100)))
        if t_done is not None:
            # the last file's arrival changed new/'s mtime: that is the exact end
            # (the poll only noticed it up to one interval later)
            t_mtime = os.stat(new_dir).st_mtime - wall0
            if 0 < t_mtime <= t_done:
                t_done = t_mtime
        if t_done is not None and p.poll() is None:     # the client still says QUIT
            try:
                p.wait(max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        cpu1 = procs.tree_cpu_s(roots)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        _children.discard(p)
    if t_client is None:
        t_client, rc = time.monotonic() - t0, p.returncode
    logf.write(f"# exit {rc}, client {t_client:.3f}s, in Maildir after "
               f"{'-' if t_done is None else f'{t_done:.3f}s'}, delivered {tgt.delivered(rcpt_idx)}\n")
    logf.flush()
    return {"rc": rc, "client_s": t_client, "deliver_s": t_done, "server_cpu_s": cpu1 - cpu0}


# --------------------------------------------------------------------- POP3
def message(i, length, rcpt):
    head = (f"Return-Path: <{SENDER}>\nFrom: <{SENDER}>\nTo: <{rcpt}>\n"
            f"Subject: bench {i}\nMessage-ID: <bench.{i}@example.org>\n\n").encode()
    line = b"La de da de da 1.\n"
    body = (line * (length // len(line) + 1))[:length - 1] + b"\n"
    return head + body


def fill(tgt, users, per_user, length):
    """Writes per_user messages into new/ of each user's Maildir, named the way
    the target names its deliveries (,S= on disk, ,W= with CRLF)."""
    global _seq
    for i in users:
        tgt.clean(i)
        new = os.path.join(tgt.maildir(i), "new")
        for _ in range(per_user):
            _seq += 1
            data = message(_seq, length, tgt.rcpt(i))
            w = len(data) + data.count(b"\n")
            path = os.path.join(new, tgt.maildrop_name(_seq, len(data), w))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                if tgt.owner:
                    os.fchown(fd, *tgt.owner)
            finally:
                os.close(fd)
    os.sync()


def _pop3_worker(host, port, creds, start_evt, q):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not start_evt.wait(120):
        q.put((0, time.monotonic(), "start timeout"))
        return
    n = 0
    err = None
    try:
        for login, pw in creds:
            p = poplib.POP3(host, port, timeout=IO_TIMEOUT)
            p.user(login)
            p.pass_(pw)
            count, _ = p.stat()
            for j in range(1, count + 1):
                p.retr(j)
                p.dele(j)
                n += 1
            p.quit()
    except Exception as e:  # noqa: BLE001 - reported, fails the run
        err = repr(e)
    q.put((n, time.monotonic(), err))


def pop3_drain(tgt, users, password, conns, want):
    """conns client processes share the users (one maildrop per session: POP3
    locks it); each does USER/PASS, STAT, RETR+DELE of every message, QUIT.
    The clock runs from a common start to the last QUIT's answer."""
    host, port = tgt.pop3_addr()
    creds = [(tgt.login(i), password) for i in users]
    ctx = multiprocessing.get_context("fork")
    q, evt = ctx.Queue(), ctx.Event()
    workers = [ctx.Process(target=_pop3_worker, args=(host, port, creds[w::conns], evt, q), daemon=True)
               for w in range(conns)]
    for w in workers:
        w.start()
    res = []
    deadline = time.monotonic() + POP3_TIMEOUT
    try:
        time.sleep(0.3)
        roots = tgt.roots("pop3")
        cpu0 = procs.tree_cpu_s(roots)
        t0 = time.monotonic()
        evt.set()
        deadline = t0 + POP3_TIMEOUT
        for _ in workers:
            try:
                res.append(q.get(timeout=max(0.1, deadline - time.monotonic())))
            except Exception:  # noqa: BLE001 - queue.Empty: deadline passed
                break
        cpu1 = procs.tree_cpu_s(roots)
    finally:
        for w in workers:
            w.join(max(0.1, min(10, deadline - time.monotonic())))
            if w.is_alive():
                w.terminate()
                w.join(5)
    errs = [r[2] for r in res if r[2]]
    got = sum(r[0] for r in res)
    left = sum(tgt.stored(i) for i in users)
    if errs or len(res) != conns or got != want or left:
        raise RuntimeError(f"POP3 drain: {got}/{want} messages, {left} left, errors {errs[:2]}")
    wall = max(r[1] for r in res) - t0
    return {"wall_s": wall, "msgs": got, "server_cpu_s": cpu1 - cpu0}


# --------------------------------------------------------------------- idle memory
def _source(i):
    # many loopback source addresses, so no per-address limit is what gets measured
    return f"127.0.{1 + (i // 250) % 250}.{1 + i % 250}"


def _readline(f):
    ln = f.readline(4096)
    if not ln:
        raise ConnectionError("closed by the server")
    return ln


def open_idle(tgt, kind, n, password):
    """n sessions left idle: smtp = greeting + EHLO answered; pop3 = logged in
    (USER/PASS, user i for connection i: a maildrop is locked while in use)."""
    conns = []
    try:
        for c in range(n):
            if kind == "smtp":
                host, _, port = tgt.smtp_addr().rpartition(":")
                s = socket.create_connection((host, int(port)), timeout=IO_TIMEOUT,
                                             source_address=(_source(c), 0))
                f = s.makefile("rb")
                conns.append((s, f))
                if not _readline(f).startswith(b"220"):
                    raise RuntimeError("no SMTP greeting")
                s.sendall(b"EHLO idle.example\r\n")
                for _ in range(100):
                    ln = _readline(f)
                    if ln[3:4] != b"-":
                        break
                if not ln.startswith(b"250 "):
                    raise RuntimeError(f"EHLO: {ln!r}")
            else:
                s = socket.create_connection(tgt.pop3_addr(), timeout=IO_TIMEOUT,
                                             source_address=(_source(c), 0))
                f = s.makefile("rb")
                conns.append((s, f))
                if not _readline(f).startswith(b"+OK"):
                    raise RuntimeError("no POP3 greeting")
                for line in (f"USER {tgt.login(c + 1)}", f"PASS {password}"):
                    s.sendall(line.encode() + b"\r\n")
                    ln = _readline(f)
                    if not ln.startswith(b"+OK"):
                        raise RuntimeError(f"{line.split()[0]}: {ln!r}")
    except BaseException:
        close_idle(conns)
        raise
    return conns


def close_idle(conns):
    for s, f in conns:
        try:
            s.sendall(b"QUIT\r\n")
        except OSError:
            pass
    for s, f in conns:
        try:
            f.close()
            s.close()
        except OSError:
            pass


def idle_memory(tgt, kind, n, password):
    """PSS of the server's processes before and with n idle sessions, on a
    freshly started server. Returns KiB per connection and the totals."""
    proto = "smtp" if kind == "smtp" else "pop3"
    tgt.restart(proto)
    time.sleep(2)
    roots = tgt.roots(proto)
    before, nb = procs.tree_pss_kib(roots)
    conns = open_idle(tgt, kind, n, password)
    try:
        time.sleep(2)
        after, na = procs.tree_pss_kib(roots)
    finally:
        close_idle(conns)
    return {"kib_per_conn": (after - before) / n, "pss_before_kib": before, "pss_after_kib": after,
            "procs_before": nb, "procs_after": na}
