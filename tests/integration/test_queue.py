"""The outbound queue (issue 6) against the real tegami binary.

Peers on loopback:
  * a second tegami for the domain dest.test (harness.Server(domain=...)) as
    the destination, reached through `[relay] routes` or through MX records;
  * dnsmasq (Debian) on 127.0.0.1 and a free high port, serving the MX and A
    records of the test domains; the relaying server uses it via `[dns]
    servers` and reaches the MX host's port through `[relay] mx_port` (the
    documented test-only key: real MX delivery is always port 25);
  * FakeSmtp below: a scripted SMTP server that answers 4xx/5xx on demand and
    records the exact bytes it receives (it never speaks TLS: it can refuse
    STARTTLS, or accept it and hang up so that the handshake fails).

The relaying server ("A", example.test) trusts 127.0.0.1 explicitly
(`relay.trusted_networks`), as `tegami init` does.
"""
import email
import email.policy
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from harness import big_body, need_tool, DOMAIN, RssSampler, Server, wait_for  # noqa: E402

DEST = "dest.test"
DEST_HOST = "mx.dest.test"
ALICE = f"alice@{DOMAIN}"
TRUST = {"relay.trusted_networks": '["127.0.0.1/32"]'}


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def route(port, domain=DEST):
    return {"relay.routes": '{ "%s" = "127.0.0.1:%d" }' % (domain, port)}


def message(subject, body="Hello.\r\n", extra=b""):
    mid = f"<{subject.replace(' ', '-')}@{DOMAIN}>"
    return (f"From: Alice <{ALICE}>\r\nTo: someone\r\nSubject: {subject}\r\n"
            f"Message-ID: {mid}\r\n\r\n{body}").encode() + extra


def send(srv, rcpts, msg, sender=ALICE):
    """Sends through A's SMTP listener; returns smtplib's refused dict."""
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
        s.ehlo("client.example.org")
        return s.sendmail(sender, rcpts, msg)


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def dsn_parts(raw):
    """(human text, per-recipient delivery-status fields, returned headers) of a DSN."""
    m = parse(raw)
    assert m.get_content_type() == "multipart/report", m.get_content_type()
    assert m.get_param("report-type") == "delivery-status"
    parts = m.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"], \
        [p.get_content_type() for p in parts]
    status = parts[1].get_payload()  # a list of blocks (Message objects)
    per_rcpt = [dict(b.items()) for b in status[1:]]
    return parts[0].get_payload(), dict(status[0].items()), per_rcpt, parts[2].get_payload()


def unfold(text):
    return re.sub(r"\s+", " ", text).strip()


def dsn_received(raw):
    """The DSN's own Received: fields (the part before its From:), unfolded."""
    head = raw.split(b"\nFrom: ", 1)[0].decode()
    return [unfold(v) for v in re.findall(r"(?m)^Received: (.*(?:\n[ \t].*)*)", head)]


def trace_json(raw):
    """`tegami trace --format json` of a message, as the operator would run it."""
    p = subprocess.run([a_bin(), "trace", "--format", "json", "-"], input=raw,
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    import json
    return json.loads(p.stdout)


class FakeSmtp:
    """A scripted SMTP peer. `rcpt(addr)` and `data_end(n)` return reply lines;
    every transaction is recorded with the exact DATA bytes (dot-stuffed, as
    received on the wire), its MAIL command and its RCPT commands as sent. With "CHUNKING" in `ehlo` it also takes BDAT (RFC
    3030): the chunks' octets are read by count, the transaction records
    their concatenation as "data", "via" is "BDAT" and "chunks" their sizes;
    data_end answers BDAT LAST."""

    def __init__(self, ehlo=("PIPELINING", "8BITMIME", "SIZE 10000000"), rcpt=None,
                 data_end=None, starttls=None, greeting="220 fake.test ESMTP"):
        self.greeting = greeting
        self.ehlo = ehlo
        self.rcpt = rcpt or (lambda addr: "250 2.1.5 Ok")
        self.data_end = data_end or (lambda n: "250 2.0.0 Ok: queued")
        # The reply to STARTTLS (None: "500"). After a 220 the fake cannot do
        # TLS: it closes the connection, so the client's handshake fails.
        self.starttls = starttls
        self.transactions = []
        self.commands = []  # per connection: the command verbs received, in order
        self.connections = 0
        self.active = 0  # connections open now
        self.peak = 0    # most connections open at once
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with self.lock:
            self.connections += 1
            self.active += 1
            self.peak = max(self.peak, self.active)
        f = conn.makefile("rb")
        out = lambda line: conn.sendall(line.encode() + b"\r\n")  # noqa: E731
        tx = None
        counted = [True]
        verbs = []
        with self.lock:
            self.commands.append(verbs)

        def done():  # the session is over for the client once QUIT is answered
            with self.lock:
                if counted[0]:
                    self.active -= 1
                    counted[0] = False
        try:
            out(self.greeting)
            if not self.greeting.startswith("220"):
                # A refusal at the greeting: wait for the client's QUIT.
                line = f.readline()
                if line[:4].upper() == b"QUIT":
                    done()
                    out("221 2.0.0 Bye")
                return
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode("latin-1").rstrip("\r\n")
                verb = cmd[:4].upper()
                verbs.append(cmd.split(" ")[0].upper())
                if verb == "STAR" and self.starttls:
                    out(self.starttls)
                    if self.starttls.startswith("220"):
                        return
                elif verb == "EHLO":
                    if self.ehlo is None:
                        out("502 5.5.2 no EHLO here")
                    else:
                        lines = ["fake.test"] + list(self.ehlo)
                        for i, x in enumerate(lines):
                            out(("250 " if i == len(lines) - 1 else "250-") + x)
                elif verb == "HELO":
                    out("250 fake.test")
                elif verb == "MAIL":
                    tx = {"mail": cmd, "rcpts": [], "accepted": [], "data": None,
                          "via": None, "chunks": [], "rcpt_cmds": []}
                    out("250 2.1.0 Ok")
                elif verb == "RCPT":
                    addr = re.search(r"<(.*)>", cmd).group(1)
                    reply = self.rcpt(addr)
                    tx["rcpts"].append(addr)
                    tx["rcpt_cmds"].append(cmd)
                    if reply.startswith("2"):
                        tx["accepted"].append(addr)
                    out(reply)
                elif verb == "DATA":
                    if not tx or not tx["accepted"]:
                        out("554 5.5.1 no valid recipients")
                        continue
                    out("354 go ahead")
                    lines = []
                    while True:
                        line = f.readline()
                        if not line:
                            return
                        lines.append(line)
                        if line == b".\r\n":  # the client only ever sends CRLF
                            break
                    tx["data"] = b"".join(lines)
                    tx["via"] = "DATA"
                    with self.lock:
                        self.transactions.append(tx)
                        n = len(self.transactions)
                    out(self.data_end(n))
                elif verb == "BDAT" and "CHUNKING" in (self.ehlo or ()):
                    m = re.fullmatch(r"BDAT (\d+)( LAST)?", cmd, re.I)
                    if not m:
                        out("501 5.5.4 bad BDAT")
                        return  # the chunk's end is unknown: hang up
                    chunk = f.read(int(m.group(1)))
                    if len(chunk) < int(m.group(1)):
                        return
                    if not tx or not tx["accepted"]:
                        out("503 5.5.1 no valid recipients")
                        continue
                    tx["chunks"].append(len(chunk))
                    tx["data"] = (tx["data"] or b"") + chunk
                    if not m.group(2):
                        out(f"250 2.0.0 {len(chunk)} octets received")
                        continue
                    tx["via"] = "BDAT"
                    with self.lock:
                        self.transactions.append(tx)
                        n = len(self.transactions)
                    out(self.data_end(n))
                elif verb == "RSET":
                    tx = None
                    out("250 2.0.0 Ok")
                elif verb == "QUIT":
                    done()
                    out("221 2.0.0 Bye")
                    return
                else:
                    out("500 5.5.2 what?")
        except OSError:
            return
        finally:
            done()
            conn.close()


class Dnsmasq:
    """dnsmasq on 127.0.0.1 and a free port with the given records."""

    def __init__(self, *records):
        self.port = free_port(socket.SOCK_DGRAM)
        self.log = tempfile.NamedTemporaryFile(prefix="tegami-dnsmasq-", delete=False)
        self.proc = subprocess.Popen(
            ["dnsmasq", "--no-daemon", f"--port={self.port}", "--listen-address=127.0.0.1",
             "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
             "--pid-file=", "--log-queries", *records],
            stdout=subprocess.DEVNULL, stderr=self.log)
        # Ready when it answers.
        deadline = time.time() + 10
        while time.time() < deadline:
            if self._answers():
                return
            time.sleep(0.05)
        self.stop()
        raise AssertionError("dnsmasq did not start")

    def _answers(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        try:
            s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04test\x00\x00\x01\x00\x01",
                     ("127.0.0.1", self.port))
            s.recvfrom(512)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        os.unlink(self.log.name)


class QueueTestCase(unittest.TestCase):
    """Helpers: servers cleaned up after each test."""

    def dest(self, users=("bob",), port=None, start=True):
        extra = {}
        if port:
            extra["smtp.listen"] = f'["127.0.0.1:{port}"]'
        srv = Server(domain=DEST, hostname=DEST_HOST, users=users, extra_config=extra)
        self.addCleanup(srv.cleanup)
        if start:
            srv.start()
        return srv

    def relay(self, start=True, **config):
        conf = dict(TRUST)
        conf.update({"queue.retry": '["1s"]'})
        conf.update(config)
        srv = Server(extra_config=conf)
        self.addCleanup(srv.cleanup)
        if start:
            srv.start()
        return srv

    def queue_ids(self, srv):
        out = srv.cli("queue", "list").stdout
        return [line.split("\t")[0] for line in out.splitlines() if line and line[0] != "\t"]

    def wait_queue_empty(self, srv, timeout=20):
        ok = wait_for(lambda: not self.queue_ids(srv), timeout)
        self.assertTrue(ok or not self.queue_ids(srv),
                        srv.cli("queue", "list").stdout + "\n" + srv.log())

    def dsns(self, srv, user="alice"):
        return [raw for _, raw in srv.messages(user)
                if b"multipart/report" in raw and b"MAILER-DAEMON" in raw]


# =============================================================================
# Delivery by static route, mixed recipients, 5xx bounce with a DSN
# =============================================================================

class RouteDeliveryTest(QueueTestCase):

    def test_mixed_recipients_and_bounce(self):
        b = self.dest(users=("bob",))
        a = self.relay(**route(b.ports["smtp"]))
        msg = message("mixed", body="line one\r\n.starts with a dot\r\n..two dots\r\n")
        refused = send(a, [f"bob@{DOMAIN}", f"bob@{DEST}", f"carol@{DEST}"], msg)
        self.assertEqual(refused, {})  # one 250 for local and remote recipients

        # The local copy is in A's Maildir at once (the 250 waited for it).
        local = a.messages("bob")
        self.assertEqual(len(local), 1)
        self.assertTrue(local[0][1].startswith(b"Return-Path: <alice@example.test>\n"))

        # The remote copy arrives at B, dots intact, with both Received: fields.
        got = b.wait_messages("bob", 1)
        self.assertEqual(len(got), 1, b.log())
        data = got[0][1]
        self.assertTrue(data.startswith(b"Return-Path: <alice@example.test>\n"), data[:200])
        self.assertEqual(data.count(b"\nReceived: "), 2, data[:600])
        self.assertIn(b"by mx.dest.test (tegami)", data)
        self.assertIn(b"by mail.example.test (tegami)", data)
        self.assertEqual(data.count(b"Return-Path:"), 1)  # the queued copy had none
        self.assertTrue(data.endswith(b"line one\n.starts with a dot\n..two dots\n"), data[-100:])

        # carol is unknown at B (550 5.1.1): a DSN comes back to alice.
        dsn = wait_for(lambda: self.dsns(a), 20)
        self.assertTrue(dsn, a.log())
        self.assertEqual(len(dsn), 1)
        raw = dsn[0]
        self.assertTrue(raw.startswith(b"Return-Path: <>\n"), raw[:100])
        top = parse(raw)
        self.assertEqual(top["Subject"], "Undelivered Mail Returned to Sender")
        self.assertEqual(top["To"], f"<{ALICE}>")
        self.assertIn("MAILER-DAEMON@mail.example.test", top["From"])
        self.assertEqual(top["Auto-Submitted"], "auto-replied")
        text, per_msg, per_rcpt, headers = dsn_parts(raw)
        self.assertEqual(per_msg["Reporting-MTA"], "dns; mail.example.test")
        self.assertEqual(len(per_rcpt), 1)
        r = per_rcpt[0]
        self.assertEqual(r["Final-Recipient"], f"rfc822; carol@{DEST}")
        self.assertEqual(r["Action"], "failed")
        self.assertEqual(r["Status"], "5.1.1")
        # The route is an IP: no DNS name, so no Remote-MTA (RFC 3464 §2.3.5,
        # type "dns"); the text part names the address literal instead.
        self.assertNotIn("Remote-MTA", r)
        # Diagnostic-Code: B's reply alone; the stage is in the text part.
        diag = unfold(r["Diagnostic-Code"])
        self.assertTrue(diag.startswith("smtp; 550 5.1.1 <carol@dest.test>"), diag)
        self.assertNotIn("in reply to", diag)
        self.assertRegex(unfold(text), r"<carol@dest\.test>: host \[127\.0\.0\.1\] said: 550 5\.1\.1 "
                                       r"<carol@dest\.test>.* \(in reply to RCPT TO command\)")
        # Our own Received: on the DSN, which `tegami trace` reads as one hop.
        dsn_id = re.search(r"Message-ID: <([0-9A-F]+)\.dsn@mail\.example\.test>",
                           raw.decode()).group(1)
        rx = dsn_received(raw)
        self.assertEqual(len(rx), 1, rx)
        self.assertRegex(rx[0], r"^from localhost by mail\.example\.test \(tegami\) id "
                                + dsn_id + r"; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$")
        hops = trace_json(raw)["hops"]
        self.assertEqual(len(hops), 1, hops)
        self.assertEqual(hops[0]["by_host"], "mail.example.test")
        self.assertEqual(hops[0]["id"], dsn_id)
        self.assertIsNotNone(hops[0]["time"], hops)
        self.assertIn("Subject: mixed", headers)
        self.assertIn("Message-ID: <mixed@example.test>", headers)
        self.assertNotIn("starts with a dot", raw.decode())  # headers only, no body

        self.wait_queue_empty(a)
        self.assertRegex(a.log(), r"to=<bob@dest\.test> relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+ "
                                  r"delay=\d+s attempts=1 status=sent dsn=2\.0\.0")
        self.assertRegex(a.log(), r"to=<carol@dest\.test> .* status=bounced dsn=5\.1\.1")

    def test_relay_needs_trust(self):
        b = self.dest()
        a = Server(extra_config=route(b.ports["smtp"]))  # trusts nobody
        self.addCleanup(a.cleanup)
        a.start()
        with smtplib.SMTP("127.0.0.1", a.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example.org")
            # A local sender from an untrusted client is refused at the door
            # (issue 7, local-domain spoofing); a foreign one cannot relay.
            code, text = s.mail(ALICE)
            self.assertEqual(code, 550, text)
            self.assertIn(b"5.7.1", text)
            code, text = s.mail("someone@example.org")
            self.assertEqual(code, 250, text)
            code, text = s.rcpt(f"bob@{DEST}")
            self.assertEqual(code, 554)
            self.assertIn(b"5.7.1", text)
            # Relay tricks stay refused, even for a trusted client (see below).
        a2 = self.relay(**route(b.ports["smtp"]))
        with smtplib.SMTP("127.0.0.1", a2.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example.org")
            s.mail(ALICE)
            for trick in (f"bob%{DEST}@{DOMAIN}", f"{DEST}!bob@{DOMAIN}", "bob@[127.0.0.1]",
                          f"@{DOMAIN}:bob@{DEST}"):
                # Raw RCPT: smtplib.quoteaddr() rewrites a source route
                # ("<@a:b@c>" becomes "<@a>"), which would test something else.
                code, text = s.docmd("RCPT", f"TO:<{trick}>")
                self.assertEqual(code, 554, (trick, text))

    def test_remote_sender_gets_dsn_through_the_queue_and_never_a_bounce_of_a_bounce(self):
        b = self.dest(users=("bob",))
        a = self.relay(**route(b.ports["smtp"]))
        # bob@dest.test relays through A to an unknown dest.test user: the DSN
        # goes back through A's queue to B, with the null reverse-path.
        send(a, [f"nobody@{DEST}"], message("remote sender"), sender=f"bob@{DEST}")
        got = b.wait_messages("bob", 1)
        self.assertEqual(len(got), 1, a.log())
        raw = got[0][1]
        self.assertTrue(raw.startswith(b"Return-Path: <>\n"), raw[:100])
        _, _, per_rcpt, headers = dsn_parts(raw)
        self.assertEqual(per_rcpt[0]["Final-Recipient"], f"rfc822; nobody@{DEST}")
        self.assertIn("Subject: remote sender", headers)

        # A message from <> that fails: no DSN at all.
        send(a, [f"nobody@{DEST}"], message("from null"), sender="")
        self.assertTrue(a.wait_log(r"no bounce for a message from <> \(never a bounce of a bounce\)"),
                        a.log())
        self.wait_queue_empty(a)
        time.sleep(1)
        self.assertEqual(len(b.messages("bob")), 1)
        self.assertEqual(self.dsns(a), [])


# =============================================================================
# Delivery by MX through dnsmasq
# =============================================================================

class MxDeliveryTest(QueueTestCase):

    @classmethod
    def setUpClass(cls):
        need_tool("dnsmasq", "dnsmasq-base")
        super().setUpClass()

    def test_mx_null_mx_and_nxdomain(self):
        b = self.dest(users=("bob",))
        dns = Dnsmasq(f"--mx-host={DEST},{DEST_HOST},10", f"--host-record={DEST_HOST},127.0.0.1",
                      "--mx-host=null.test,.,0", "--address=/nowhere.test/")
        self.addCleanup(dns.stop)
        a = self.relay(**{"dns.servers": f'["127.0.0.1:{dns.port}"]',
                          "relay.mx_port": str(b.ports["smtp"])})
        send(a, [f"bob@{DEST}", "x@null.test", "y@nowhere.test"], message("by mx"))
        got = b.wait_messages("bob", 1)
        self.assertEqual(len(got), 1, a.log())
        self.assertIn(b"Subject: by mx", got[0][1])
        # The log line follows the peer's 250: wait for it (the message may
        # be seen at the destination first).
        self.assertTrue(a.wait_log(r"to=<bob@dest\.test> relay=mx\.dest\.test\[127\.0\.0\.1\]:\d+ "
                                   r".*status=sent"), a.log())
        # Null MX (RFC 7505) and NXDOMAIN bounce at once, in one DSN.
        dsn = wait_for(lambda: self.dsns(a), 20)
        self.assertTrue(dsn, a.log())
        _, _, per_rcpt, _ = dsn_parts(dsn[0])
        by = {r["Final-Recipient"]: r for r in per_rcpt}
        self.assertEqual(by["rfc822; x@null.test"]["Status"], "5.1.10")
        self.assertIn("null MX", re.sub(r"\s+", " ", by["rfc822; x@null.test"]["Diagnostic-Code"]))
        self.assertEqual(by["rfc822; y@nowhere.test"]["Status"], "5.1.2")
        self.assertEqual(by["rfc822; y@nowhere.test"]["Action"], "failed")
        # No remote MTA was involved: no Remote-MTA (RFC 3464 §2.3.5 MUST NOT).
        self.assertNotIn("Remote-MTA", by["rfc822; x@null.test"])
        self.assertNotIn("Remote-MTA", by["rfc822; y@nowhere.test"])
        self.wait_queue_empty(a)

    def test_dsn_names_the_mx_host_and_quotes_its_reply_alone(self):
        """Remote-MTA is the MX host name connected to; Diagnostic-Code is the
        MX's exact reply; the stage is in the text part (issue 12)."""
        peer = FakeSmtp(rcpt=lambda addr: ("550 5.1.1 <%s>: User unknown" % addr
                                           if addr.startswith("x@") else "250 2.1.5 Ok"))
        self.addCleanup(peer.close)
        dns = Dnsmasq(f"--mx-host={DEST},{DEST_HOST},10", f"--host-record={DEST_HOST},127.0.0.1")
        self.addCleanup(dns.stop)
        a = self.relay(**{"dns.servers": f'["127.0.0.1:{dns.port}"]',
                          "relay.mx_port": str(peer.port)})
        send(a, [f"x@{DEST}", f"ok@{DEST}"], message("to the mx"))
        dsn = wait_for(lambda: self.dsns(a), 20)
        self.assertTrue(dsn, a.log())
        self.assertEqual(len(dsn), 1)
        text, per_msg, per_rcpt, _ = dsn_parts(dsn[0])
        self.assertEqual(per_msg["Reporting-MTA"], "dns; mail.example.test")
        self.assertEqual(len(per_rcpt), 1, per_rcpt)
        r = per_rcpt[0]
        self.assertEqual(r["Final-Recipient"], f"rfc822; x@{DEST}")
        self.assertEqual(r["Status"], "5.1.1")
        self.assertEqual(r["Remote-MTA"], "dns; mx.dest.test")
        self.assertEqual(unfold(r["Diagnostic-Code"]), f"smtp; 550 5.1.1 <x@{DEST}>: User unknown")
        self.assertIn(f"<x@{DEST}>: host mx.dest.test said: 550 5.1.1 <x@{DEST}>: User unknown "
                      "(in reply to RCPT TO command)", unfold(text))
        self.assertRegex(dsn_received(dsn[0])[0],
                         r"^from localhost by mail\.example\.test \(tegami\) id [0-9A-F]+; ")
        # The queue recorded the same, field by field, while it held the entry
        # (`queue show` would print it); the log names the MX too.
        self.assertRegex(a.log(), r"to=<x@dest\.test> relay=mx\.dest\.test\[127\.0\.0\.1\]:\d+ .*"
                                  r"status=bounced dsn=5\.1\.1 \(smtp; 550 5\.1\.1 <x@dest\.test>: "
                                  r"User unknown\)")
        self.wait_queue_empty(a)


# =============================================================================
# Retries: destination down, then up, then `queue flush`; restart; lifetime
# =============================================================================

class RetryTest(QueueTestCase):

    def test_down_then_up_then_flush(self):
        port = free_port()
        a = self.relay(**route(port), **{"queue.retry": '["1h"]'})
        send(a, [f"bob@{DEST}"], message("deferred"))
        self.assertTrue(a.wait_log(r"to=<bob@dest\.test> .*status=deferred"), a.log())
        # The log line comes before the envelope update is on disk: wait for it.
        listing = wait_for(lambda: (lambda out: out if "attempts=1" in out else None)(
            a.cli("queue", "list").stdout), 10) or a.cli("queue", "list").stdout
        self.assertRegex(listing, r"(?m)^[0-9A-F]+\t\d+\t\d{4}-\d\d-\d\dT[\d:]+Z\t<alice@example\.test>$")
        self.assertRegex(listing, r"(?m)^\t<bob@dest\.test>\tpending\tattempts=1\tnext=\S+Z\t"
                                  r"X-Tegami; connect to .*Connection refused")
        qid = self.queue_ids(a)[0]
        shown = a.cli("queue", "show", qid).stdout
        self.assertIn("sender: <alice@example.test>", shown)
        self.assertIn("status: pending", shown)
        self.assertIn("Subject: deferred", shown)

        b = self.dest(users=("bob",), port=port)
        time.sleep(0.5)
        self.assertEqual(b.messages("bob"), [])  # next retry is an hour away
        out = a.cli("queue", "flush").stdout
        self.assertRegex(out, r"flush requested from the server \(pid \d+\)")
        got = b.wait_messages("bob", 1)
        self.assertEqual(len(got), 1, a.log())
        self.wait_queue_empty(a)

    def test_temporary_reply_then_success(self):
        calls = []

        def rcpt(addr):
            calls.append(addr)
            return "451 4.7.1 greylisted, try again" if len(calls) == 1 else "250 2.1.5 Ok"

        peer = FakeSmtp(rcpt=rcpt)
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        send(a, [f"bob@{DEST}"], message("greylisted"))
        self.assertTrue(wait_for(lambda: peer.transactions, 20), a.log())
        self.assertRegex(a.log(), r"status=deferred next_in=1s dsn=4\.7\.1 \(smtp; 451 4\.7\.1")
        self.wait_queue_empty(a)
        self.assertEqual(len(calls), 2)

    def test_lifetime_expiry_bounces(self):
        port = free_port()
        a = self.relay(**route(port), **{"queue.lifetime": '"3s"', "queue.retry": '["1s"]'})
        send(a, [f"bob@{DEST}"], message("expires"))
        dsn = wait_for(lambda: self.dsns(a), 30)
        self.assertTrue(dsn, a.log())
        _, _, per_rcpt, headers = dsn_parts(dsn[0])
        r = per_rcpt[0]
        self.assertEqual(r["Action"], "failed")
        self.assertEqual(r["Status"], "4.4.7")
        self.assertIn("Connection refused", re.sub(r"\s+", " ", r["Diagnostic-Code"]))
        self.assertIn("Subject: expires", headers)
        self.assertRegex(a.log(), r"to=<bob@dest\.test> .*status=expired")
        self.wait_queue_empty(a)

    def test_host_refusal_is_quoted_with_its_stage(self):
        """Every host refused at the greeting until the lifetime ended: the
        bounce quotes the server's own reply (not a paraphrase), the stage is in
        the text part, and a route given as an IP has no Remote-MTA."""
        peer = FakeSmtp(greeting="421 4.3.2 fake.test busy, come back later")
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port), **{"queue.lifetime": '"3s"', "queue.retry": '["1s"]'})
        send(a, [f"bob@{DEST}"], message("refused"))
        dsn = wait_for(lambda: self.dsns(a), 30)
        self.assertTrue(dsn, a.log())
        text, _, per_rcpt, _ = dsn_parts(dsn[0])
        r = per_rcpt[0]
        self.assertEqual(r["Status"], "4.4.7")
        self.assertEqual(unfold(r["Diagnostic-Code"]), "smtp; 421 4.3.2 fake.test busy, come back later")
        self.assertNotIn("Remote-MTA", r)
        self.assertIn("<bob@dest.test>: host [127.0.0.1] said: 421 4.3.2 fake.test busy, come back "
                      "later (in reply to the initial greeting)", unfold(text))
        self.assertGreaterEqual(peer.connections, 2)
        self.wait_queue_empty(a)

    def test_delay_warning_once(self):
        port = free_port()
        a = self.relay(**route(port), **{"queue.delay_warning": '"1s"', "queue.retry": '["1s"]'})
        send(a, [f"bob@{DEST}"], message("slow"))
        dsn = wait_for(lambda: self.dsns(a), 20)
        self.assertTrue(dsn, a.log())
        top = parse(dsn[0])
        self.assertEqual(top["Subject"], "Delayed Mail (still being retried)")
        _, _, per_rcpt, _ = dsn_parts(dsn[0])
        self.assertEqual(per_rcpt[0]["Action"], "delayed")
        self.assertTrue(per_rcpt[0]["Status"].startswith("4."))
        self.assertIn("Will-Retry-Until", per_rcpt[0])
        time.sleep(3)  # more attempts, no second warning
        self.assertEqual(len(self.dsns(a)), 1)
        self.assertEqual(len(self.queue_ids(a)), 1)

    def test_restart_with_mail_in_the_queue(self):
        port = free_port()
        a = self.relay(**route(port), **{"queue.retry": '["2s"]'})
        for i in range(3):
            send(a, [f"bob@{DEST}"], message(f"restart {i}"))
        self.assertTrue(wait_for(lambda: len(self.queue_ids(a)) == 3, 10))
        self.assertEqual(a.stop(), 0)
        b = self.dest(users=("bob",), port=port)
        a.start()
        self.assertTrue(a.wait_log(r"queue: 3 message\(s\) waiting"), a.log())
        got = b.wait_messages("bob", 3, timeout=30)
        self.assertEqual(len(got), 3, a.log())
        self.wait_queue_empty(a)


# =============================================================================
# The SMTP client: 8BITMIME, HELO fallback, dot-stuffing on the wire
# =============================================================================

class ClientBehaviourTest(QueueTestCase):

    def test_wire_format_and_pipelining(self):
        peer = FakeSmtp()
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        body = "a\r\n.\r\n..\r\n.x\r\nlast"
        send(a, [f"u1@{DEST}", f"u2@{DEST}"], message("wire", body=body))
        tx = wait_for(lambda: peer.transactions, 20)
        self.assertTrue(tx, a.log())
        self.assertEqual(len(peer.transactions), 1)  # one connection, both recipients
        t = tx[0]
        self.assertEqual(t["rcpts"], [f"u1@{DEST}", f"u2@{DEST}"])
        self.assertRegex(t["mail"], r"^MAIL FROM:<alice@example\.test> SIZE=\d+$")
        data = t["data"]
        self.assertTrue(data.endswith(b"a\r\n..\r\n...\r\n..x\r\nlast\r\n.\r\n"), data[-60:])
        self.assertNotRegex(data, rb"(?<!\r)\n")  # no bare LF
        self.assertNotRegex(data, rb"\r(?!\n)")   # no bare CR

    def test_eight_bit_to_a_server_without_8bitmime_bounces(self):
        peer = FakeSmtp(ehlo=("PIPELINING",))
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        send(a, [f"bob@{DEST}"], message("8bit", body="caf\u00e9 (UTF-8, unencoded)\r\n"))
        dsn = wait_for(lambda: self.dsns(a), 20)
        self.assertTrue(dsn, a.log())
        _, _, per_rcpt, _ = dsn_parts(dsn[0])
        self.assertEqual(per_rcpt[0]["Status"], "5.6.3")
        self.assertIn("does not offer 8BITMIME", re.sub(r"\s+", " ", per_rcpt[0]["Diagnostic-Code"]))
        self.assertEqual(peer.transactions, [])

    def test_per_destination_connection_limit(self):
        """[queue] destination_concurrency caps the connections to one
        destination; a backlog is spread over several (slow start, issue 15),
        each carrying several messages."""
        def slow(n):
            time.sleep(0.4)
            return "250 2.0.0 Ok"

        peer = FakeSmtp(data_end=slow)
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port), **{"queue.destination_concurrency": "6"})
        n = 45
        with smtplib.SMTP("127.0.0.1", a.ports["smtp"], timeout=30) as s:
            for i in range(n):
                s.sendmail(ALICE, [f"bob@{DEST}"], message(f"limit {i}"))
        self.assertTrue(wait_for(lambda: len(peer.transactions) >= n, 60), a.log())
        self.assertLessEqual(peer.peak, 6, "[queue] destination_concurrency")
        self.assertGreaterEqual(peer.peak, 3, "deliveries should run in parallel")
        self.assertLess(peer.connections, n / 2, "connections should be reused")
        self.wait_queue_empty(a)

    def test_helo_fallback_and_data_refusal(self):
        peer = FakeSmtp(ehlo=None, data_end=lambda n: "554 5.7.0 content rejected")
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        send(a, [f"bob@{DEST}"], message("helo only"))
        dsn = wait_for(lambda: self.dsns(a), 20)
        self.assertTrue(dsn, a.log())
        text, _, per_rcpt, _ = dsn_parts(dsn[0])
        self.assertEqual(per_rcpt[0]["Status"], "5.7.0")
        self.assertEqual(unfold(per_rcpt[0]["Diagnostic-Code"]), "smtp; 554 5.7.0 content rejected")
        self.assertIn("554 5.7.0 content rejected (in reply to end of DATA command)", unfold(text))
        self.assertEqual(len(peer.transactions), 1)
        self.assertNotIn("SIZE=", peer.transactions[0]["mail"])  # no ESMTP after HELO


# =============================================================================
# CHUNKING (RFC 3030): BDAT to a peer that offers it, DATA otherwise
# =============================================================================

CHUNKING_EHLO = ("PIPELINING", "8BITMIME", "SIZE 10000000", "CHUNKING")


class ChunkingTest(QueueTestCase):

    def test_bdat_when_offered_without_dot_stuffing(self):
        peer = FakeSmtp(ehlo=CHUNKING_EHLO)
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        body = "a\r\n.\r\n..\r\n.x\r\nlast"
        send(a, [f"u1@{DEST}", f"u2@{DEST}"], message("chunked", body=body))
        tx = wait_for(lambda: peer.transactions, 20)
        self.assertTrue(tx, a.log())
        t = tx[0]
        self.assertEqual(t["via"], "BDAT")
        self.assertEqual(t["rcpts"], [f"u1@{DEST}", f"u2@{DEST}"])
        self.assertEqual(len(t["chunks"]), 1)  # one BDAT LAST chunk
        data = t["data"]
        self.assertEqual(t["chunks"][0], len(data))
        self.assertTrue(data.endswith(b"a\r\n.\r\n..\r\n.x\r\nlast\r\n"), data[-60:])
        self.assertNotRegex(data, rb"(?<!\r)\n")
        self.assertNotRegex(data, rb"\r(?!\n)")
        verbs = [v for v in peer.commands[0]]
        self.assertIn("BDAT", verbs)
        self.assertNotIn("DATA", verbs)
        self.wait_queue_empty(a)

    def test_data_when_chunking_is_not_offered(self):
        peer = FakeSmtp()
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        send(a, [f"bob@{DEST}"], message("no chunking"))
        tx = wait_for(lambda: peer.transactions, 20)
        self.assertTrue(tx, a.log())
        self.assertEqual(tx[0]["via"], "DATA")
        self.assertNotIn("BDAT", peer.commands[0])

    def test_refused_bdat_last_bounces(self):
        peer = FakeSmtp(ehlo=CHUNKING_EHLO, data_end=lambda n: "554 5.7.0 content rejected")
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        send(a, [f"bob@{DEST}"], message("refused chunk"))
        dsn = wait_for(lambda: self.dsns(a), 20)
        self.assertTrue(dsn, a.log())
        text, _, per_rcpt, _ = dsn_parts(dsn[0])
        self.assertEqual(per_rcpt[0]["Status"], "5.7.0")
        # The remote reply alone in Diagnostic-Code; the stage in the text part.
        self.assertEqual(re.sub(r"\s+", " ", per_rcpt[0]["Diagnostic-Code"]),
                         "smtp; 554 5.7.0 content rejected")
        self.assertIn("(in reply to BDAT LAST command)", re.sub(r"\s+", " ", text))

    def test_no_bdat_when_every_recipient_is_refused(self):
        peer = FakeSmtp(ehlo=CHUNKING_EHLO, rcpt=lambda addr: "550 5.1.1 unknown")
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        send(a, [f"bob@{DEST}"], message("nobody"))
        self.assertTrue(wait_for(lambda: self.dsns(a), 20), a.log())
        self.assertEqual(peer.transactions, [])
        self.assertNotIn("BDAT", peer.commands[0])

    def test_tegami_to_tegami_uses_bdat(self):
        b = self.dest(users=("bob",))
        a = self.relay(**route(b.ports["smtp"]))
        msg = message("t2t", body="line one\r\n.starts with a dot\r\n..two dots\r\n")
        self.assertEqual(send(a, [f"bob@{DEST}"], msg), {})
        got = b.wait_messages("bob", 1)
        self.assertEqual(len(got), 1, b.log())
        data = got[0][1]
        self.assertTrue(data.endswith(b"line one\n.starts with a dot\n..two dots\n"), data[-100:])
        self.assertEqual(data.count(b"\nReceived: "), 2, data[:600])
        self.assertRegex(b.log(), r"BDAT LAST: 1 chunks, \d+ octets")
        self.wait_queue_empty(a)

    def test_binarymime_is_not_relayed(self):
        b = self.dest(users=("bob",))
        a = self.relay(**route(b.ports["smtp"]))
        with smtplib.SMTP("127.0.0.1", a.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example.org")
            self.assertEqual(s.mail(ALICE, ["BODY=BINARYMIME"])[0], 250)
            code, text = s.rcpt(f"bob@{DEST}")
            self.assertEqual(code, 554, text)
            self.assertTrue(text.startswith(b"5.6.3 "), text)
            # A local recipient in the same transaction is fine.
            self.assertEqual(s.rcpt(f"bob@{DOMAIN}")[0], 250)
        self.assertEqual(self.queue_ids(a), [])


# =============================================================================
# Opportunistic STARTTLS (RFC 3207, RFC 7435)
# =============================================================================

def received_fields(raw):
    """The Received: fields of a stored message, unfolded, topmost first."""
    return [re.sub(r"\s+", " ", v) for v in parse(raw).get_all("Received", [])]


class LargeMessageTest(QueueTestCase):
    """Issue 13: a queued message is sent from its file in pieces, never
    read whole: a 24 MiB message crosses tegami -> tegami (BDAT, streamed on
    both sides) and tegami -> a DATA-only peer (dot-stuffed on the fly),
    byte-exact, with the relaying server's RSS sampled throughout."""

    def big_message(self, subject):
        return message(subject, body="") + big_body(24)

    def test_24mib_to_tegami_with_bdat(self):
        b = self.dest(users=("bob",))
        a = self.relay(**route(b.ports["smtp"]))
        msg = self.big_message("big bdat")
        with RssSampler(a.proc.pid) as rss_a, RssSampler(b.proc.pid) as rss_b:
            self.assertEqual(send(a, [f"bob@{DEST}"], msg), {})
            got = b.wait_messages("bob", 1, timeout=120)
            self.wait_queue_empty(a, timeout=60)
        self.assertEqual(len(got), 1, b.log())
        data = got[0][1]
        # B's copy: Return-Path, B's Received, A's Received, then the message.
        self.assertTrue(data.endswith(msg.replace(b"\r\n", b"\n")),
                        "the relayed message differs from what was sent")
        self.assertEqual(data.count(b"\nReceived: "), 2, data[:600])
        self.assertRegex(b.log(), r"BDAT LAST: 1 chunks, \d+ octets")
        print(f"\n24 MiB relayed by BDAT: relay RSS +{rss_a.growth_mib:.1f} MiB, "
              f"destination RSS +{rss_b.growth_mib:.1f} MiB")
        self.assertLess(rss_a.growth_mib, 12)
        self.assertLess(rss_b.growth_mib, 12)

    def test_24mib_to_a_data_peer_is_dot_stuffed_on_the_fly(self):
        peer = FakeSmtp(ehlo=("PIPELINING", "8BITMIME"))
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        msg = self.big_message("big data")
        with RssSampler(a.proc.pid) as rss:
            send(a, [f"bob@{DEST}"], msg)
            tx = wait_for(lambda: peer.transactions, 120)
            self.wait_queue_empty(a, timeout=60)
        self.assertTrue(tx, a.log())
        self.assertEqual(tx[0]["via"], "DATA")
        wire = tx[0]["data"]
        stuffed = b"\r\n".join((b"." + l if l.startswith(b".") else l)
                                for l in msg.split(b"\r\n"))
        self.assertTrue(wire.endswith(stuffed + b".\r\n"), "the DATA stream differs")
        self.assertTrue(wire.startswith(b"Received: "), wire[:200])
        print(f"\n24 MiB relayed by DATA: relay RSS +{rss.growth_mib:.1f} MiB")
        self.assertLess(rss.growth_mib, 12)


class StartTlsTest(QueueTestCase):

    def test_relay_to_a_server_offering_starttls_uses_tls(self):
        b = self.dest(users=("bob",))  # `tegami init` gave it [tls] with a self-signed certificate
        a = self.relay(**route(b.ports["smtp"]))
        send(a, [f"bob@{DEST}"], message("over tls"))
        got = b.wait_messages("bob", 1)
        self.assertEqual(len(got), 1, a.log() + "\n" + b.log())
        fields = received_fields(got[0][1])
        self.assertEqual(len(fields), 2, fields)
        top = fields[0]  # B's, stamped for the connection from A
        self.assertIn("by mx.dest.test (tegami)", top)
        self.assertIn("with ESMTPS", top)
        self.assertRegex(top, r"\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)")
        self.assertIn("with ESMTP ", fields[1] + " ")  # the submission to A was clear text
        self.wait_queue_empty(a)
        # A logs the protocol, the cipher and the (failed, ignored) verification.
        self.assertRegex(a.log(), r"127\.0\.0\.1\[127\.0\.0\.1\]:\d+ tls=TLSv1\.[23] "
                                  r"cipher=\S+ certificate=untrusted \(")
        self.assertRegex(a.log(), r"to=<bob@dest\.test> .*status=sent")

    def test_server_without_starttls_gets_clear_text(self):
        peer = FakeSmtp()  # no STARTTLS in its EHLO reply
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        send(a, [f"bob@{DEST}"], message("clear"))
        self.assertTrue(wait_for(lambda: peer.transactions, 20), a.log())
        self.wait_queue_empty(a)
        self.assertEqual(peer.commands[0][:2], ["EHLO", "MAIL"], peer.commands)
        self.assertNotIn("STARTTLS", sum(peer.commands, []))
        self.assertNotIn(" tls=", a.log())

    def test_454_to_starttls_continues_in_clear_on_the_same_connection(self):
        peer = FakeSmtp(ehlo=("PIPELINING", "8BITMIME", "STARTTLS"),
                        starttls="454 4.7.0 TLS not available due to temporary reason")
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        send(a, [f"bob@{DEST}"], message("454"))
        self.assertTrue(wait_for(lambda: peer.transactions, 20), a.log())
        self.wait_queue_empty(a)
        self.assertEqual(peer.connections, 1)
        self.assertEqual(peer.commands[0][:3], ["EHLO", "STARTTLS", "MAIL"], peer.commands)
        self.assertIn("refused STARTTLS (454 4.7.0", a.log())

    def test_failed_handshake_retries_at_once_without_starttls(self):
        peer = FakeSmtp(ehlo=("PIPELINING", "8BITMIME", "STARTTLS"),
                        starttls="220 2.0.0 Ready to start TLS")  # ... then hangs up
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        send(a, [f"bob@{DEST}"], message("fallback"))
        self.assertTrue(wait_for(lambda: peer.transactions, 20), a.log())
        self.wait_queue_empty(a)
        self.assertEqual(peer.connections, 2)
        self.assertEqual(peer.commands[0], ["EHLO", "STARTTLS"], peer.commands)
        self.assertEqual(peer.commands[1][:2], ["EHLO", "MAIL"], peer.commands)
        log = a.log()
        self.assertRegex(log, r"tls handshake failed: ")
        self.assertIn("retrying without STARTTLS", log)
        self.assertRegex(log, r"to=<bob@dest\.test> .*attempts=1 status=sent")


# =============================================================================
# The command line while the server runs
# =============================================================================

class QueueCliTest(QueueTestCase):

    def test_list_show_delete(self):
        port = free_port()
        a = self.relay(**route(port), **{"queue.retry": '["1h"]'})
        send(a, [f"bob@{DEST}"], message("to delete"))
        self.assertTrue(wait_for(lambda: self.queue_ids(a), 10))
        qid = self.queue_ids(a)[0]
        bad = a.cli("queue", "show", "../etc", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertEqual(a.cli("queue", "show", "0" * 16, check=False).returncode, 1)
        out = a.cli("queue", "delete", qid).stdout
        self.assertEqual(out.strip(), f"deleted {qid}")
        self.assertEqual(self.queue_ids(a), [])
        self.assertEqual(a.cli("queue", "delete", qid, check=False).returncode, 1)
        # The server forgets it at its next look (flush) and never resurrects it.
        a.cli("queue", "flush")
        self.assertTrue(a.wait_log(rf"queue {qid}: gone from the spool"), a.log())
        self.assertEqual(self.queue_ids(a), [])

    def test_flush_without_a_server(self):
        port = free_port()
        a = self.relay(**route(port), **{"queue.retry": '["1h"]'})
        send(a, [f"bob@{DEST}"], message("offline flush"))
        self.assertTrue(a.wait_log(r"status=deferred"))
        a.stop()
        out = a.cli("queue", "flush").stdout
        self.assertIn("no server is running; 1 message(s) will be tried at the next start", out)
        b = self.dest(users=("bob",), port=port)
        a.start()
        self.assertEqual(len(b.wait_messages("bob", 1, timeout=20)), 1, a.log())

    def test_second_server_on_the_same_data_dir_refuses(self):
        a = self.relay()
        other = subprocess.run([a_bin(), "-c", a.conf, "serve"], capture_output=True, text=True,
                               timeout=30)
        self.assertNotEqual(other.returncode, 0)
        self.assertIn("another tegami server is running", other.stderr)


def a_bin():
    import harness
    return harness.BIN


# =============================================================================
# kill -9 during a burst: every acknowledged message arrives
# =============================================================================

class CrashTest(QueueTestCase):
    CLIENTS = 4
    PER_CLIENT = 25
    KILL_AFTER = 30  # acknowledged messages

    def burst_then_kill(self, a):
        """Clients send until KILL_AFTER 250s were seen, then A gets kill -9.
        Returns the subjects acknowledged with 250."""
        acked, lock = [], threading.Lock()
        stop = threading.Event()

        def client(n):
            for i in range(self.PER_CLIENT):
                if stop.is_set():
                    return
                subject = f"burst {n}-{i}"
                try:
                    with smtplib.SMTP("127.0.0.1", a.ports["smtp"], timeout=10) as s:
                        s.sendmail(ALICE, [f"bob@{DEST}"], message(subject))
                    with lock:
                        acked.append(subject)
                except (OSError, smtplib.SMTPException):
                    return

        threads = [threading.Thread(target=client, args=(n,)) for n in range(self.CLIENTS)]
        for t in threads:
            t.start()
        self.assertTrue(wait_for(lambda: len(acked) >= self.KILL_AFTER, 60), a.log())
        a.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        return list(acked)

    def assert_all_arrive(self, a, b, acked):
        def received():
            subjects = set()
            for _, raw in b.messages("bob"):
                m = re.search(rb"\nSubject: (burst \d+-\d+)\n", raw)
                if m:
                    subjects.add(m.group(1).decode())
            return subjects

        ok = wait_for(lambda: set(acked) <= received(), 60, 0.3)
        missing = set(acked) - received()
        self.assertTrue(ok, f"{len(missing)} acknowledged message(s) lost: {sorted(missing)[:10]}")
        self.wait_queue_empty(a, 30)

    def test_kill9_during_burst_with_deliveries_in_flight(self):
        b = self.dest(users=("bob",))
        a = self.relay(**route(b.ports["smtp"]))
        acked = self.burst_then_kill(a)
        a.start()  # recovery, then the queue is worked again
        self.assertTrue(a.wait_log(r"queue: \d+ message\(s\) waiting"), a.log())
        self.assert_all_arrive(a, b, acked)

    def test_kill9_during_burst_with_destination_down(self):
        port = free_port()
        a = self.relay(**route(port))
        acked = self.burst_then_kill(a)
        b = self.dest(users=("bob",), port=port)
        a.start()
        counts = lambda: re.findall(r"queue: (\d+) message\(s\) waiting", a.log())  # noqa: E731
        self.assertTrue(wait_for(lambda: len(counts()) >= 2, 20), a.log())  # the second start
        self.assertGreaterEqual(int(counts()[-1]), len(acked))  # all of them were still queued
        self.assert_all_arrive(a, b, acked)


if __name__ == "__main__":
    unittest.main()
