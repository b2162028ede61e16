"""POP3 (issue 3) against the real tegami binary, with real clients.

Python's poplib, raw sockets for hostile input, mpop and fetchmail. One
Server per TestCase class; each test that changes a mailbox uses its own
account so the tests of a class do not depend on each other's order.

Failed logins are delayed per client IP (2 s, doubling), so the few tests that
need a failed login use their own source address 127.0.0.x (Linux lets a
socket bind any 127/8 address).
"""
import base64
import hashlib
import os
import poplib
import random
import re
import shutil
import signal
import smtplib
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from harness import missing, need_tool, RssSampler, DOMAIN, HOSTNAME, PASSWORD, Raw, Server, own

TIMESTAMP_RE = re.compile(r"<(\d+)\.(\d+)\.(\d+)\.([0-9A-Za-z]+)@([^<>\s]+)>")


def addr(user):
    return f"{user}@{DOMAIN}"


def crlf(data):
    """LF endings (as on disk) to CRLF (as on the wire)."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def stuff(wire):
    """RFC 1939 section 3 byte-stuffing of a CRLF message, plus the terminator."""
    lines = wire.split(b"\r\n")
    assert lines[-1] == b"", "message must end in CRLF"
    body = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines[:-1])
    return body + b".\r\n"


def read(path, mode="rb"):
    with open(path, mode, **({} if "b" in mode else {"errors": "replace"})) as f:
        return f.read()


def base_name(file_name):
    return re.split(r"[,:]", file_name, maxsplit=1)[0]


def size_field(file_name, key):
    m = re.search(r"," + key + r"=(\d+)", file_name.split(":", 1)[0])
    return int(m.group(1)) if m else None


def smtp_send(srv, rcpt, msg, sender="sender@example.org"):
    """Sends bytes `msg` (CRLF endings) through the SMTP listener."""
    assert isinstance(msg, bytes)
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=60) as s:
        s.ehlo("client.example.org")
        refused = s.sendmail(sender, [rcpt], msg, mail_options=["BODY=8BITMIME"])
        assert not refused, refused


def simple_message(subject, body=b"Hello.\r\n", rcpt="alice@example.test"):
    return (b"From: Sender <sender@example.org>\r\n"
            b"To: " + rcpt.encode() + b"\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + subject.replace(" ", "-").encode() + b"@client.example.org>\r\n"
            b"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
            b"\r\n" + body)


def tricky_message(rcpt):
    """Lines starting with '.', a lone '.', 8-bit bytes (UTF-8 and not)."""
    return (b"From: Sender <sender@example.org>\r\n"
            b"To: " + rcpt.encode() + b"\r\n"
            b"Subject: dots and 8bit\r\n"
            b"Message-ID: <dots-8bit@client.example.org>\r\n"
            b"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"\r\n"
            b".leading dot\r\n"
            b"..two leading dots\r\n"
            b".\r\n"
            b"the line above is a lone dot\r\n"
            b"\r\n"
            + "日本語のテキスト, café, naïve\r\n".encode("utf-8") +
            b"latin-1 bytes: \xe9\xe8\xff\xfe\x80\r\n"
            b"trailing space \r\n"
            b"\ttab first\r\n"
            b". dot space\r\n"
            b"last line\r\n")


def big_message(rcpt, size=1024 * 1024):
    """About `size` octets, 76-character lines, some with a leading '.' or 8-bit bytes."""
    rng = random.Random(1939)
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-"
    head = (b"From: Sender <sender@example.org>\r\n"
            b"To: " + rcpt.encode() + b"\r\n"
            b"Subject: one mebibyte\r\n"
            b"Message-ID: <big@client.example.org>\r\n"
            b"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
            b"Content-Type: text/plain; charset=iso-8859-1\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"\r\n")
    lines = []
    total = len(head)
    i = 0
    while total < size:
        line = bytes(rng.choice(alphabet) for _ in range(76))
        if i % 97 == 0:
            line = b"." + line[1:]
        if i % 89 == 0:
            line = line[:40] + b"\xe4\xf6\xfc" + line[43:]
        lines.append(line + b"\r\n")
        total += 78
        i += 1
    return head + b"".join(lines)


def maildir_name(seq, lf_data, host="bench.example.test", in_cur=False):
    """A file name like the server's: SECONDS.M<usec>P<pid>Q<n>.HOST,S=..,W=..[:2,S]."""
    name = (f"{1700000000 + seq // 1000}.M{seq % 1000:06d}P4242Q{seq}.{host}"
            f",S={len(lf_data)},W={len(crlf(lf_data))}")
    return name + (":2,S" if in_cur else "")


def write_maildir(srv, user, messages):
    """Writes (name, lf_bytes, sub) tuples straight into a user's Maildir."""
    md = srv.maildir(user)
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    for name, data, sub in messages:
        with open(os.path.join(md, sub, name), "wb") as f:
            f.write(data)


class Pop(Raw):
    """Raw POP3 client: exact bytes out, byte lines in."""

    def __init__(self, port, source=None, timeout=30):
        super().__init__(port, source=source, timeout=timeout)

    def bline(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("closed; pending=%r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def line(self):
        return self.bline().decode("utf-8", "replace")

    def multi(self):
        """Lines of a multi-line body as sent (still stuffed), without the final '.'."""
        out = []
        while True:
            l = self.bline()
            if l == b".":
                return out
            out.append(l)

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    def greet(self):
        g = self.line()
        assert g.startswith("+OK"), g
        return g

    def login(self, user, password=PASSWORD):
        r = self.cmd(f"USER {user}")
        assert r.startswith("+OK"), r
        r = self.cmd(f"PASS {password}")
        assert r.startswith("+OK"), r
        return r

    def quit(self):
        r = self.cmd("QUIT")
        self.close()
        return r


def connect(srv, source=None):
    p = Pop(srv.ports["pop3"], source=source)
    greeting = p.greet()
    return p, greeting


def pop(srv):
    return poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=60)


def pop_login(srv, user, password=PASSWORD):
    p = pop(srv)
    p.user(addr(user))
    p.pass_(password)
    return p


def pop_login_retry(srv, user, timeout=10):
    """Logs in, retrying while a previous (dropped) session still holds the lock."""
    deadline = time.time() + timeout
    while True:
        p = pop(srv)
        try:
            p.user(addr(user))
            p.pass_(PASSWORD)
            return p
        except poplib.error_proto as e:
            p.close()
            if b"[IN-USE]" not in e.args[0] or time.time() > deadline:
                raise
            time.sleep(0.1)


def retr_bytes(p, n):
    """RETR through poplib: the message as CRLF bytes (unstuffed), and the octet count."""
    resp, lines, octets = p.retr(n)
    assert resp.startswith(b"+OK"), resp
    data = b"".join(l + b"\r\n" for l in lines)
    return data, octets, resp


def uidl_map(p):
    resp, lines, _ = p.uidl()
    out = {}
    for l in lines:
        n, uid = l.decode().split(" ", 1)
        out[int(n)] = uid
    return out


def list_map(p):
    resp, lines, _ = p.list()
    out = {}
    for l in lines:
        n, size = l.decode().split()
        out[int(n)] = int(size)
    return out


def server_prefix_ok(test, prefix):
    """The bytes tegami prepends on SMTP delivery: Return-Path then Received (maybe folded)."""
    test.assertTrue(prefix.startswith(b"Return-Path: <sender@example.org>\r\n"), prefix[:200])
    lines = prefix[:-2].split(b"\r\n") if prefix.endswith(b"\r\n") else None
    test.assertIsNotNone(lines, prefix)
    test.assertTrue(any(l.startswith(b"Received: from ") for l in lines), prefix)
    for l in lines:
        test.assertRegex(l, rb"^(Return-Path: |Received: |[ \t])", prefix)
    test.assertIn(b"by " + HOSTNAME.encode(), prefix.replace(b"\r\n", b""))


class Pop3PoplibTest(unittest.TestCase):
    """poplib against mail delivered through the SMTP listener."""

    USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivy", "jack",
             "kate")

    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(users=cls.USERS)).start()

    def deliver(self, user, *subjects):
        for s in subjects:
            smtp_send(self.srv, addr(user), simple_message(s, rcpt=addr(user)))
        msgs = self.srv.messages(user)
        self.assertGreaterEqual(len(msgs), len(subjects))
        return msgs

    def test_capa(self):
        """RFC 2449 §5: "Capabilities available in the AUTHORIZATION state MUST
        be announced in both states": the list after login is the same list,
        USER and SASL included, although USER and AUTH then answer -ERR."""
        p = pop(self.srv)
        try:
            seen = {}
            for when in ("before login", "after login"):
                caps = p.capa()
                seen[when] = caps
                for c in ("TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                          "SASL", "IMPLEMENTATION"):
                    self.assertIn(c, caps, f"{when}: {caps}")
                self.assertIn("PLAIN", caps["SASL"], caps)
                self.assertTrue(caps["IMPLEMENTATION"], caps)
                # Not enforced, so never announced.
                self.assertNotIn("LOGIN-DELAY", caps)
                self.assertNotIn("EXPIRE", caps)
                if when == "before login":
                    p.user(addr("hank"))
                    p.pass_(PASSWORD)
            self.assertEqual(seen["before login"], seen["after login"])
            self.assertEqual(p.stat()[0], 0)  # in TRANSACTION indeed
            for cmd in (f"USER {addr('hank')}", "AUTH PLAIN", "STLS"):
                with self.assertRaises(poplib.error_proto) as e:
                    p._shortcmd(cmd)
                self.assertIn("-ERR command not valid in this state", str(e.exception), cmd)
        finally:
            p.quit()

    def test_roundtrip_bytes_list_sizes_and_move_to_cur(self):
        """SMTP in, POP3 out: the same bytes after Return-Path and Received."""
        tricky = tricky_message(addr("alice"))
        big = big_message(addr("alice"))
        smtp_send(self.srv, addr("alice"), tricky)
        smtp_send(self.srv, addr("alice"), big)
        files = dict(self.srv.messages("alice"))
        self.assertEqual(len(files), 2)
        by_base = {base_name(n): (n, d) for n, d in files.items()}
        # The file names carry the exact sizes (contract: STAT/LIST read no body).
        for name, data in files.items():
            self.assertEqual(size_field(name, "S"), len(data), name)
            self.assertEqual(size_field(name, "W"), len(crlf(data)), name)
            self.assertNotIn(b"\r\n", data, "stored with LF endings")

        p = pop_login(self.srv, "alice")
        count, octets = p.stat()
        self.assertEqual(count, 2)
        self.assertEqual(octets, sum(size_field(n, "W") for n in files))
        sizes = list_map(p)
        uids = uidl_map(p)
        self.assertEqual(sorted(uids.values()), sorted(by_base))
        originals = {b"dots and 8bit": tricky, b"one mebibyte": big}
        seen = set()
        for n in (1, 2):
            name, disk = by_base[uids[n]]
            data, octets, resp = retr_bytes(p, n)
            # LIST size == RETR octets == CRLF size before stuffing == ,W=
            self.assertEqual(sizes[n], len(data))
            self.assertEqual(octets, len(data))
            self.assertEqual(sizes[n], size_field(name, "W"))
            m = re.match(rb"\+OK (\d+)", resp)
            if m:  # "+OK N octets" is optional in RFC 1939, but must be right when given
                self.assertEqual(int(m.group(1)), len(data), resp)
            self.assertEqual(data, crlf(disk))
            subject = re.search(rb"\r\nSubject: ([^\r]*)\r\n", data).group(1)
            original = originals[subject]
            seen.add(subject)
            self.assertTrue(data.endswith(original), f"message {n} differs from what was sent")
            server_prefix_ok(self, data[:-len(original)])
            # TOP n 0: the header and the blank line; TOP n 3: three body lines more.
            head = data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
            _, top0, _ = p.top(n, 0)
            self.assertEqual(b"".join(l + b"\r\n" for l in top0), head)
            _, top3, _ = p.top(n, 3)
            body_lines = data[len(head):].split(b"\r\n")[:3]
            self.assertEqual(b"".join(l + b"\r\n" for l in top3),
                             head + b"".join(l + b"\r\n" for l in body_lines))
            # LIST n and UIDL n agree with the listings.
            self.assertEqual(p.list(n), f"+OK {n} {sizes[n]}".encode())
            self.assertEqual(p.uidl(n), f"+OK {n} {uids[n]}".encode())
        self.assertEqual(seen, set(originals))
        # TOP does not count as retrieval; both were retrieved by RETR anyway.
        p.quit()

        # Retrieved messages moved to cur/ with the Seen flag; new/ is empty.
        self.assertEqual(self.srv.messages("alice", "new"), [])
        cur = dict(self.srv.messages("alice", "cur"))
        self.assertEqual(len(cur), 2)
        for name, data in cur.items():
            self.assertTrue(name.endswith(":2,S"), name)
            old_name, old_data = by_base[base_name(name)]
            self.assertEqual(name, old_name + ":2,S")
            self.assertEqual(data, old_data)

    def test_wire_bytes_are_dot_stuffed_crlf(self):
        """Raw socket: RETR sends exactly the stuffed CRLF message and '.'."""
        msg = tricky_message(addr("bob"))
        smtp_send(self.srv, addr("bob"), msg)
        (name, disk), = self.srv.messages("bob")
        p, _ = connect(self.srv)
        p.login(addr("bob"))
        p.send("RETR 1\r\n")
        first = p.bline()
        self.assertTrue(first.startswith(b"+OK"), first)
        while not p.buf.endswith(b"\r\n.\r\n"):
            chunk = p.s.recv(65536)
            self.assertTrue(chunk, "connection closed during RETR")
            p.buf += chunk
        wire, p.buf = p.buf, b""
        self.assertEqual(wire, stuff(crlf(disk)))
        self.assertIn(b"\r\n...two leading dots\r\n", wire)
        self.assertIn(b"\r\n..\r\n", wire)
        self.assertTrue(wire.endswith(msg.replace(b"\r\n.", b"\r\n..") + b".\r\n"))
        self.assertTrue(p.quit().startswith("+OK"))

    def test_apop_login(self):
        self.deliver("carol", "for apop")
        p = pop(self.srv)
        self.assertTrue(TIMESTAMP_RE.search(p.getwelcome().decode()), p.getwelcome())
        resp = p.apop(addr("carol"), PASSWORD)
        self.assertTrue(resp.startswith(b"+OK"), resp)
        self.assertEqual(p.stat()[0], 1)
        p.quit()
        self.assertTrue(self.srv.wait_log(r"\blogin\b.*carol@example\.test.*APOP"
                                          r"|\blogin\b.*APOP.*carol@example\.test"), self.srv.log())

    def test_uidl_stable_across_sessions_move_and_restart(self):
        self.deliver("dave", "one", "two", "three")
        names = [n for n, _ in self.srv.messages("dave")]
        p = pop_login(self.srv, "dave")
        first = uidl_map(p)
        self.assertEqual(sorted(first.values()), sorted(base_name(n) for n in names))
        self.assertEqual(len(set(first.values())), 3)
        for uid in first.values():
            self.assertRegex(uid, r"^[\x21-\x7e]{1,70}$")
        retr_bytes(p, 2)  # moves message 2 to cur/ at QUIT
        p.quit()
        self.assertEqual(len(self.srv.messages("dave", "cur")), 1)
        self.assertEqual(len(self.srv.messages("dave", "new")), 2)

        p = pop_login(self.srv, "dave")
        self.assertEqual(uidl_map(p), first, "UIDL changed after the new/ -> cur/ move")
        p.quit()

        self.srv.stop()
        self.srv.start()
        p = pop_login(self.srv, "dave")
        self.assertEqual(uidl_map(p), first, "UIDL changed after a restart")
        p.quit()

    def test_dele_then_quit_deletes(self):
        self.deliver("erin", "keep 1", "delete me", "keep 3")
        p = pop_login(self.srv, "erin")
        uids = uidl_map(p)
        data, _, _ = retr_bytes(p, 2)
        self.assertIn(b"Subject: delete me", data)
        self.assertTrue(p.dele(2).startswith(b"+OK"))
        self.assertEqual(p.stat()[0], 2, "STAT does not count deleted messages")
        self.assertNotIn(2, list_map(p))
        self.assertNotIn(2, uidl_map(p))
        resp = p.quit()
        self.assertTrue(resp.startswith(b"+OK"), resp)
        left = [base_name(n) for n, _ in self.srv.messages("erin", "new")]
        left += [base_name(n) for n, _ in self.srv.messages("erin", "cur")]
        self.assertEqual(sorted(left), sorted([uids[1], uids[3]]))
        p = pop_login(self.srv, "erin")
        self.assertEqual(sorted(uidl_map(p).values()), sorted([uids[1], uids[3]]))
        p.quit()

    def test_dele_then_dropped_connection_deletes_nothing(self):
        self.deliver("frank", "a", "b")
        before = self.srv.messages("frank")
        p = pop_login(self.srv, "frank")
        retr_bytes(p, 1)
        self.assertTrue(p.dele(1).startswith(b"+OK"))
        self.assertTrue(p.dele(2).startswith(b"+OK"))
        p.close()  # no QUIT: RFC 1939 section 6, no UPDATE
        p = pop_login_retry(self.srv, "frank")
        self.assertEqual(p.stat()[0], 2)
        p.quit()
        # Nothing deleted, and the RETR of the dropped session did not move it either.
        self.assertEqual(self.srv.messages("frank", "new"), before)
        self.assertEqual(self.srv.messages("frank", "cur"), [])

    def test_rset_undoes_dele(self):
        self.deliver("gina", "x", "y", "z")
        before = self.srv.messages("gina")
        p = pop_login(self.srv, "gina")
        full = p.stat()
        self.assertTrue(p.dele(1).startswith(b"+OK"))
        self.assertTrue(p.dele(3).startswith(b"+OK"))
        self.assertEqual(p.stat()[0], 1)
        resp = p.rset()
        self.assertTrue(resp.startswith(b"+OK"), resp)
        self.assertEqual(p.stat(), full)
        self.assertEqual(sorted(list_map(p)), [1, 2, 3])
        retr_bytes(p, 1)  # allowed again after RSET
        self.assertTrue(p.noop().startswith(b"+OK"))
        p.quit()
        self.assertEqual(len(self.srv.messages("gina", "new")) +
                         len(self.srv.messages("gina", "cur")), 3)
        self.assertEqual([d for _, d in self.srv.messages("gina", "cur")], [before[0][1]])

    def test_second_session_gets_in_use(self):
        self.deliver("hank", "locked")
        first = pop_login(self.srv, "hank")
        second = pop(self.srv)
        second.user(addr("hank"))
        t0 = time.time()
        with self.assertRaises(poplib.error_proto) as cm:
            second.pass_(PASSWORD)
        self.assertIn(b"[IN-USE]", cm.exception.args[0])
        self.assertLess(time.time() - t0, 1.9, "IN-USE is not a failed login; no delay")
        # APOP meets the same lock.
        third = pop(self.srv)
        with self.assertRaises(poplib.error_proto) as cm:
            third.apop(addr("hank"), PASSWORD)
        self.assertIn(b"[IN-USE]", cm.exception.args[0])
        third.quit()
        self.assertEqual(first.stat()[0], 1)
        first.quit()
        # After the first session quits, the waiting client may log in (same connection).
        second.user(addr("hank"))
        resp = second.pass_(PASSWORD)
        self.assertTrue(resp.startswith(b"+OK"), resp)
        self.assertEqual(second.stat()[0], 1)
        second.quit()

    def test_snapshot_while_mail_arrives(self):
        """SMTP delivers while a POP3 session holds the maildrop; the snapshot does not move."""
        self.deliver("jack", "before")
        p = pop_login(self.srv, "jack")
        self.assertEqual(p.stat()[0], 1)
        smtp_send(self.srv, addr("jack"), simple_message("during", rcpt=addr("jack")))
        self.assertEqual(len(self.srv.messages("jack")), 2, "delivery blocked by the POP3 lock")
        self.assertEqual(p.stat()[0], 1)
        self.assertEqual(sorted(list_map(p)), [1])
        with self.assertRaises(poplib.error_proto):
            p.retr(2)
        p.dele(1)
        p.quit()
        p = pop_login(self.srv, "jack")
        self.assertEqual(p.stat()[0], 1)
        data, _, _ = retr_bytes(p, 1)
        self.assertIn(b"Subject: during", data)
        p.quit()

    def test_message_file_vanished_during_session(self):
        """Another program removed a file: RETR fails, the session and QUIT go on."""
        self.deliver("kate", "gone", "stays")
        p = pop_login(self.srv, "kate")
        uids = uidl_map(p)
        gone = [n for n, _ in self.srv.messages("kate") if base_name(n) == uids[1]][0]
        os.unlink(os.path.join(self.srv.maildir("kate"), "new", gone))
        with self.assertRaises(poplib.error_proto):
            p.retr(1)
        self.assertTrue(p.noop().startswith(b"+OK"))
        data, _, _ = retr_bytes(p, 2)
        self.assertIn(b"Subject: stays", data)
        self.assertTrue(p.dele(1).startswith(b"+OK"))
        resp = p.quit()
        self.assertTrue(resp.startswith(b"+OK"), resp)
        self.assertEqual([base_name(n) for n, _ in self.srv.messages("kate", "cur")], [uids[2]])

    def test_log_lines(self):
        """Login: account, IP, mechanism. Logout: retrieved and deleted counts."""
        user = "ivy"
        self.deliver(user, "log 1", "log 2", "log 3")
        n = len(self.srv.messages(user, "new")) + len(self.srv.messages(user, "cur"))
        p = pop_login(self.srv, user)
        retr_bytes(p, 1)
        retr_bytes(p, 2)
        retr_bytes(p, 2)  # twice: still one message retrieved
        p.dele(3)
        p.quit()
        acct = re.escape(addr(user))
        login_re = (r"(?m)^.*\blogin\b(?=.*" + acct + r")(?=.*\b127\.0\.0\.1\b)(?=.*\bUSER\b).*$")
        self.assertTrue(self.srv.wait_log(login_re), self.srv.log())
        logout_re = (r"(?m)^.*\blogout\b(?=.*" + acct + r")"
                     r"(?=.*retrieved\W{0,3}2\b)(?=.*deleted\W{0,3}1\b).*$")
        self.assertTrue(self.srv.wait_log(logout_re), self.srv.log())
        self.assertEqual(len(self.srv.messages(user, "new")) +
                         len(self.srv.messages(user, "cur")), n - 1)


class Pop3GreetingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(users=("alice",))).start()

    def test_timestamp_format_and_uniqueness(self):
        stamps = []
        for _ in range(20):
            p, greeting = connect(self.srv)
            # RFC 1939 section 7: the timestamp is the greeting's last token.
            m = TIMESTAMP_RE.search(greeting)
            self.assertIsNotNone(m, greeting)
            self.assertTrue(greeting.rstrip().endswith(m.group(0)), greeting)
            stamps.append(m)
            self.assertTrue(p.quit().startswith("+OK"))
        now = time.time()
        texts = [m.group(0) for m in stamps]
        self.assertEqual(len(set(texts)), 20, texts)
        self.assertEqual(len({m.group(4) for m in stamps}), 20, "RANDOM part repeats")
        counters = [int(m.group(2)) for m in stamps]
        self.assertEqual(counters, sorted(counters))
        self.assertEqual(len(set(counters)), 20)
        for m in stamps:
            self.assertEqual(int(m.group(1)), self.srv.proc.pid, m.group(0))
            self.assertLess(abs(int(m.group(3)) - now), 300, m.group(0))
            self.assertEqual(m.group(5), HOSTNAME, m.group(0))
            self.assertGreaterEqual(len(m.group(4)), 8, "too little randomness: " + m.group(0))

    def test_apop_digest_uses_this_connections_timestamp(self):
        """A digest computed over another connection's timestamp is refused."""
        p1, g1 = connect(self.srv)
        p2, g2 = connect(self.srv, source="127.0.0.31")
        ts1 = TIMESTAMP_RE.search(g1).group(0)
        ts2 = TIMESTAMP_RE.search(g2).group(0)
        self.assertNotEqual(ts1, ts2)
        digest1 = hashlib.md5((ts1 + PASSWORD).encode()).hexdigest()
        r = p2.cmd(f"APOP {addr('alice')} {digest1}")  # replay of connection 1's digest
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        p2.quit()
        r = p1.cmd(f"APOP {addr('alice')} {digest1.upper()}")  # hex case does not matter
        self.assertTrue(r.startswith("+OK"), r)
        p1.quit()


class Pop3ApopOffTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(users=("alice",), extra_config={"pop3.apop": "false"})).start()

    def test_no_timestamp_and_apop_fails(self):
        p, greeting = connect(self.srv)
        self.assertNotIn("<", greeting)
        self.assertNotIn(">", greeting)
        fake = "<1.2.3.4@" + HOSTNAME + ">"
        digest = hashlib.md5((fake + PASSWORD).encode()).hexdigest()
        r = p.cmd(f"APOP {addr('alice')} {digest}")
        self.assertTrue(r.startswith("-ERR"), r)
        # USER/PASS still works on the same connection.
        p.login(addr("alice"))
        self.assertTrue(p.cmd("STAT").startswith("+OK 0 0"))
        p.quit()

    def test_poplib_apop_refuses(self):
        p = pop(self.srv)
        with self.assertRaises(poplib.error_proto):
            p.apop(addr("alice"), PASSWORD)  # poplib itself finds no timestamp
        p.quit()


class Pop3AuthTest(unittest.TestCase):
    """Credentials. Each failed login comes from its own 127.0.0.x address."""

    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(users=("alice", "broken")))
        cls.srv.cli("user", "add", addr("noapop"), "--password-stdin", stdin=PASSWORD + "\n")
        # Storage trouble: broken's new/ is a file, not a directory.
        os.makedirs(cls.srv.maildir("broken"))
        open(os.path.join(cls.srv.maildir("broken"), "new"), "w").close()
        cls.srv.start()

    def test_account_without_apop_secret(self):
        p, greeting = connect(self.srv, source="127.0.0.11")
        ts = TIMESTAMP_RE.search(greeting).group(0)
        digest = hashlib.md5((ts + PASSWORD).encode()).hexdigest()  # the right password
        r = p.cmd(f"APOP {addr('noapop')} {digest}")
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        p.quit()
        # The account is there and its password works with USER/PASS.
        p, _ = connect(self.srv)
        p.login(addr("noapop"))
        self.assertTrue(p.quit().startswith("+OK"))
        listing = self.srv.cli("user", "list").stdout
        self.assertRegex(listing, r"(?m)^noapop@example\.test\s*$")
        self.assertRegex(listing, r"(?m)^alice@example\.test\tapop$")

    def test_bad_password_is_auth_error_and_delayed(self):
        p, _ = connect(self.srv, source="127.0.0.12")
        self.assertTrue(p.cmd(f"USER {addr('alice')}").startswith("+OK"))
        t0 = time.time()
        r = p.cmd("PASS wrong-" + PASSWORD)
        elapsed = time.time() - t0
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        self.assertGreaterEqual(elapsed, 1.9)
        self.assertNotIn(PASSWORD, self.srv.log(), "a password reached the log")
        # The session goes on: the right password now works.
        p.login(addr("alice"))
        p.quit()
        self.assertTrue(self.srv.wait_log(r"127\.0\.0\.12"), self.srv.log())

    def test_bad_apop_digest_is_auth_error(self):
        p, greeting = connect(self.srv, source="127.0.0.13")
        ts = TIMESTAMP_RE.search(greeting).group(0)
        digest = hashlib.md5((ts + "not-the-password").encode()).hexdigest()
        t0 = time.time()
        r = p.cmd(f"APOP {addr('alice')} {digest}")
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        self.assertGreaterEqual(time.time() - t0, 1.9)
        p.quit()

    def test_failed_login_delay_doubles_per_ip(self):
        p, _ = connect(self.srv, source="127.0.0.15")
        delays = []
        for attempt in ("wrong-1", "wrong-2"):
            self.assertTrue(p.cmd(f"USER {addr('alice')}").startswith("+OK"))
            t0 = time.time()
            r = p.cmd("PASS " + attempt)
            delays.append(time.time() - t0)
            self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        p.quit()
        self.assertGreaterEqual(delays[0], 1.9, delays)
        self.assertGreaterEqual(delays[1], 3.9, delays)
        # Another address is not slowed down by this one's failures.
        p, _ = connect(self.srv, source="127.0.0.16")
        t0 = time.time()
        p.login(addr("alice"))
        self.assertLess(time.time() - t0, 1.9)
        p.quit()

    def test_storage_trouble_is_sys_temp(self):
        p, _ = connect(self.srv)
        t0 = time.time()
        p.cmd(f"USER {addr('broken')}")
        r = p.cmd("PASS " + PASSWORD)
        self.assertTrue(r.startswith("-ERR [SYS/TEMP]"), r)
        self.assertLess(time.time() - t0, 1.9, "not a failed login: no delay")
        # Still in AUTHORIZATION: another account can log in on the same connection.
        self.assertTrue(p.cmd("STAT").startswith("-ERR"))
        p.login(addr("alice"))
        p.quit()

    def test_user_unknown_account_is_ok(self):
        p, _ = connect(self.srv)
        known = p.cmd(f"USER {addr('alice')}")
        unknown = p.cmd(f"USER nobody-{os.getpid()}@{DOMAIN}")
        other = p.cmd("USER nobody@nowhere.invalid")
        self.assertTrue(known.startswith("+OK"), known)
        self.assertEqual(unknown, known, "USER must not reveal whether an account exists")
        self.assertEqual(other, known)
        p.quit()

    def test_unknown_account_password_is_auth_error(self):
        p, _ = connect(self.srv, source="127.0.0.14")
        p.cmd(f"USER nobody@{DOMAIN}")
        t0 = time.time()
        r = p.cmd("PASS " + PASSWORD)
        self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        self.assertGreaterEqual(time.time() - t0, 1.9)
        p.quit()

    def test_pass_without_user(self):
        p, _ = connect(self.srv)
        r = p.cmd("PASS " + PASSWORD)
        self.assertTrue(r.startswith("-ERR"), r)
        p.login(addr("alice"))
        p.quit()


class Pop3LockoutTest(unittest.TestCase):
    """Issue 14: a client network over [auth] failure_limit is refused before
    any password is checked (-ERR [SYS/TEMP], then close) until
    failure_window has passed since its last failure. A small limit, a short
    window and no delay keep the test fast."""

    WINDOW = 6

    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(users=("alice",), extra_config={
            "auth.failure_limit": "3",
            "auth.failure_window": f'"{cls.WINDOW}s"',
            "auth.failure_delay": '"0s"',
        })).start()

    def test_right_credentials_refused_while_locked_out(self):
        source = "127.0.0.40"
        p, _ = connect(self.srv, source=source)
        for i in range(3):
            self.assertTrue(p.cmd(f"USER {addr('alice')}").startswith("+OK"))
            r = p.cmd(f"PASS wrong-{i}")
            self.assertTrue(r.startswith("-ERR [AUTH]"), r)
        p.close()
        locked_at = time.monotonic()
        refused = "-ERR [SYS/TEMP] too many failed logins"
        # USER/PASS with the right password.
        p, _ = connect(self.srv, source=source)
        self.assertTrue(p.cmd(f"USER {addr('alice')}").startswith("+OK"))
        r = p.cmd(f"PASS {PASSWORD}")
        self.assertTrue(r.startswith(refused), f"the right password while locked out: {r}")
        self.assertTrue(p.closed(), "still open after the refusal")
        p.close()
        # APOP with the right digest.
        p, greeting = connect(self.srv, source=source)
        ts = TIMESTAMP_RE.search(greeting).group(0)
        r = p.cmd(f"APOP {addr('alice')} {hashlib.md5((ts + PASSWORD).encode()).hexdigest()}")
        self.assertTrue(r.startswith(refused), r)
        p.close()
        # AUTH PLAIN with the right password.
        p, _ = connect(self.srv, source=source)
        plain = base64.b64encode(f"\0{addr('alice')}\0{PASSWORD}".encode()).decode()
        r = p.cmd(f"AUTH PLAIN {plain}")
        self.assertTrue(r.startswith(refused), r)
        p.close()
        self.assertLess(time.monotonic() - locked_at, self.WINDOW - 1, "too slow to test the window")
        self.assertTrue(self.srv.wait_log(r"login refused ip=127\.0\.0\.40 .*mechanism=APOP"),
                        self.srv.log()[-3000:])
        # Another address logs in.
        p, _ = connect(self.srv, source="127.0.0.41")
        p.login(addr("alice"))
        p.quit()
        # After the window, the right password works again.
        time.sleep(max(0.0, locked_at + self.WINDOW + 1.0 - time.monotonic()))
        p, _ = connect(self.srv, source=source)
        p.login(addr("alice"))
        p.quit()


class Pop3HostileTest(unittest.TestCase):
    """Raw sockets: CHECKLIST "POP3"."""

    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(users=("alice", "bob"))).start()
        for i in range(3):
            smtp_send(cls.srv, addr("alice"), simple_message(f"hostile {i + 1}",
                                                             body=b".dot\r\nline\r\n"))
        smtp_send(cls.srv, addr("bob"), big_message(addr("bob"), 2 * 1024 * 1024))
        smtp_send(cls.srv, addr("bob"), simple_message("small", rcpt=addr("bob")))

    def session(self, source=None):
        p, _ = connect(self.srv, source=source)
        p.login(addr("alice"))
        return p

    def assertErr(self, reply, what=""):
        self.assertTrue(reply.startswith("-ERR"), f"{what!r}: {reply!r}")

    def assertOk(self, reply, what=""):
        self.assertTrue(reply.startswith("+OK"), f"{what!r}: {reply!r}")

    def assertStillThree(self, p):
        self.assertTrue(p.cmd("STAT").startswith("+OK 3 "))

    def test_line_length_limit_before_login(self):
        p, _ = connect(self.srv)
        self.assertOk(p.cmd("CAPA"), "CAPA")
        p.multi()
        self.assertErr(p.cmd("USER " + "a" * 600), "USER 600")
        # The session goes on.
        p.login(addr("alice"))
        self.assertStillThree(p)
        p.quit()

    def test_line_length_limit_in_transaction(self):
        p = self.session()
        line512 = "NOOP" + " " * 506   # + CRLF = 512 octets
        self.assertOk(p.cmd(line512), "512-octet line")
        self.assertErr(p.cmd(line512 + " "), "513-octet line")
        self.assertErr(p.cmd("LIST " + "1" * 5000), "5000-octet line")
        self.assertOk(p.cmd("NOOP"))
        self.assertStillThree(p)
        p.quit()

    def test_bad_message_numbers(self):
        p = self.session()
        for verb in ("RETR", "DELE", "LIST", "UIDL"):
            for n in ("0", "-1", "1x", "99999999999", "4", "+1", "0x1"):
                self.assertErr(p.cmd(f"{verb} {n}"), f"{verb} {n}")
            self.assertOk(p.cmd("NOOP"))
        self.assertStillThree(p)
        self.assertTrue(p.quit().startswith("+OK"))
        p = self.session()
        for n in ("0", "-1", "1x", "99999999999"):
            self.assertErr(p.cmd(f"TOP {n} 1"), f"TOP {n} 1")
        self.assertOk(p.cmd("LIST 1"))
        self.assertStillThree(p)
        p.quit()

    def test_deleted_message(self):
        p = self.session()
        self.assertOk(p.cmd("DELE 1"))
        self.assertErr(p.cmd("RETR 1"), "RETR of a deleted message")
        self.assertErr(p.cmd("DELE 1"), "DELE of a deleted message")
        self.assertErr(p.cmd("TOP 1 0"), "TOP of a deleted message")
        self.assertErr(p.cmd("LIST 1"), "LIST of a deleted message")
        self.assertErr(p.cmd("UIDL 1"), "UIDL of a deleted message")
        self.assertTrue(p.cmd("STAT").startswith("+OK 2 "))
        self.assertOk(p.cmd("RSET"))
        self.assertOk(p.cmd("RETR 1"))
        body = p.multi()
        self.assertIn(b"..dot", body)
        self.assertStillThree(p)
        p.quit()

    def test_top_bad_count(self):
        p = self.session()
        for arg in ("1 -1", "1 x", "1", "1 1 1", "1 99999999999999999999999", "1 1x"):
            self.assertErr(p.cmd(f"TOP {arg}"), f"TOP {arg}")
        self.assertOk(p.cmd("TOP 1 0"))
        lines = p.multi()
        self.assertEqual(lines[-1], b"", "TOP n 0 ends with the blank line")
        self.assertOk(p.cmd("TOP 1 1"))
        lines = p.multi()
        self.assertEqual(lines[-2:], [b"", b"..dot"])
        p.quit()

    def test_transaction_commands_before_login(self):
        for cmd in ("STAT", "LIST", "RETR 1", "DELE 1", "UIDL", "TOP 1 1", "RSET", "NOOP"):
            p, _ = connect(self.srv)
            self.assertErr(p.cmd(cmd), cmd + " before login")
            self.assertOk(p.cmd("QUIT"))
            p.close()

    def test_three_bad_commands_before_login_close(self):
        p, _ = connect(self.srv)
        self.assertErr(p.cmd("FOO"))
        self.assertErr(p.cmd("STAT"))
        try:
            self.assertErr(p.cmd("BAR baz"))
        except EOFError:
            pass  # closing without a last -ERR is acceptable too
        self.assertTrue(p.closed(5), "connection still open after three bad commands")
        p.close()

    def test_commands_before_login_are_limited(self):
        """Issue 14: 300 CAPA/USER before login were all answered, each resetting
        the idle timer, so a client held its slot for ever. Now 100 commands are
        answered in AUTHORIZATION, then -ERR and the connection closes."""
        p, _ = connect(self.srv)
        self.addCleanup(p.close)
        answered = 0
        last = None
        for i in range(300):
            try:
                if i % 2 == 0:
                    last = p.cmd("CAPA")
                    if last.startswith("+OK"):
                        p.multi()
                else:
                    last = p.cmd(f"USER {addr('alice')}")
            except (EOFError, OSError):
                break
            if not last.startswith("+OK"):
                break
            answered += 1
        self.assertEqual(answered, 100, last)
        self.assertEqual(last, "-ERR too many commands without logging in, closing connection")
        self.assertTrue(p.closed(5), "connection still open after the limit")
        # Logging in within the limit resets nothing, but the limit ends there.
        q = self.session()
        for _ in range(150):
            self.assertOk(q.cmd("NOOP"))
        self.assertStillThree(q)
        q.quit()

    def test_apop_digest_not_hex(self):
        p, _ = connect(self.srv)
        t0 = time.time()
        self.assertErr(p.cmd(f"APOP {addr('alice')} " + "z" * 32), "32 non-hex")
        self.assertErr(p.cmd(f"APOP {addr('alice')} " + "a" * 31), "31 hex")
        self.assertLess(time.time() - t0, 1.9)
        p.login(addr("alice"))
        p.quit()
        p, _ = connect(self.srv)
        self.assertErr(p.cmd(f"APOP {addr('alice')} " + "a" * 33), "33 hex")
        self.assertErr(p.cmd(f"APOP {addr('alice')}"), "no digest")
        p.quit()

    def test_auth_plain(self):
        good = base64.b64encode(b"\0" + addr("alice").encode() + b"\0" + PASSWORD.encode()).decode()
        # Initial response on the command line (RFC 5034 section 4).
        p, _ = connect(self.srv)
        self.assertOk(p.cmd("AUTH PLAIN " + good))
        self.assertStillThree(p)
        p.quit()
        # Continuation.
        p, _ = connect(self.srv)
        r = p.cmd("AUTH PLAIN")
        self.assertTrue(r.startswith("+"), r)
        self.assertOk(p.cmd(good))
        self.assertStillThree(p)
        p.quit()
        # "*" cancels; the session is still in AUTHORIZATION and can log in.
        p, _ = connect(self.srv)
        self.assertTrue(p.cmd("AUTH PLAIN").startswith("+"))
        self.assertErr(p.cmd("*"), "*")
        self.assertErr(p.cmd("STAT"), "STAT after a cancelled AUTH")
        p.login(addr("alice"))
        p.quit()
        self.assertTrue(self.srv.wait_log(r"\blogin\b.*\bPLAIN\b"), self.srv.log())

    def test_auth_plain_bad_base64(self):
        p, _ = connect(self.srv)
        self.assertErr(p.cmd("AUTH PLAIN !!!notbase64"))
        self.assertErr(p.cmd("AUTH X-UNKNOWN"))
        p.login(addr("alice"))
        p.quit()

    def test_pipelined_commands_ordered_responses(self):
        p = self.session()
        expected = {}
        for c in ("STAT", "LIST 2", "UIDL 3"):
            expected[c] = p.cmd(c)
        self.assertOk(p.cmd("LIST"))
        expected["LIST"] = p.multi()
        self.assertOk(p.cmd("RETR 2"))
        expected["RETR 2"] = p.multi()
        p.quit()

        p, _ = connect(self.srv)
        batch = ["CAPA", f"USER {addr('alice')}", f"PASS {PASSWORD}", "STAT", "LIST",
                 "LIST 2", "RETR 2", "RETR 99", "UIDL 3", "TOP 1 0", "NOOP", "QUIT"]
        p.send("".join(c + "\r\n" for c in batch))  # one write, one packet
        self.assertOk(p.line(), "CAPA")
        self.assertIn(b"PIPELINING", p.multi())
        self.assertOk(p.line(), "USER")
        self.assertOk(p.line(), "PASS")
        self.assertEqual(p.line(), expected["STAT"])
        self.assertOk(p.line(), "LIST")
        self.assertEqual(p.multi(), expected["LIST"])
        self.assertEqual(p.line(), expected["LIST 2"])
        self.assertOk(p.line(), "RETR 2")
        self.assertEqual(p.multi(), expected["RETR 2"])
        self.assertErr(p.line(), "RETR 99")
        self.assertEqual(p.line(), expected["UIDL 3"])
        self.assertOk(p.line(), "TOP 1 0")
        p.multi()
        self.assertOk(p.line(), "NOOP")
        self.assertOk(p.line(), "QUIT")
        self.assertTrue(p.closed(5))
        p.close()

    def test_many_pipelined_commands(self):
        """6,000 commands in one write; every answer, in order; the session goes on."""
        p = self.session()
        p.send("STAT\r\nUIDL 2\r\n" * 3000 + "NOOP\r\n")
        replies = [p.line() for _ in range(6001)]
        self.assertEqual(set(replies[0:6000:2]), {replies[0]})
        self.assertRegex(replies[0], r"^\+OK 3 \d+$")
        self.assertEqual(set(replies[1:6000:2]), {replies[1]})
        self.assertRegex(replies[1], r"^\+OK 2 \S+$")
        self.assertTrue(replies[-1].startswith("+OK"))
        self.assertStillThree(p)
        p.quit()

    def test_connection_dropped_during_retr(self):
        """The client goes away in the middle of a 2 MiB RETR after a DELE: no UPDATE."""
        before = self.srv.messages("bob")
        p, _ = connect(self.srv)
        p.login(addr("bob"))
        self.assertTrue(p.cmd("DELE 2").startswith("+OK"))
        p.send("RETR 1\r\n")
        self.assertTrue(p.line().startswith("+OK"))
        p.s.recv(4096)
        p.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        p.close()  # RST
        q = pop_login_retry(self.srv, "bob")
        self.assertEqual(q.stat()[0], 2)
        q.quit()
        self.assertEqual(self.srv.messages("bob"), before)
        self.assertEqual(self.srv.messages("bob", "cur"), [])


class Pop3IdleTimeoutTest(unittest.TestCase):
    """RFC 1939 section 3 autologout: close without UPDATE. `[pop3] idle_timeout` is
    tegami's own key (default 10m, per the issue); 2 s keeps the test short."""

    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(users=("alice",), extra_config={"pop3.idle_timeout": '"2s"'}))
        cls.srv.start()
        smtp_send(cls.srv, addr("alice"), simple_message("idle"))

    def test_idle_session_is_closed_and_changes_nothing(self):
        before = self.srv.messages("alice")
        p, _ = connect(self.srv)
        p.login(addr("alice"))
        self.assertTrue(p.cmd("RETR 1").startswith("+OK"))
        p.multi()
        self.assertTrue(p.cmd("DELE 1").startswith("+OK"))
        t0 = time.time()
        self.assertTrue(p.closed(15), "idle session not closed")
        self.assertGreaterEqual(time.time() - t0, 1.5)
        p.close()
        q = pop_login_retry(self.srv, "alice")
        self.assertEqual(q.stat()[0], 1)
        q.quit()
        self.assertEqual(self.srv.messages("alice"), before)
        self.assertEqual(self.srv.messages("alice", "cur"), [])


class Pop3ForeignMaildirTest(unittest.TestCase):
    """Files tegami did not write (another MDA, a migration): names without ,S= and ,W=,
    CRLF on disk, a base name too long for a UIDL, a header-only message. LIST must
    still equal what RETR sends, UIDLs stay valid, unique and stable."""

    FILES = [
        ("1700000001.plain.other.host", b"Subject: lf on disk\n\nbody\n.dot\n", "new"),
        ("1700000002.crlf.other.host:2,S", b"Subject: crlf on disk\r\n\r\nbody\r\n", "cur"),
        ("1700000003." + "L" * 90 + ".other.host", b"Subject: long name\n\nbody\n", "new"),
        ("1700000005.headers.only.host", b"Subject: no body\n", "new"),
    ]
    # The same base name in new/ and cur/ (a copy left behind by a crash, a restore).
    DUPLICATES = [
        ("1700000004.dup.other.host", b"Subject: dup in new\n\nb\n", "new"),
        ("1700000004.dup.other.host:2,S", b"Subject: dup in cur\n\nb\n", "cur"),
    ]
    NO_FINAL_EOL = [("1700000006.noeol.other.host", b"Subject: no eol\n\nlast line", "new")]

    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(users=("alice", "bob", "carol")))
        write_maildir(cls.srv, "alice", cls.FILES)
        write_maildir(cls.srv, "bob", cls.NO_FINAL_EOL)
        write_maildir(cls.srv, "carol", cls.DUPLICATES)
        cls.srv.start()

    def retr_wire(self, p, n):
        """Raw RETR: the announced octets (if any) and the unstuffed CRLF bytes."""
        r = p.cmd(f"RETR {n}")
        self.assertTrue(r.startswith("+OK"), r)
        lines = p.multi()
        data = b"".join((l[1:] if l.startswith(b".") else l) + b"\r\n" for l in lines)
        m = re.match(r"\+OK (\d+)", r)
        return (int(m.group(1)) if m else None), data

    def check_user(self, user, files):
        """One session: LIST, UIDL, STAT, RETR of everything, QUIT. Returns the UIDLs."""
        p, _ = connect(self.srv)
        p.login(addr(user))
        p.send("LIST\r\n")
        self.assertTrue(p.line().startswith("+OK"))
        sizes = {int(a): int(b) for a, b in (l.split() for l in p.multi())}
        p.send("UIDL\r\n")
        self.assertTrue(p.line().startswith("+OK"))
        uids = {int(a): b.decode() for a, b in (l.split() for l in p.multi())}
        self.assertEqual(len(sizes), len(files))
        self.assertEqual(len(set(uids.values())), len(files), f"UIDLs not unique: {uids}")
        for uid in uids.values():
            self.assertRegex(uid, r"^[\x21-\x7e]{1,70}$")
        count, octets = p.cmd("STAT").split()[1:3]
        self.assertEqual((int(count), int(octets)), (len(files), sum(sizes.values())))
        contents = {crlf(d) if d.endswith(b"\n") else crlf(d) + b"\r\n" for _, d, _ in files}
        got = set()
        for n in sorted(sizes):
            announced, data = self.retr_wire(p, n)
            got.add(data)
            self.assertEqual(sizes[n], len(data), f"LIST {n} != octets RETR sent: {data!r}")
            if announced is not None:
                self.assertEqual(announced, len(data), f"RETR {n} +OK line: {data!r}")
        self.assertEqual(got, contents)
        self.assertTrue(p.quit().startswith("+OK"))
        return uids

    def test_foreign_files(self):
        first = self.check_user("alice", self.FILES)
        # Everything was retrieved, so everything is in cur/ now.
        self.assertEqual(self.srv.messages("alice", "new"), [])
        self.assertEqual(self.check_user("alice", self.FILES), first, "UIDL not stable")

    def test_message_without_final_line_end(self):
        # Regression: for a file that does not end in LF, LIST and RETR's
        # "+OK N octets" must count the CRLF that RETR adds to complete the
        # last line (once, they were 2 octets short).
        self.check_user("bob", self.NO_FINAL_EOL)

    def test_same_base_name_in_new_and_cur(self):
        first = self.check_user("carol", self.DUPLICATES)
        # Regression: QUIT moved the retrieved new/ file to cur/<name>:2,S with
        # rename(2), which silently replaced a cur/ file of that name. Now the
        # move never replaces (RENAME_NOREPLACE) and the message stays in new/.
        cur = dict(self.srv.messages("carol", "cur"))
        left = sorted(cur.values()) + sorted(d for _, d in self.srv.messages("carol", "new"))
        self.assertEqual(sorted(left), sorted(d for _, d, _ in self.DUPLICATES),
                         "a message was lost moving new/ -> cur/")
        self.assertEqual(sorted(self.check_user("carol", self.DUPLICATES).values()),
                         sorted(first.values()))


class Pop3RealClientsTest(unittest.TestCase):
    """mpop and fetchmail, as a user would run them."""

    @classmethod
    def setUpClass(cls):
        for tool in ("mpop", "fetchmail"):
            need_tool(tool)
        cls.srv = own(cls, Server(users=("alice", "bob", "carol"))).start()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tegami-pop3-clients-")
        self.env = dict(os.environ, HOME=self.tmp, LC_ALL="C")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def deliver(self, user, n, tag):
        for i in range(n):
            smtp_send(self.srv, addr(user),
                      simple_message(f"{tag} {i + 1}", body=b".dot line\r\nbody\r\n",
                                     rcpt=addr(user)))

    def count(self, user):
        return len(self.srv.messages(user, "new")) + len(self.srv.messages(user, "cur"))

    def run_tool(self, cmd, ok=(0,)):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=self.env,
                           stdin=subprocess.DEVNULL)
        self.assertIn(p.returncode, ok, f"{cmd}\nexit {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def mpoprc(self, user, keep, mbox, uidls):
        rc = os.path.join(self.tmp, f"mpoprc-{keep}")
        with open(rc, "w") as f:
            f.write(f"""defaults
account default
host 127.0.0.1
port {self.srv.ports['pop3']}
user {addr(user)}
password {PASSWORD}
auth apop
tls off
delivery mbox {mbox}
keep {'on' if keep else 'off'}
uidls_file {uidls}
""")
        os.chmod(rc, 0o600)
        return rc

    def test_mpop_auth_apop(self):
        self.deliver("alice", 3, "mpop")
        mbox = os.path.join(self.tmp, "x.mbox")
        # First run keeps the mail on the server.
        rc = self.mpoprc("alice", True, mbox, os.path.join(self.tmp, "uidls-1"))
        # mpop -C RC -q default   (RC: host, port, user, password, auth apop, tls off,
        #                          delivery mbox FILE, keep on|off, uidls_file FILE)
        self.run_tool(["mpop", "-C", rc, "-q", "default"])
        text = read(mbox)
        for i in (1, 2, 3):
            self.assertIn(f"Subject: mpop {i}".encode(), text)
        self.assertEqual(len(re.findall(rb"(?m)^From ", text)), 3)
        self.assertIn(b"\n.dot line\n", text, "mpop got a dot-stuffed line back")
        self.assertEqual(self.count("alice"), 3, "keep on deleted mail")
        self.assertTrue(self.srv.wait_log(r"\blogin\b.*alice@example\.test.*APOP"
                                          r"|\blogin\b.*APOP.*alice@example\.test"))
        # Second run, keep off, new uidls file: fetches all three again and deletes them.
        os.unlink(mbox)
        rc = self.mpoprc("alice", False, mbox, os.path.join(self.tmp, "uidls-2"))
        self.run_tool(["mpop", "-C", rc, "-q", "default"])
        text = read(mbox)
        self.assertEqual(len(re.findall(rb"(?m)^From ", text)), 3)
        self.assertEqual(self.count("alice"), 0, "keep off left mail on the server")

    def fetchmailrc(self, user, port):
        rc = os.path.join(self.tmp, "fetchmailrc")
        with open(rc, "w") as f:
            f.write(f'poll 127.0.0.1 service {port} protocol POP3 auth password\n'
                    f'  user "{addr(user)}" there with password "{PASSWORD}" is "nobody" here\n')
        os.chmod(rc, 0o600)
        return rc

    def fetchmail_cmd(self, rc, out, *extra):
        # --sslproto '': fetchmail 6.4 sends STLS even when CAPA does not offer it
        # and gives up when it is refused; this listener has no TLS (yet).
        return ["fetchmail", "--nodetach", "--sslproto", "", "-f", rc,
                "--idfile", os.path.join(self.tmp, "fetchids"),
                "--pidfile", os.path.join(self.tmp, "fetchmail.pid"),
                "--mda", f"cat >> {out}", *extra]

    def test_fetchmail_apop(self):
        self.deliver("bob", 2, "fetchmail-apop")
        out = os.path.join(self.tmp, "out")
        rc = self.fetchmailrc("bob", self.srv.ports["pop3"])
        # fetchmail --nodetach --sslproto '' -f RC --idfile ID --pidfile PID \
        #           --mda "cat >> OUT" --protocol APOP
        p = self.run_tool(self.fetchmail_cmd(rc, out, "--protocol", "APOP"))
        text = read(out)
        for i in (1, 2):
            self.assertIn(f"Subject: fetchmail-apop {i}".encode(), text)
        self.assertIn(b"\n.dot line\n", text)
        self.assertEqual(self.count("bob"), 0, "fetchmail without --keep deletes: " + p.stderr)
        self.assertTrue(self.srv.wait_log(r"\blogin\b.*bob@example\.test.*APOP"
                                          r"|\blogin\b.*APOP.*bob@example\.test"))

    def test_fetchmail_keep_uidl(self):
        self.deliver("carol", 3, "fetchmail-uidl")
        out = os.path.join(self.tmp, "out")
        rc = self.fetchmailrc("carol", self.srv.ports["pop3"])
        # fetchmail --nodetach --sslproto '' -f RC --idfile ID --pidfile PID \
        #           --mda "cat >> OUT" --keep --uidl
        cmd = self.fetchmail_cmd(rc, out, "--keep", "--uidl")
        self.run_tool(cmd)
        text = read(out)
        self.assertEqual(sorted(re.findall(rb"Subject: (fetchmail-uidl \d)", text)),
                         [b"fetchmail-uidl 1", b"fetchmail-uidl 2", b"fetchmail-uidl 3"])
        self.assertEqual(self.count("carol"), 3, "--keep deleted mail")
        ids = read(os.path.join(self.tmp, "fetchids"), "r")
        for name, _ in self.srv.messages("carol", "cur") + self.srv.messages("carol", "new"):
            self.assertIn(base_name(name), ids, "fetchmail's idfile lacks a UIDL")
        # Second run: nothing new (fetchmail exits 1, "no mail").
        size = os.path.getsize(out)
        self.run_tool(cmd, ok=(1,))
        self.assertEqual(os.path.getsize(out), size, "second --uidl run fetched again")
        # One new message: exactly that one is fetched.
        self.deliver("carol", 1, "fetchmail-new")
        self.run_tool(cmd)
        text = read(out)[size:]
        self.assertEqual(re.findall(rb"Subject: (fetchmail-\S+ \d)", text), [b"fetchmail-new 1"])
        self.assertEqual(self.count("carol"), 4)


class Pop3BigDropTest(unittest.TestCase):
    """10,000 messages: STAT, LIST and UIDL are right and open no message file."""

    N = 10000

    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(users=("alice",)))
        rng = random.Random(10000)
        cls.files = []
        for i in range(cls.N):
            body = b"x" * rng.randrange(0, 300) + b"\n" + b".y\n" * rng.randrange(0, 5)
            data = (f"From: bench@example.org\nTo: alice@{DOMAIN}\nSubject: bulk {i}\n\n"
                    .encode() + body)
            in_cur = i % 3 == 0
            name = maildir_name(i, data, in_cur=in_cur)
            cls.files.append((name, data, "cur" if in_cur else "new"))
        write_maildir(cls.srv, "alice", cls.files)
        cls.srv.start()

    def check_listings(self, p):
        count, octets = p.stat()
        self.assertEqual(count, self.N)
        self.assertEqual(octets, sum(len(crlf(d)) for _, d, _ in self.files))
        sizes = list_map(p)
        uids = uidl_map(p)
        self.assertEqual(sorted(sizes), list(range(1, self.N + 1)))
        self.assertEqual(sorted(uids), list(range(1, self.N + 1)))
        want = {base_name(n): len(crlf(d)) for n, d, _ in self.files}
        self.assertEqual(len(set(uids.values())), self.N)
        self.assertEqual(set(uids.values()), set(want))
        for n, uid in uids.items():
            self.assertEqual(sizes[n], want[uid], f"LIST {n} ({uid})")
        return uids

    def test_stat_list_uidl_totals(self):
        p = pop_login(self.srv, "alice")
        uids = self.check_listings(p)
        # Spot-check a few RETRs against the files.
        by_base = {base_name(n): d for n, d, _ in self.files}
        for n in (1, self.N // 2, self.N):
            data, octets, _ = retr_bytes(p, n)
            self.assertEqual(data, crlf(by_base[uids[n]]))
        p.rset()
        p.quit()

    def test_stat_list_uidl_open_no_message_file(self):
        strace = need_tool("strace")
        pid = self.srv.proc.pid
        trace = os.path.join(self.srv.dir, "strace.out")
        # strace -f -e trace=open,openat -p PID: -f attaches every thread of the server.
        st = subprocess.Popen([strace, "-f", "-qq", "-e", "trace=open,openat,openat2",
                               "-o", trace, "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 10
            while True:
                tids = os.listdir(f"/proc/{pid}/task")
                traced = 0
                for tid in tids:
                    try:
                        status = read(f"/proc/{pid}/task/{tid}/status", "r")
                    except OSError:
                        continue
                    if re.search(r"(?m)^TracerPid:\s*[1-9]", status):
                        traced += 1
                if traced == len(tids):
                    break
                if st.poll() is not None or time.time() > deadline:
                    missing("strace cannot attach here (ptrace refused): " + (st.stderr.read() or ""))
                time.sleep(0.05)
            p = pop_login(self.srv, "alice")
            self.check_listings(p)
            p.quit()
            self.assertTrue(self.srv.wait_log(r"\blogout\b.*alice@example\.test"))
        finally:
            st.send_signal(signal.SIGINT)  # detaches
            try:
                st.wait(20)
            except subprocess.TimeoutExpired:
                st.kill()
                st.wait()
        text = read(trace, "r")
        md = self.srv.maildir("alice")
        opened = re.findall(r'open(?:at2?)?\([^"]*"([^"]*)"', text)
        # The trace saw the session (the Maildir's own directories at least),
        # so an empty result below means something.
        self.assertTrue(any(o.startswith(md) for o in opened),
                        "strace saw nothing:\n" + text[:2000])
        message_files = [o for o in opened if re.match(re.escape(md) + r"/(new|cur|tmp)/[^/]+$", o)]
        self.assertEqual(message_files[:5], [], f"{len(message_files)} message files opened")


if __name__ == "__main__":
    unittest.main()


class PopBeforeSmtpGrantTest(unittest.TestCase):
    """A successful POP3 login records a POP-before-SMTP grant for the client
    IP (shown by `tegami grants list`); a failed one records nothing."""

    def setUp(self):
        self.srv = Server()
        self.addCleanup(self.srv.cleanup)
        self.srv.start()

    def grants(self):
        out = self.srv.cli("grants", "list").stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def test_login_records_grant_for_that_ip_only(self):
        self.assertEqual(self.grants(), [])
        # Log in from 127.0.0.9 so the grant is visibly tied to the source IP.
        s = socket.create_connection(("127.0.0.1", self.srv.ports["pop3"]), timeout=30,
                                     source_address=("127.0.0.9", 0))
        f = s.makefile("rb")
        self.assertTrue(f.readline().startswith(b"+OK"))
        s.sendall(f"USER alice@{DOMAIN}\r\nPASS {PASSWORD}\r\nQUIT\r\n".encode())
        self.assertTrue(f.readline().startswith(b"+OK"))
        self.assertTrue(f.readline().startswith(b"+OK"))
        self.assertTrue(f.readline().startswith(b"+OK"))
        s.close()
        rows = self.grants()
        self.assertEqual(len(rows), 1, rows)
        ip, account, expires, left = rows[0]
        self.assertEqual(ip, "127.0.0.9")
        self.assertEqual(account, f"alice@{DOMAIN}")
        self.assertRegex(expires, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertTrue(550 <= int(left.rstrip("s")) <= 600, left)  # default ttl 10m
        self.assertEqual(self.srv.stop(), 0)


class Pop3StreamingTest(unittest.TestCase):
    """Issue 13: RETR and TOP stream the message from its file through a
    bounded buffer. A 25 MiB message comes back byte-exact while the
    server's resident memory, sampled from /proc during the transfer, grows
    by far less than one copy of it (it grew by about three copies before)."""

    SIZE = 25 * 1024 * 1024

    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(users=("alice",))).start()
        # 1 MiB of varied lines (leading dots, 8-bit), repeated to 25 MiB.
        one = big_message(addr("alice")).replace(b"\r\n", b"\n")
        head, _, body = one.partition(b"\n\n")
        lf_data = head + b"\n\n" + body * (cls.SIZE // len(body) + 1)
        cls.lf_data = lf_data
        write_maildir(cls.srv, "alice", [(maildir_name(1, lf_data), lf_data, "new")])

    def test_retr_25mib_byte_exact_in_bounded_memory(self):
        p = pop_login(self.srv, "alice")
        self.addCleanup(p.close)
        p._shortcmd("NOOP")  # warm every code path once
        with RssSampler(self.srv.proc.pid) as rss:
            data, octets, resp = retr_bytes(p, 1)
        before, peak = rss.before, rss.peak
        self.assertEqual(data, crlf(self.lf_data))
        self.assertEqual(resp, f"+OK {len(crlf(self.lf_data))} octets".encode())
        growth_mib = (peak - before) / 1024
        print(f"\nRETR 25 MiB: server RSS {before} KiB before, peak {peak} KiB "
              f"(+{growth_mib:.1f} MiB)")
        # One whole copy would be +25 MiB; the buffers are 384 KiB.
        self.assertLess(growth_mib, 12, f"RSS grew by {growth_mib:.1f} MiB during RETR")
        p.quit()

    def test_top_reads_only_what_it_sends(self):
        p = pop_login(self.srv, "alice")
        self.addCleanup(p.close)
        resp, lines, _ = p.top(1, 3)
        self.assertTrue(resp.startswith(b"+OK"), resp)
        head, _, body = crlf(self.lf_data).partition(b"\r\n\r\n")
        expected = head.split(b"\r\n") + [b""] + body.split(b"\r\n")[:3]
        self.assertEqual(lines, expected)
        p.quit()
