"""Relay authorisation (issue 7) against the real tegami binary.

SMTP AUTH (RFC 4954: PLAIN, LOGIN) on [submission] and [submissions],
POP-before-SMTP grants, the relay decision on [smtp] and [submission], the
sender checks (MAIL FROM and header From: must belong to the account),
local-domain spoofing, failure throttling and the open-relay table; with
smtplib, poplib, raw sockets, swaks, msmtp and mpop.

Every client chooses its source address (Linux lets a socket bind any
127.0.0.0/8 address while connecting to 127.0.0.1):

  127.0.0.2        the trusted network (`[relay] trusted_networks`)
  127.0.0.3/4      outsiders that never fail a login
  127.0.1.x        tests that fail logins (throttle delays are per client IP)
  127.0.2.x        POP-before-SMTP grants (a grant is per client IP)
  127.0.3.x        AUTH lockout ([auth] failure_limit)
  fd14:X:Y::/48    per-network limits: IPv6 addresses added to lo (Ipv6Lab)

Remote mail goes to a second tegami for the domain remote.test, reached by
`[relay] routes`, as in test_queue.py; its mailboxes prove what was (or was
not) relayed.
"""
import base64
import email.utils
import os
import poplib
import re
import shutil
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from harness import need_perl_module, need_tool, DOMAIN, HOSTNAME, PASSWORD, Ipv6Lab, Raw, Server, own, wait_for  # noqa: E402

REMOTE = "remote.test"
REMOTE_HOST = "mx.remote.test"
SERVICES = ("smtp", "submission", "submissions", "pop3", "pop3s")

TRUSTED = "127.0.0.2"
OUTSIDER = "127.0.0.3"
OUTSIDER2 = "127.0.0.4"

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
RUSER = f"user@{REMOTE}"
HELO = "client.example.org"
OUTSIDE_SENDER = "someone@outside.example"


# =============================================================================
# Helpers
# =============================================================================

def addr(user):
    return f"{user}@{DOMAIN}"


def b64(text):
    if isinstance(text, str):
        text = text.encode()
    return base64.b64encode(text).decode()


def plain(user, password=PASSWORD, authzid=""):
    """An RFC 4616 PLAIN response, base64."""
    return b64(f"{authzid}\0{user}\0{password}")


def cert_path(srv):
    return os.path.join(srv.dir, "tls", "cert.pem")


def tls_context(srv):
    ctx = ssl.create_default_context(cafile=cert_path(srv))
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def message(tag, sender=ALICE, rcpt="someone", header_from=None):
    """A message whose first header line is X-Relay-Test: TAG (so the server's
    own trace fields are everything above it) and whose Subject is TAG."""
    hfrom = header_from if header_from is not None else f"Alice <{sender}>"
    return (f"X-Relay-Test: {tag}\r\nFrom: {hfrom}\r\nTo: <{rcpt}>\r\nSubject: {tag}\r\n"
            f"Message-ID: <{tag.replace(' ', '-')}@client.example.org>\r\n"
            "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n\r\nHello relay.\r\n").encode()


def find(msgs, tag):
    """The stored messages (bytes) carrying X-Relay-Test: TAG."""
    needle = f"X-Relay-Test: {tag}\n".encode()
    return [data for _, data in msgs if needle in data.replace(b"\r\n", b"\n")]


def trace_part(data):
    """What the receiving server put above the client's first header line
    (Return-Path:, Received:, ...), LF line endings."""
    data = data.replace(b"\r\n", b"\n")
    i = data.find(b"X-Relay-Test: ")
    assert i >= 0, data[:500]
    return data[:i].decode("utf-8", "replace")


def top_received(data):
    """The first (top) Received: field, unfolded."""
    m = re.search(r"(?ms)^Received: (.*?)\n(?=\S|\Z)", trace_part(data))
    assert m, data[:500]
    return re.sub(r"\n[ \t]+", " ", m.group(1))


def received_fields(data):
    """Every Received: field the server added (Return-Path: left out), unfolded."""
    t = trace_part(data)
    fields = re.findall(r"(?ms)^Received: .*?\n(?=\S|\Z)", t)
    return [re.sub(r"\n[ \t]+", " ", f) for f in fields]


def route(port):
    return {"relay.routes": '{ "%s" = "127.0.0.1:%d" }' % (REMOTE, port)}


class Smtp(Raw):
    """Raw SMTP client from a chosen source address: exact commands, full replies."""

    def __init__(self, port, source=OUTSIDER, timeout=40, implicit_tls=None, host="127.0.0.1"):
        super().__init__(port, host=host, source=source, timeout=timeout)
        if implicit_tls is not None:
            self.s = implicit_tls.wrap_socket(self.s, server_hostname=HOSTNAME)
        self.greeting = self.reply()

    def cmd(self, text):
        """Sends one line; returns (code, last line, all lines)."""
        self.send(text + "\r\n")
        lines = self.reply()
        return int(lines[-1][:3]), lines[-1], lines

    def ehlo(self, name=HELO):
        code, _, lines = self.cmd(f"EHLO {name}")
        assert code == 250, lines
        return [l[4:] for l in lines]

    def starttls(self, ctx):
        code, line, _ = self.cmd("STARTTLS")
        assert code == 220, line
        self.s = ctx.wrap_socket(self.s, server_hostname=HOSTNAME)
        self.buf = b""

    def auth_plain(self, user=ALICE, password=PASSWORD):
        return self.cmd(f"AUTH PLAIN {plain(user, password)}")

    def data(self, msg):
        """DATA with a CRLF message (no dot-stuffing needed for our messages)."""
        code, line, _ = self.cmd("DATA")
        if code != 354:
            return code, line
        self.send(msg + b".\r\n")
        lines = self.reply()
        return int(lines[-1][:3]), lines[-1]

    def quit(self):
        try:
            self.cmd("QUIT")
        except (OSError, EOFError):
            pass
        self.close()


def smtp_client(srv, service="smtp", source=OUTSIDER, tls=False):
    """smtplib from a chosen source address; tls=True: implicit TLS ([submissions])."""
    if tls:
        return smtplib.SMTP_SSL("127.0.0.1", srv.ports[service], timeout=40,
                                source_address=(source, 0), context=tls_context(srv))
    return smtplib.SMTP("127.0.0.1", srv.ports[service], timeout=40, source_address=(source, 0))


class SourcePOP3(poplib.POP3):
    """poplib.POP3 that binds a source address (poplib has no source_address)."""

    def __init__(self, host, port, source, timeout=40):
        self.source = source
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.source, 0))


def pop_login(srv, source, user=ALICE, password=PASSWORD):
    """USER/PASS from `source`, then QUIT."""
    p = SourcePOP3("127.0.0.1", srv.ports["pop3"], source)
    try:
        p.user(user)
        p.pass_(password)
    finally:
        try:
            p.quit()
        except (poplib.error_proto, OSError):
            p.close()


def relay_attempt(srv, source, rcpt=RUSER, sender=ALICE, service="smtp"):
    """MAIL + RCPT on a fresh connection; returns (mail reply, rcpt reply) as (code, line)."""
    c = Smtp(srv.ports[service], source=source)
    try:
        c.ehlo()
        mcode, mline, _ = c.cmd(f"MAIL FROM:<{sender}>")
        if mcode != 250:
            return (mcode, mline), None
        rcode, rline, _ = c.cmd(f"RCPT TO:<{rcpt}>")
        return (mcode, mline), (rcode, rline)
    finally:
        c.quit()


class RelayCase(unittest.TestCase):
    """One relaying server (example.test) plus one destination (remote.test) per class."""

    extra = {}
    users = ("alice", "bob")

    @classmethod
    def setUpClass(cls):
        cls.dest = own(cls, Server(domain=REMOTE, hostname=REMOTE_HOST,
                                   users=("user", "carol", "dave"))).start()
        conf = {"relay.trusted_networks": f'["{TRUSTED}/32"]', "queue.retry": '["1s"]'}
        conf.update(route(cls.dest.ports["smtp"]))
        conf.update(cls.extra)
        cls.srv = own(cls, Server(users=cls.users, extra_config=conf, services=SERVICES)).start()

    # --- assertions -----------------------------------------------------------

    def assertReply(self, got, code, enhanced=None, text=None):
        """got: (code, line) or a (code, line, lines) triple."""
        self.assertIsNotNone(got, f"no reply: expected {code}")
        c, line = got[0], got[1]
        self.assertEqual(c, code, f"expected {code} {enhanced or ''}, got: {line}")
        if enhanced:
            self.assertRegex(line, r"^\d{3}[ -]" + re.escape(enhanced) + r"\b",
                             f"enhanced code {enhanced} expected: {line}")
        if text:
            self.assertIn(text.lower(), line.lower(), line)

    def assertDelivered(self, srv, user, tag, n=1, timeout=15):
        msgs = wait_for(lambda: find(srv.messages(user), tag), timeout)
        self.assertEqual(len(msgs), n, f"{user}@{srv.domain}: {tag!r} not delivered\n"
                         + srv.log()[-3000:] + "\n--- relay server ---\n" + self.srv.log()[-3000:])
        return msgs[0]

    def assertNotDelivered(self, srv, user, tag, wait=0.0):
        if wait:
            time.sleep(wait)
        self.assertEqual(find(srv.messages(user), tag), [], f"{tag!r} reached {user}@{srv.domain}")

    def queue_ids(self):
        out = self.srv.cli("queue", "list").stdout
        return [line.split("\t")[0] for line in out.splitlines() if line and line[0] != "\t"]

    # --- a full transaction ------------------------------------------------------

    def send(self, c, sender, rcpts, msg):
        """MAIL, RCPTs, DATA on an open Smtp client; asserts every 250 on the way."""
        self.assertReply(c.cmd(f"MAIL FROM:<{sender}>"), 250)
        for r in rcpts:
            self.assertReply(c.cmd(f"RCPT TO:<{r}>"), 250)
        self.assertReply(c.data(msg), 250)


# =============================================================================
# 1, 6, 8: the relay decision on [smtp], local-domain spoofing, open relay table
# =============================================================================

class SmtpRelayDecisionTest(RelayCase):

    def test_outsider_may_not_relay(self):
        tag = "outsider relay"
        c = Smtp(self.srv.ports["smtp"], source=OUTSIDER)
        c.ehlo()
        self.assertReply(c.cmd("MAIL FROM:<someone@outside.example>"), 250)
        self.assertReply(c.cmd(f"RCPT TO:<{RUSER}>"), 554, "5.7.1",
                         f"<{RUSER}>: Relay access denied")
        code, _ = c.data(message(tag, sender="someone@outside.example", rcpt=RUSER))
        self.assertNotEqual(code, 250)
        c.quit()
        self.assertNotDelivered(self.dest, "user", tag, wait=1.0)
        self.assertEqual(self.queue_ids(), [])

    def test_trusted_network_relays(self):
        tag = "trusted relay"
        c = Smtp(self.srv.ports["smtp"], source=TRUSTED)
        c.ehlo()
        self.send(c, "someone@outside.example", [RUSER],
                  message(tag, sender="someone@outside.example", rcpt=RUSER))
        c.quit()
        self.assertDelivered(self.dest, "user", tag)
        # Sent: the queue empties (other tests of this class check it stays empty).
        self.assertTrue(wait_for(lambda: not self.queue_ids(), 15),
                        self.srv.cli("queue", "list").stdout)

    def test_outsider_still_delivers_inbound_to_local_users(self):
        tag = "inbound from outsider"
        c = Smtp(self.srv.ports["smtp"], source=OUTSIDER)
        c.ehlo()
        self.send(c, "someone@outside.example", [ALICE],
                  message(tag, sender="someone@outside.example", rcpt=ALICE))
        c.quit()
        self.assertDelivered(self.srv, "alice", tag)

    def test_auth_is_not_offered_on_smtp(self):
        for source in (OUTSIDER, TRUSTED):
            with self.subTest(source=source):
                c = Smtp(self.srv.ports["smtp"], source=source)
                ext = c.ehlo()
                self.assertFalse([e for e in ext if e.upper().startswith("AUTH")], ext)
                self.assertReply(c.auth_plain(), 503, "5.5.1")
                self.assertReply(c.cmd("AUTH LOGIN"), 503, "5.5.1")
                # Still no relaying for the outsider after the refused AUTH.
                if source == OUTSIDER:
                    self.assertReply(c.cmd("MAIL FROM:<someone@outside.example>"), 250)
                    self.assertReply(c.cmd(f"RCPT TO:<{RUSER}>"), 554, "5.7.1")
                c.quit()

    def test_local_domain_sender_from_outsider_is_refused(self):
        for sender in (BOB, ALICE, f"bob@{DOMAIN.upper()}", f"nobody@{DOMAIN}"):
            with self.subTest(sender=sender):
                c = Smtp(self.srv.ports["smtp"], source=OUTSIDER)
                c.ehlo()
                self.assertReply(c.cmd(f"MAIL FROM:<{sender}>"), 550, "5.7.1")
                # The transaction never started: RCPT needs MAIL.
                code, line, _ = c.cmd(f"RCPT TO:<{ALICE}>")
                self.assertNotEqual(code, 250, line)
                c.quit()

    def test_local_domain_sender_from_trusted_network_is_accepted(self):
        tag = "trusted local sender"
        c = Smtp(self.srv.ports["smtp"], source=TRUSTED)
        c.ehlo()
        self.send(c, BOB, [ALICE], message(tag, sender=BOB, rcpt=ALICE))
        c.quit()
        data = self.assertDelivered(self.srv, "alice", tag)
        self.assertIn(f"Return-Path: <{BOB}>", trace_part(data))

    def test_open_relay_table(self):
        vectors = [
            f"user@{REMOTE}",
            f"user%{REMOTE}@{DOMAIN}",
            f"{REMOTE}!user@{DOMAIN}",
            f"@{DOMAIN}:user@{REMOTE}",
            f'"user@{REMOTE}"@{DOMAIN}',
            f'"user%{REMOTE}"@{DOMAIN}',
            f"user@{REMOTE}@{DOMAIN}",
            "user@[127.0.0.1]",
            "user@[IPv6:::1]",
            "user@123.45.67.89",
            f"user@{REMOTE.upper()}",
            f"user@{REMOTE}.",
            f"user@{REMOTE.upper()}.",
            "USER@Remote.Test",
            f"user%{REMOTE.upper()}@{DOMAIN}",
            f"user%{REMOTE}.@{DOMAIN}",
            f"{REMOTE.upper()}!user@{DOMAIN}",
            f"@{DOMAIN}:user@{REMOTE}.",
        ]
        tag = "open relay table"
        accepted = []
        # A few vectors per connection: every refusal counts as a session
        # error, and the server slows down after 10 of them.
        for i in range(0, len(vectors), 5):
            c = Smtp(self.srv.ports["smtp"], source=OUTSIDER)
            c.ehlo()
            self.assertReply(c.cmd("MAIL FROM:<probe@outside.example>"), 250)
            for v in vectors[i:i + 5]:
                with self.subTest(rcpt=v):
                    code, line, _ = c.cmd(f"RCPT TO:<{v}>")
                    if not 500 <= code < 600:
                        accepted.append((v, line))
                    self.assertTrue(500 <= code < 600, f"RCPT TO:<{v}> -> {line}")
            code, line = c.data(message(tag, sender="probe@outside.example", rcpt=RUSER))
            self.assertNotEqual(code, 250, f"DATA completed after {accepted}: {line}")
            c.quit()
        time.sleep(1.5)
        for user in ("user", "carol", "dave"):
            self.assertNotDelivered(self.dest, user, tag)
        self.assertEqual(self.queue_ids(), [], self.srv.cli("queue", "list").stdout)


# =============================================================================
# 1, 2, 4: [submission] and [submissions], SMTP AUTH replies, Received:
# =============================================================================

class SubmissionAuthTest(RelayCase):

    def test_mail_needs_auth_on_submission(self):
        for source in (OUTSIDER, TRUSTED):  # a trusted network alone is not enough here
            with self.subTest(source=source):
                c = Smtp(self.srv.ports["submission"], source=source)
                c.ehlo()
                self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 530, "5.7.0",
                                 "Authentication required")
                code, line, _ = c.cmd(f"RCPT TO:<{BOB}>")
                self.assertNotEqual(code, 250, line)
                c.quit()

    def test_mail_needs_auth_on_submissions(self):
        for source in (OUTSIDER, TRUSTED):
            with self.subTest(source=source):
                c = Smtp(self.srv.ports["submissions"], source=source,
                         implicit_tls=tls_context(self.srv))
                c.ehlo()
                self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 530, "5.7.0")
                c.quit()

    def test_ehlo_advertises_plain_and_login_on_submission(self):
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        ext = c.ehlo()
        self.assertIn("AUTH PLAIN LOGIN", ext)
        c.quit()
        c = Smtp(self.srv.ports["submissions"], source=OUTSIDER,
                 implicit_tls=tls_context(self.srv))
        self.assertIn("AUTH PLAIN LOGIN", c.ehlo())
        c.quit()

    def test_auth_plain_initial_response_relays_and_delivers_locally(self):
        tag = "plain relay"
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        c.ehlo()
        self.assertReply(c.auth_plain(), 235, "2.7.0")
        self.send(c, ALICE, [RUSER, BOB], message(tag, rcpt=RUSER))
        c.quit()
        local = self.assertDelivered(self.srv, "bob", tag)
        remote = self.assertDelivered(self.dest, "user", tag)
        rec = top_received(local)
        self.assertIn("with ESMTPA", rec)
        self.assertNotIn("ESMTPSA", rec)
        # The account is not written into the trace by default.
        for field in received_fields(local):
            self.assertNotIn("alice", field.lower(), field)
        # Our server's Received: travels with the relayed copy.
        self.assertTrue(any("with ESMTPA" in f and f"by {HOSTNAME}" in f
                            for f in received_fields(remote)), received_fields(remote))
        for field in received_fields(remote):
            self.assertNotIn("alice", field.lower(), field)

    def test_auth_plain_with_empty_challenge(self):
        tag = "plain challenge"
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        c.ehlo()
        code, line, _ = c.cmd("AUTH PLAIN")
        self.assertEqual(code, 334, line)
        self.assertReply(c.cmd(plain(ALICE)), 235, "2.7.0")
        self.send(c, ALICE, [BOB], message(tag, rcpt=BOB))
        c.quit()
        self.assertDelivered(self.srv, "bob", tag)

    def test_auth_login(self):
        tag = "login relay"
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        c.ehlo()
        code, line, _ = c.cmd("AUTH LOGIN")
        self.assertEqual(code, 334, line)
        code, line, _ = c.cmd(b64(ALICE))
        self.assertEqual(code, 334, line)
        self.assertReply(c.cmd(b64(PASSWORD)), 235, "2.7.0")
        self.send(c, ALICE, [f"carol@{REMOTE}"], message(tag, rcpt=f"carol@{REMOTE}"))
        c.quit()
        data = self.assertDelivered(self.dest, "carol", tag)
        self.assertTrue(any("with ESMTPA" in f for f in received_fields(data)),
                        received_fields(data))

    def test_auth_mechanism_name_is_case_insensitive(self):
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        c.ehlo()
        self.assertReply(c.cmd(f"auth plain {plain(ALICE)}"), 235, "2.7.0")
        c.quit()

    def test_starttls_then_auth_is_esmtpsa(self):
        tag = "starttls auth"
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        c.ehlo()
        c.starttls(tls_context(self.srv))
        self.assertIn("AUTH PLAIN LOGIN", c.ehlo())
        self.assertReply(c.auth_plain(), 235, "2.7.0")
        self.send(c, ALICE, [BOB], message(tag, rcpt=BOB))
        c.quit()
        rec = top_received(self.assertDelivered(self.srv, "bob", tag))
        self.assertIn("with ESMTPSA", rec)
        self.assertNotIn("alice", rec.lower())

    def test_submissions_auth_is_esmtpsa_and_relays(self):
        tag = "submissions auth"
        with smtp_client(self.srv, "submissions", OUTSIDER, tls=True) as s:
            s.ehlo(HELO)
            code, resp = s.docmd("AUTH", "PLAIN " + plain(ALICE))
            self.assertEqual(code, 235, resp)
            self.assertTrue(resp.startswith(b"2.7.0"), resp)
            refused = s.sendmail(ALICE, [f"dave@{REMOTE}"], message(tag, rcpt=f"dave@{REMOTE}"))
            self.assertEqual(refused, {})
        data = self.assertDelivered(self.dest, "dave", tag)
        self.assertTrue(any("with ESMTPSA" in f and f"by {HOSTNAME}" in f
                            for f in received_fields(data)), received_fields(data))

    def test_smtplib_login_on_submission(self):
        # smtplib picks a mechanism from the advertised list (PLAIN or LOGIN here).
        tag = "smtplib login"
        with smtp_client(self.srv, "submission", OUTSIDER2) as s:
            s.ehlo(HELO)
            self.assertTrue(s.has_extn("auth"), s.esmtp_features)
            code, resp = s.login(ALICE, PASSWORD)
            self.assertEqual(code, 235, resp)
            self.assertEqual(s.sendmail(ALICE, [RUSER], message(tag, rcpt=RUSER)), {})
        self.assertDelivered(self.dest, "user", tag)

    def test_bad_password_is_535(self):
        c = Smtp(self.srv.ports["submission"], source="127.0.1.10")
        c.ehlo()
        self.assertReply(c.auth_plain(password="wrong-" + PASSWORD), 535, "5.7.8")
        # Not authenticated: MAIL is still refused.
        self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 530, "5.7.0")
        # The session goes on; the right password works now.
        self.assertReply(c.auth_plain(), 235, "2.7.0")
        self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 250)
        c.quit()
        self.assertNotIn(PASSWORD, self.srv.log(), "a password reached the log")

    def test_bad_login_password_is_535(self):
        c = Smtp(self.srv.ports["submission"], source="127.0.1.11")
        c.ehlo()
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        self.assertEqual(c.cmd(b64(BOB))[0], 334)
        self.assertReply(c.cmd(b64("not-the-password")), 535, "5.7.8")
        c.quit()

    def test_username_is_the_full_address(self):
        c = Smtp(self.srv.ports["submission"], source="127.0.1.12")
        c.ehlo()
        self.assertReply(c.auth_plain(user="alice"), 535, "5.7.8")
        c.quit()

    def test_cancel_with_star(self):
        for mech in ("PLAIN", "LOGIN"):
            with self.subTest(mech=mech):
                c = Smtp(self.srv.ports["submission"], source="127.0.1.13")
                c.ehlo()
                self.assertEqual(c.cmd(f"AUTH {mech}")[0], 334)
                self.assertReply(c.cmd("*"), 501, "5.7.0")
                self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 530, "5.7.0")
                self.assertReply(c.auth_plain(), 235, "2.7.0")
                c.quit()

    def test_bad_base64(self):
        c = Smtp(self.srv.ports["submission"], source="127.0.1.14")
        c.ehlo()
        self.assertReply(c.cmd("AUTH PLAIN !!!not*base64!!!"), 501, "5.5.2")
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        self.assertReply(c.cmd("%%%%"), 501, "5.5.2")
        self.assertReply(c.auth_plain(), 235, "2.7.0")
        c.quit()

    def test_second_auth_after_success(self):
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        c.ehlo()
        self.assertReply(c.auth_plain(), 235, "2.7.0")
        self.assertReply(c.auth_plain(user=BOB), 503, "5.5.1")
        self.assertReply(c.cmd("AUTH LOGIN"), 503, "5.5.1")
        # Still alice: her own address is accepted, bob's is not hers.
        self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 250)
        c.quit()

    def test_auth_inside_a_transaction(self):
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        c.ehlo()
        self.assertReply(c.auth_plain(), 235, "2.7.0")
        self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 250)
        self.assertReply(c.auth_plain(), 503, "5.5.1")
        c.quit()

    def test_unknown_mechanism(self):
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        c.ehlo()
        for mech in ("CRAM-MD5", "GSSAPI", "XOAUTH2 dGVzdA=="):
            with self.subTest(mech=mech):
                self.assertReply(c.cmd(f"AUTH {mech}"), 504, "5.5.4")
        self.assertReply(c.auth_plain(), 235, "2.7.0")
        c.quit()

    def test_overlong_response_line(self):
        c = Smtp(self.srv.ports["submission"], source="127.0.1.15")
        c.ehlo()
        self.assertEqual(c.cmd("AUTH PLAIN")[0], 334)
        self.assertReply(c.cmd("A" * (13 * 1024)), 500, "5.5.6")
        c.close()
        # Also as an initial response, and for LOGIN.
        c = Smtp(self.srv.ports["submission"], source="127.0.1.15")
        c.ehlo()
        self.assertReply(c.cmd("AUTH PLAIN " + "A" * (13 * 1024)), 500, "5.5.6")
        c.close()
        c = Smtp(self.srv.ports["submission"], source="127.0.1.15")
        c.ehlo()
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        self.assertReply(c.cmd("A" * (13 * 1024)), 500, "5.5.6")
        c.close()
        self.assert_still_serving()

    def assert_still_serving(self):
        self.assertIsNone(self.srv.proc.poll(), "tegami died:\n" + self.srv.log()[-3000:])
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        c.ehlo()
        self.assertReply(c.auth_plain(), 235, "2.7.0")
        c.quit()

    def test_client_disconnects_mid_auth(self):
        steps = [
            ["AUTH LOGIN"],                       # after the username challenge
            ["AUTH LOGIN", b64(ALICE)],           # after the password challenge
            ["AUTH PLAIN"],                       # after the empty challenge
        ]
        for lines in steps:
            with self.subTest(lines=lines):
                c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
                c.ehlo()
                for l in lines:
                    self.assertEqual(c.cmd(l)[0], 334)
                c.close()
        # Half a response line, then gone; and a reset instead of a FIN.
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        c.ehlo()
        self.assertEqual(c.cmd("AUTH PLAIN")[0], 334)
        c.send(plain(ALICE)[:10])
        c.close()
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        c.ehlo()
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        # Gone while the server holds back a failure's answer (the throttle delay).
        c = Smtp(self.srv.ports["submission"], source="127.0.1.16")
        c.ehlo()
        c.send(f"AUTH PLAIN {plain(ALICE, 'wrong-password')}\r\n")
        time.sleep(0.2)
        c.close()
        time.sleep(2.5)
        self.assert_still_serving()


# =============================================================================
# 2: TLS-only AUTH when the client is not in [auth] plaintext_networks
# =============================================================================

class TlsOnlyAuthTest(RelayCase):
    extra = {"auth.plaintext_networks": "[]"}

    def test_no_auth_before_starttls(self):
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        ext = c.ehlo()
        self.assertFalse([e for e in ext if e.upper().startswith("AUTH")], ext)
        self.assertIn("STARTTLS", ext)
        self.assertReply(c.auth_plain(), 538, "5.7.11")
        self.assertReply(c.cmd("AUTH LOGIN"), 538, "5.7.11")
        self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 530, "5.7.0")
        c.quit()

    def test_auth_after_starttls(self):
        tag = "tls only auth"
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        c.ehlo()
        c.starttls(tls_context(self.srv))
        self.assertIn("AUTH PLAIN LOGIN", c.ehlo())
        self.assertReply(c.auth_plain(), 235, "2.7.0")
        self.send(c, ALICE, [RUSER], message(tag, rcpt=RUSER))
        c.quit()
        data = self.assertDelivered(self.dest, "user", tag)
        self.assertTrue(any("with ESMTPSA" in f for f in received_fields(data)),
                        received_fields(data))

    def test_submissions_offers_auth(self):
        c = Smtp(self.srv.ports["submissions"], source=OUTSIDER,
                 implicit_tls=tls_context(self.srv))
        self.assertIn("AUTH PLAIN LOGIN", c.ehlo())
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        self.assertEqual(c.cmd(b64(ALICE))[0], 334)
        self.assertReply(c.cmd(b64(PASSWORD)), 235, "2.7.0")
        c.quit()


# =============================================================================
# 4: [auth] authenticated_header = true
# =============================================================================

class AuthenticatedHeaderTest(RelayCase):
    extra = {"auth.authenticated_header": "true"}

    def test_account_is_in_the_received_field(self):
        tag = "authenticated header"
        c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
        c.ehlo()
        self.assertReply(c.auth_plain(), 235, "2.7.0")
        self.send(c, ALICE, [BOB], message(tag, rcpt=BOB))
        c.quit()
        data = self.assertDelivered(self.srv, "bob", tag)
        rec = top_received(data)
        self.assertIn("with ESMTPA", rec)
        self.assertIn(ALICE, rec)

    def test_unauthenticated_mail_has_no_account(self):
        tag = "no account"
        c = Smtp(self.srv.ports["smtp"], source=OUTSIDER)
        c.ehlo()
        self.send(c, "someone@outside.example", [BOB],
                  message(tag, sender="someone@outside.example", rcpt=BOB))
        c.quit()
        rec = top_received(self.assertDelivered(self.srv, "bob", tag))
        self.assertNotIn("ESMTPA", rec)
        self.assertNotIn("alice", rec.lower())


# =============================================================================
# 5: sender checks (MAIL FROM and header From: must belong to the account)
# =============================================================================

def assert_553_and_no_transaction(test, srv, service, source, sender, rcpt, msg):
    """MAIL FROM sender, RCPT rcpt, DATA msg: a 553 5.7.1 must come at MAIL or RCPT,
    and the transaction must not complete. Returns the replies seen."""
    c = Smtp(srv.ports[service], source=source)
    seen = []
    try:
        c.ehlo()
        m = c.cmd(f"MAIL FROM:<{sender}>")
        seen.append(("MAIL", m[1]))
        r = None
        if m[0] == 250:
            r = c.cmd(f"RCPT TO:<{rcpt}>")
            seen.append(("RCPT", r[1]))
        d = c.data(msg)
        seen.append(("DATA", d[1]))
    finally:
        c.quit()
    test.assertTrue(any(re.match(r"^553[ -]5\.7\.1\b", line) for _, line in seen[:2]),
                    f"no 553 5.7.1 at MAIL or RCPT: {seen}")
    test.assertNotEqual(d[0], 250, f"the transaction completed: {seen}")
    return seen


class SenderCheckTest(RelayCase):
    users = ("alice", "bob", "carol")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv.cli("alias", "add", f"alice.alias@{DOMAIN}", ALICE)
        cls.srv.cli("alias", "add", f"bob.alias@{DOMAIN}", BOB)

    def authed(self, source=OUTSIDER, service="submission"):
        c = Smtp(self.srv.ports[service], source=source)
        c.ehlo()
        self.assertReply(c.auth_plain(), 235, "2.7.0")
        return c

    def test_own_address_is_accepted(self):
        tag = "own sender"
        c = self.authed()
        self.send(c, ALICE, [BOB, RUSER], message(tag, rcpt=BOB))
        c.quit()
        self.assertDelivered(self.srv, "bob", tag)
        self.assertDelivered(self.dest, "user", tag)

    def test_own_alias_is_accepted(self):
        tag = "alias sender"
        alias = f"alice.alias@{DOMAIN}"
        c = self.authed()
        self.send(c, alias, [BOB, RUSER],
                  message(tag, sender=alias, rcpt=BOB, header_from=f"Alice <{alias}>"))
        c.quit()
        data = self.assertDelivered(self.srv, "bob", tag)
        self.assertIn(f"Return-Path: <{alias}>", trace_part(data))
        self.assertDelivered(self.dest, "user", tag)

    def test_someone_elses_address_is_refused_at_mail(self):
        for sender in (BOB, f"bob.alias@{DOMAIN}", f"carol@{DOMAIN}", f"alice@{REMOTE}",
                       "alice@outside.example", f"nobody@{DOMAIN}"):
            with self.subTest(sender=sender):
                tag = f"not owned {sender}"
                c = self.authed()
                self.assertReply(c.cmd(f"MAIL FROM:<{sender}>"), 553, "5.7.1",
                                 "Sender address not owned by you")
                code, line, _ = c.cmd(f"RCPT TO:<{BOB}>")
                self.assertNotEqual(code, 250, line)
                code, line = c.data(message(tag, sender=sender, rcpt=BOB))
                self.assertNotEqual(code, 250, line)
                c.quit()
                self.assertNotDelivered(self.srv, "bob", tag)

    def test_refused_on_submissions_too(self):
        c = Smtp(self.srv.ports["submissions"], source=OUTSIDER,
                 implicit_tls=tls_context(self.srv))
        c.ehlo()
        self.assertReply(c.auth_plain(), 235, "2.7.0")
        self.assertReply(c.cmd(f"MAIL FROM:<{BOB}>"), 553, "5.7.1")
        self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 250)
        c.quit()

    def test_null_sender_is_allowed(self):
        tag = "null sender"
        c = self.authed()
        self.send(c, "", [BOB, RUSER], message(tag, rcpt=BOB))
        c.quit()
        data = self.assertDelivered(self.srv, "bob", tag)
        self.assertIn("Return-Path: <>", trace_part(data))
        self.assertDelivered(self.dest, "user", tag)

    def test_header_from_mismatch_is_refused_at_end_of_data(self):
        tags = []
        for hfrom in (f"Bob <{BOB}>", f"<bob.alias@{DOMAIN}>", f"alice@{REMOTE}"):
            with self.subTest(header_from=hfrom):
                tag = f"header from {hfrom}"
                tags.append(tag)
                c = self.authed()
                self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 250)
                self.assertReply(c.cmd(f"RCPT TO:<{BOB}>"), 250)
                self.assertReply(c.cmd(f"RCPT TO:<{RUSER}>"), 250)
                self.assertReply(c.data(message(tag, rcpt=BOB, header_from=hfrom)), 553, "5.7.1")
                c.quit()
        time.sleep(1.0)
        for tag in tags:
            self.assertNotDelivered(self.srv, "bob", tag)
            self.assertNotDelivered(self.dest, "user", tag)

    def bare_message(self, tag, rcpt, date=True, mid=True, hfrom=True, author=ALICE):
        text = f"X-Relay-Test: {tag}\r\n"
        if hfrom:
            text += f"From: Alice <{author}>\r\n"
        text += f"To: <{rcpt}>\r\nSubject: {tag}\r\n"
        if mid:
            text += f"Message-ID: <{tag.replace(' ', '-')}@client.example.org>\r\n"
        if date:
            text += "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
        return (text + "\r\nHello.\r\n").encode()

    @staticmethod
    def header_values(data, name):
        head = data.split(b"\n\n", 1)[0].decode()
        return re.findall(r"(?mi)^" + name + r":[ \t]*(.*)$", head)

    def test_submission_adds_missing_message_id_and_date(self):
        """Issue 12: on submission a message without Message-ID: or Date:
        gets them (RFC 6409 8.2-8.3), relayed and local copies alike."""
        tag = "no mid no date"
        c = self.authed()
        self.send(c, ALICE, [BOB, RUSER], self.bare_message(tag, BOB, date=False, mid=False))
        c.quit()
        for data in (self.assertDelivered(self.srv, "bob", tag),
                     self.assertDelivered(self.dest, "user", tag)):
            mids = self.header_values(data, "Message-ID")
            self.assertEqual(len(mids), 1, data[:600])
            self.assertRegex(mids[0], r"^<[0-9A-F]+\.[0-9a-f]{16}@" + re.escape(HOSTNAME) + ">$")
            dates = self.header_values(data, "Date")
            self.assertEqual(len(dates), 1, data[:600])
            when = email.utils.parsedate_to_datetime(dates[0])
            self.assertLess(abs(time.time() - when.timestamp()), 300)
        # Each message gets its own Message-ID.
        tag2 = "no mid again"
        c = self.authed()
        self.send(c, ALICE, [BOB], self.bare_message(tag2, BOB, mid=False))
        c.quit()
        data2 = self.assertDelivered(self.srv, "bob", tag2)
        self.assertNotEqual(self.header_values(data2, "Message-ID"), mids)
        self.assertEqual(self.header_values(data2, "Date"), ["Mon, 01 Jan 2024 12:00:00 +0000"])

    def test_submission_keeps_existing_message_id_and_date(self):
        tag = "has mid and date"
        c = self.authed()
        self.send(c, ALICE, [BOB], self.bare_message(tag, BOB))
        c.quit()
        data = self.assertDelivered(self.srv, "bob", tag)
        self.assertEqual(self.header_values(data, "Message-ID"),
                         ["<has-mid-and-date@client.example.org>"])
        self.assertEqual(self.header_values(data, "Date"), ["Mon, 01 Jan 2024 12:00:00 +0000"])

    def test_mx_and_relay_add_nothing(self):
        """Inbound mail on port 25, and mail the trusted network relays
        there, is passed on as it came: no Message-ID:, no Date: added."""
        tag = "inbound no mid"
        c = Smtp(self.srv.ports["smtp"], source=OUTSIDER)
        c.ehlo()
        # (an outside author: From: in our domain from outside is refused, issue 17)
        self.send(c, OUTSIDE_SENDER, [BOB], self.bare_message(tag, BOB, date=False, mid=False,
                                                              author=OUTSIDE_SENDER))
        c.quit()
        data = self.assertDelivered(self.srv, "bob", tag)
        self.assertEqual(self.header_values(data, "Message-ID"), [])
        self.assertEqual(self.header_values(data, "Date"), [])
        tag = "relayed no mid"
        c = Smtp(self.srv.ports["smtp"], source=TRUSTED)
        c.ehlo()
        self.send(c, ALICE, [RUSER], self.bare_message(tag, RUSER, date=False, mid=False))
        c.quit()
        data = self.assertDelivered(self.dest, "user", tag)
        self.assertEqual(self.header_values(data, "Message-ID"), [])
        self.assertEqual(self.header_values(data, "Date"), [])

    def test_submission_without_from_gets_a_clear_answer(self):
        tag = "no header from"
        c = self.authed()
        self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 250)
        self.assertReply(c.cmd(f"RCPT TO:<{BOB}>"), 250)
        self.assertReply(c.data(self.bare_message(tag, BOB, hfrom=False)), 550, "5.6.0",
                         "no From: header")
        c.quit()
        self.assertNotDelivered(self.srv, "bob", tag, wait=0.5)

    # --- issue 14: every author in the header must be the account's --------

    @staticmethod
    def headed_message(tag, fields, rcpt=BOB):
        """A message with the given header lines (each without CRLF) after X-Relay-Test."""
        head = f"X-Relay-Test: {tag}\r\n" + "".join(f + "\r\n" for f in fields)
        return (head + f"To: <{rcpt}>\r\nSubject: {tag}\r\n"
                f"Message-ID: <{tag.replace(' ', '-')}@client.example.org>\r\n"
                "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n\r\nHello.\r\n").encode()

    def assert_header_refused(self, cases, code, enhanced, text):
        """Each (tag, fields) submitted by alice to bob (local) and user@remote
        (relayed) is refused at the end of DATA and reaches nobody."""
        tags = []
        for tag, fields in cases:
            with self.subTest(fields=fields):
                tags.append(tag)
                c = self.authed()
                self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 250)
                self.assertReply(c.cmd(f"RCPT TO:<{BOB}>"), 250)
                self.assertReply(c.cmd(f"RCPT TO:<{RUSER}>"), 250)
                self.assertReply(c.data(self.headed_message(tag, fields)), code, enhanced, text)
                # The session goes on: a proper message is still accepted.
                ok = tag + " then ok"
                self.send(c, ALICE, [BOB], self.headed_message(ok, [f"From: <{ALICE}>"]))
                c.quit()
                self.assertDelivered(self.srv, "bob", ok)
        time.sleep(1.0)
        for tag in tags:
            self.assertNotDelivered(self.srv, "bob", tag)
            self.assertNotDelivered(self.dest, "user", tag)

    def test_second_from_field_is_refused(self):
        """Issue 14: `From: b` then a second `From: ceo` was queued.
        RFC 5322 3.6: From occurs exactly once."""
        carol = f"carol@{DOMAIN}"
        self.assert_header_refused(
            [("two from fields", [f"From: Alice <{ALICE}>", f"From: CEO <{carol}>"]),
             ("two own from fields", [f"From: <{ALICE}>", f"from: <alice.alias@{DOMAIN}>"])],
            550, "5.6.0", "2 From: header fields")

    def test_every_from_mailbox_must_be_owned(self):
        """Issue 14: `From: b, ceo` was queued; group members count too (RFC 6854)."""
        carol = f"carol@{DOMAIN}"
        self.assert_header_refused(
            [("from list", [f"From: {ALICE}, {carol}"]),
             ("from list names", [f'From: "Alice" <{ALICE}>, "Boss" <{carol}>']),
             ("from list outside", [f"From: <{ALICE}>,ceo@{REMOTE}"]),
             ("from group", [f"From: Board: {ALICE}, {carol};"]),
             ("from comment trick", [f"From: {carol} (<{ALICE}>)"]),
             ("from quoted trick", [f'From: "{ALICE}" <{carol}>'])],
            553, "5.7.1", "not owned by you")

    def test_from_that_cannot_be_parsed_is_refused(self):
        """Issue 14: `From: <b> <ceo>` (no comma) was queued as b's."""
        carol = f"carol@{DOMAIN}"
        self.assert_header_refused(
            [("two angle addrs", [f"From: <{ALICE}> <{carol}>"]),
             ("spec then angle", [f"From: {ALICE} <{carol}>"]),
             ("two specs", [f"From: {ALICE} {carol}"]),
             ("open quote", [f'From: "Alice <{ALICE}>']),
             ("no address", ["From: Alice"]),
             ("semicolon", [f"From: {ALICE}; {carol}"])],
            550, "5.6.0", "Malformed From: header field")

    def test_from_without_mailbox_is_refused(self):
        self.assert_header_refused(
            [("empty group from", ["From: undisclosed-recipients:;"]),
             ("empty from", ["From: "])],
            550, "5.6.0", "names no mailbox")

    def test_sender_field_must_be_owned(self):
        carol = f"carol@{DOMAIN}"
        self.assert_header_refused(
            [("foreign sender", [f"From: <{ALICE}>", f"Sender: <{carol}>"])],
            553, "5.7.1", f"<{carol}>: header Sender: address not owned by you")
        self.assert_header_refused(
            [("two senders", [f"From: <{ALICE}>", f"Sender: <{ALICE}>", f"Sender: <{carol}>"])],
            550, "5.6.0", "2 Sender: header fields")
        self.assert_header_refused(
            [("sender list", [f"From: <{ALICE}>", f"Sender: {ALICE}, {carol}"]),
             ("sender group", [f"From: <{ALICE}>", f"Sender: G: {ALICE};"])],
            550, "5.6.0", "Malformed Sender: header field")

    def test_own_authors_in_every_form_are_accepted(self):
        """The strict reading takes what real clients write, every form the RFC allows."""
        alias = f"alice.alias@{DOMAIN}"
        cases = [
            ("own list", [f"From: Alice <{ALICE}>, Alias <{alias}>"]),
            ("own encoded name", [f"From: =?UTF-8?B?5bGx55SwIOiKseWtkA==?= <{ALICE}>"]),
            ("own comment", [f"From: {ALICE.upper()} (Alice, at home <x@y>)"]),
            ("own quoted name", [f'From: "Doe, Alice <ceo@{DOMAIN}>" <{ALICE}>']),
            ("own group", [f"From: Me: {ALICE};"]),
            ("own sender field", [f"From: <{alias}>", f"Sender: Alice <{ALICE}>"]),
            ("own folded", [f"From: Alice\r\n <{ALICE}>"]),
            # A quoted local part that needs no quotes is the same address
            # (RFC 5322 3.4.1); the old tolerant reading took it for "@domain".
            ("own quoted local part", [f'From: "alice"@{DOMAIN}']),
        ]
        c = self.authed()
        for tag, fields in cases:
            with self.subTest(fields=fields):
                self.send(c, ALICE, [BOB, RUSER], self.headed_message(tag, fields))
        c.quit()
        for tag, _ in cases:
            self.assertDelivered(self.srv, "bob", tag)
            self.assertDelivered(self.dest, "user", tag)

    def test_header_from_alias_is_accepted(self):
        tag = "header from alias"
        c = self.authed()
        self.send(c, ALICE, [BOB],
                  message(tag, rcpt=BOB, header_from=f"Alice <alice.alias@{DOMAIN}>"))
        c.quit()
        self.assertDelivered(self.srv, "bob", tag)

    def test_grant_sender_must_be_owned(self):
        source = "127.0.2.40"
        pop_login(self.srv, source)  # a grant for alice
        senders = (BOB, f"bob.alias@{DOMAIN}", "alice@outside.example")
        for sender in senders:
            with self.subTest(sender=sender):
                assert_553_and_no_transaction(
                    self, self.srv, "smtp", source, sender, RUSER,
                    message(f"grant not owned {sender}", sender=sender, rcpt=RUSER))
        time.sleep(1.0)
        for sender in senders:
            self.assertNotDelivered(self.dest, "user", f"grant not owned {sender}")

    def test_grant_header_from_must_be_owned(self):
        source = "127.0.2.41"
        pop_login(self.srv, source)
        tag = "grant header from"
        c = Smtp(self.srv.ports["smtp"], source=source)
        c.ehlo()
        self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 250)
        self.assertReply(c.cmd(f"RCPT TO:<{RUSER}>"), 250)
        self.assertReply(c.data(message(tag, rcpt=RUSER, header_from=f"<{BOB}>")), 553, "5.7.1")
        # The same session may send a proper message next.
        tag2 = "grant header from ok"
        self.send(c, ALICE, [RUSER], message(tag2, rcpt=RUSER))
        c.quit()
        self.assertDelivered(self.dest, "user", tag2)
        self.assertNotDelivered(self.dest, "user", tag)

    def test_bounce_from_granted_ip_is_delivered(self):
        """Issue 12: after a POP3 login from an address (an office NAT), a
        bounce from the same address (MAIL FROM:<>, From: MAILER-DAEMON@...)
        to a local user is ordinary inbound mail, sent here with swaks."""
        source = "127.0.2.43"
        pop_login(self.srv, source)  # a grant for alice
        self.assertIn(source + "\t" + ALICE, self.srv.cli("grants", "list").stdout)
        tag = "bounce from granted nat"
        swaks = need_tool("swaks")
        p = subprocess.run(
            [swaks, "--server", "127.0.0.1", "--port", str(self.srv.ports["smtp"]),
             "--local-interface", source, "--helo", "mta.nat.example", "--from", "<>",
             "--to", BOB, "--header", "From: Mail Delivery System <MAILER-DAEMON@nat.example>",
             "--header", f"Subject: {tag}", "--add-header", f"X-Relay-Test: {tag}"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + self.srv.log()[-2000:])
        self.assertDelivered(self.srv, "bob", tag)

    def test_null_sender_from_granted_ip_may_not_relay(self):
        """The grant is for its owner's own mail: a null sender never relays on it."""
        source = "127.0.2.44"
        pop_login(self.srv, source)
        mail, rcpt = relay_attempt(self.srv, source, sender="")
        self.assertReply(mail, 250)
        self.assertReply(rcpt, 554, "5.7.1")

    def test_grant_local_delivery_is_not_held_to_header_from(self):
        """Own envelope sender, someone else's header From:, only local
        recipients: inbound mail, not the grant's business (issue 12); the
        same message relayed is still refused (test above)."""
        source = "127.0.2.45"
        pop_login(self.srv, source)
        tag = "grant local other header from"
        c = Smtp(self.srv.ports["smtp"], source=source)
        c.ehlo()
        self.send(c, ALICE, [BOB], message(tag, rcpt=BOB, header_from="<news@list.example>"))
        c.quit()
        self.assertDelivered(self.srv, "bob", tag)

    def test_grant_own_alias_relays(self):
        source = "127.0.2.42"
        pop_login(self.srv, source)
        tag = "grant alias"
        alias = f"alice.alias@{DOMAIN}"
        c = Smtp(self.srv.ports["smtp"], source=source)
        c.ehlo()
        self.send(c, alias, [RUSER], message(tag, sender=alias, rcpt=RUSER))
        c.quit()
        self.assertDelivered(self.dest, "user", tag)


class SenderLoginMatchOffTest(RelayCase):
    extra = {"relay.sender_login_match": "false"}

    def test_auth_may_use_any_sender(self):
        for sender, hfrom in ((BOB, f"Bob <{BOB}>"), ("someone@outside.example", BOB)):
            with self.subTest(sender=sender):
                tag = f"match off {sender}"
                c = Smtp(self.srv.ports["submission"], source=OUTSIDER)
                c.ehlo()
                self.assertReply(c.auth_plain(), 235, "2.7.0")
                self.send(c, sender, [RUSER, BOB],
                          message(tag, sender=sender, rcpt=RUSER, header_from=hfrom))
                c.quit()
                self.assertDelivered(self.dest, "user", tag)
                self.assertDelivered(self.srv, "bob", tag)

    def test_grant_may_use_any_sender(self):
        source = "127.0.2.50"
        pop_login(self.srv, source)
        tag = "match off grant"
        c = Smtp(self.srv.ports["smtp"], source=source)
        c.ehlo()
        self.send(c, BOB, [RUSER], message(tag, sender=BOB, rcpt=RUSER, header_from=BOB))
        c.quit()
        self.assertDelivered(self.dest, "user", tag)

    def test_outsider_still_may_not_spoof_or_relay(self):
        c = Smtp(self.srv.ports["smtp"], source=OUTSIDER)
        c.ehlo()
        self.assertReply(c.cmd(f"MAIL FROM:<{BOB}>"), 550, "5.7.1")
        self.assertReply(c.cmd("MAIL FROM:<someone@outside.example>"), 250)
        self.assertReply(c.cmd(f"RCPT TO:<{RUSER}>"), 554, "5.7.1")
        c.quit()


# =============================================================================
# 7: POP-before-SMTP
# =============================================================================

class PopBeforeSmtpTest(RelayCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="tegami-relay-pbs-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)

    def assert_refused(self, source):
        # (Not with alice's address: an unauthorised client may not use a
        # local sender at all, 550 5.7.1 at MAIL.)
        mail, rcpt = relay_attempt(self.srv, source, sender=OUTSIDE_SENDER)
        self.assertReply(mail, 250)
        self.assertReply(rcpt, 554, "5.7.1", f"<{RUSER}>: Relay access denied")

    def relay_and_check(self, source, tag, service="smtp", rcpt=RUSER, user="user"):
        c = Smtp(self.srv.ports[service], source=source)
        c.ehlo()
        self.send(c, ALICE, [rcpt], message(tag, rcpt=rcpt))
        c.quit()
        return self.assertDelivered(self.dest, user, tag)

    def mpop_apop(self, source):
        mbox = os.path.join(self.tmp, f"mbox-{source}")
        rc = os.path.join(self.tmp, f"mpoprc-{source}")
        with open(rc, "w") as f:
            f.write(f"""defaults
account default
host 127.0.0.1
port {self.srv.ports['pop3']}
source_ip {source}
user {ALICE}
password {PASSWORD}
auth apop
tls off
delivery mbox {mbox}
keep on
uidls_file {os.path.join(self.tmp, f'uidls-{source}')}
""")
        os.chmod(rc, 0o600)
        # mpop -C RC -q default   (auth apop, tls off, source_ip SOURCE)
        cmd = ["mpop", "-C", rc, "-q", "default"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, HOME=self.tmp, LC_ALL="C"),
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, f"{cmd}\n{p.stdout}\n{p.stderr}\n" + self.srv.log()[-2000:])

    def grants(self):
        return self.srv.cli("grants", "list").stdout

    def test_mpop_apop_login_grants_relay(self):
        need_tool("mpop")
        source = "127.0.2.1"
        self.assert_refused(source)
        self.assertNotIn(source + "\t", self.grants())
        self.mpop_apop(source)
        self.assertRegex(self.grants(), r"(?m)^" + re.escape(source) + r"\t" + re.escape(ALICE)
                         + r"\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\t\d+s$")
        data = self.relay_and_check(source, "mpop grant")
        self.assertTrue(any(f"[{source}]" in f for f in received_fields(data)),
                        received_fields(data))

    def test_user_pass_login_grants_relay(self):
        source = "127.0.2.2"
        self.assert_refused(source)
        pop_login(self.srv, source)
        self.assertIn(f"{source}\t{ALICE}\t", self.grants())
        self.relay_and_check(source, "user pass grant")

    def test_pop3_auth_plain_grants_relay(self):
        source = "127.0.2.3"
        self.assert_refused(source)
        p = Raw(self.srv.ports["pop3"], source=source)
        self.assertTrue(p.line().startswith("+OK"))
        p.send(f"AUTH PLAIN {plain(ALICE)}\r\n")
        r = p.line()
        self.assertTrue(r.startswith("+OK"), r)
        p.send("QUIT\r\n")
        p.line()
        p.close()
        self.relay_and_check(source, "pop auth plain grant", rcpt=f"carol@{REMOTE}", user="carol")

    def test_grant_covers_only_its_ip(self):
        source, other = "127.0.2.4", "127.0.2.5"
        pop_login(self.srv, source)
        self.assert_refused(other)
        mail, _ = relay_attempt(self.srv, other, service="submission")
        self.assertReply(mail, 530, "5.7.0")
        self.assertNotIn(other + "\t", self.grants())
        self.relay_and_check(source, "grant only its ip")

    def test_failed_pop_login_grants_nothing(self):
        source = "127.0.1.20"
        with self.assertRaises(poplib.error_proto):
            pop_login(self.srv, source, password="wrong-" + PASSWORD)
        self.assert_refused(source)
        self.assertNotIn(source + "\t", self.grants())

    def test_grant_on_submission_and_auth_inside_transaction(self):
        source = "127.0.2.6"
        pop_login(self.srv, source)
        tag = "grant on submission"
        c = Smtp(self.srv.ports["submission"], source=source)
        c.ehlo()
        self.assertReply(c.cmd(f"MAIL FROM:<{ALICE}>"), 250)
        self.assertReply(c.auth_plain(), 503, "5.5.1")
        self.assertReply(c.cmd(f"RCPT TO:<{RUSER}>"), 250)
        self.assertReply(c.data(message(tag, rcpt=RUSER)), 250)
        c.quit()
        self.assertDelivered(self.dest, "user", tag)


class PopBeforeSmtpTtlTest(RelayCase):
    extra = {"relay.pop_before_smtp_ttl": '"3s"'}

    def test_grant_expires(self):
        source = "127.0.2.10"
        t0 = time.time()
        pop_login(self.srv, source)
        mail, rcpt = relay_attempt(self.srv, source)
        self.assertLess(time.time() - t0, 2.5, "too slow to test a 3 s grant")
        self.assertReply(rcpt, 250)
        self.assertIn(f"{source}\t{ALICE}\t", self.srv.cli("grants", "list").stdout)
        time.sleep(max(0.0, t0 + 4.0 - time.time()))
        mail, rcpt = relay_attempt(self.srv, source, sender=OUTSIDE_SENDER)
        self.assertReply(mail, 250)
        self.assertReply(rcpt, 554, "5.7.1", "Relay access denied")
        # Unauthorised again: alice's address is a local-domain sender now.
        mail, _ = relay_attempt(self.srv, source)
        self.assertReply(mail, 550, "5.7.1")
        self.assertNotIn(source + "\t", self.srv.cli("grants", "list").stdout)
        # A new login renews it.
        pop_login(self.srv, source)
        self.assertReply(relay_attempt(self.srv, source)[1], 250)


class PopBeforeSmtpRestartTest(RelayCase):

    def test_grant_survives_restart(self):
        source, other = "127.0.2.20", "127.0.2.21"
        pop_login(self.srv, source)
        self.assertEqual(self.srv.stop(), 0, self.srv.log()[-3000:])
        self.srv.start()
        self.assertIn(f"{source}\t{ALICE}\t", self.srv.cli("grants", "list").stdout)
        tag = "grant after restart"
        c = Smtp(self.srv.ports["smtp"], source=source)
        c.ehlo()
        self.send(c, ALICE, [RUSER], message(tag, rcpt=RUSER))
        c.quit()
        self.assertDelivered(self.dest, "user", tag)
        mail, rcpt = relay_attempt(self.srv, other, sender=OUTSIDE_SENDER)
        self.assertReply(rcpt, 554, "5.7.1")


# =============================================================================
# 3: failure throttling per client IP, shared with POP3
# =============================================================================

class ThrottleTest(RelayCase):

    def timed_auth(self, c, password):
        t0 = time.time()
        r = c.auth_plain(password=password)
        return r, time.time() - t0

    def test_delay_doubles_and_the_same_password_counts_once(self):
        c = Smtp(self.srv.ports["submission"], source="127.0.1.1")
        c.ehlo()
        r, d1 = self.timed_auth(c, "wrong-one")
        self.assertReply(r, 535, "5.7.8")
        r, d2 = self.timed_auth(c, "wrong-one")  # the same again: not counted again
        self.assertReply(r, 535, "5.7.8")
        r, d3 = self.timed_auth(c, "wrong-two")  # the 2nd counted failure: 4 s, not 8 s
        self.assertReply(r, 535, "5.7.8")
        c.quit()
        self.assertGreaterEqual(d1, 1.9, (d1, d2, d3))
        self.assertGreaterEqual(d2, 1.9, (d1, d2, d3))
        self.assertGreaterEqual(d3, 3.5, (d1, d2, d3))
        self.assertLess(d3, 7.0, f"the repeated password was counted: {(d1, d2, d3)}")
        # Another address is not slowed down by these failures.
        c = Smtp(self.srv.ports["submission"], source="127.0.1.2")
        c.ehlo()
        r, d = self.timed_auth(c, PASSWORD)
        self.assertReply(r, 235, "2.7.0")
        self.assertLess(d, 1.5)
        c.quit()

    def test_pop3_failures_count_for_smtp_auth(self):
        source = "127.0.1.3"
        t0 = time.time()
        with self.assertRaises(poplib.error_proto):
            pop_login(self.srv, source, password="pop-wrong")
        self.assertGreaterEqual(time.time() - t0, 1.9)
        c = Smtp(self.srv.ports["submission"], source=source)
        c.ehlo()
        r, d = self.timed_auth(c, "smtp-wrong")
        self.assertReply(r, 535, "5.7.8")
        self.assertGreaterEqual(d, 3.5, "the POP3 failure was not counted for SMTP AUTH")
        c.quit()

    def test_ten_failures_lock_the_ip_out(self):
        # Ten distinct wrong passwords at once from one IP (the delays run in
        # parallel: ~15 s instead of ~2 minutes): the 10th counted failure is
        # answered 421 4.7.0 and its connection closed, the others 535 5.7.8;
        # an 11th attempt, sent once the first answer is in, gets 421 4.7.0 too.
        source = "127.0.1.4"
        n = 10
        clients = [Smtp(self.srv.ports["submission"], source=source, timeout=60)
                   for _ in range(n + 1)]
        for c in clients:
            c.ehlo()
        results = [None] * (n + 1)
        closed = [None] * (n + 1)
        barrier = threading.Barrier(n)
        first_answer = threading.Event()

        def attempt(i):
            if i < n:
                barrier.wait()
            try:
                results[i] = clients[i].auth_plain(password=f"wrong-{i}")[1]
                if results[i].startswith("421"):
                    closed[i] = clients[i].closed(10)
            except (OSError, EOFError) as e:
                results[i] = f"error: {e!r}"
            first_answer.set()

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        self.assertTrue(first_answer.wait(40), "no answer to 10 failed AUTHs in 40 s")
        time.sleep(1.0)
        last = threading.Thread(target=attempt, args=(n,))
        last.start()
        threads.append(last)
        for t in threads:
            t.join(90)
        for c in clients:
            c.close()
        first_ten = results[:n]
        for line in first_ten:
            self.assertRegex(line or "", r"^(535[ -]5\.7\.8|421[ -]4\.7\.0)\b", results)
        locked = [i for i in range(n) if results[i].startswith("421")]
        self.assertTrue(locked, f"no 421 4.7.0 after 10 failures: {results}")
        for i in locked:
            self.assertTrue(closed[i], f"connection {i} stayed open after 421")
        self.assertRegex(results[n] or "", r"^421[ -]4\.7\.0\b", f"11th attempt: {results}")
        self.assertTrue(closed[n], "the 11th connection stayed open after 421")
        # Other addresses are not locked out.
        c = Smtp(self.srv.ports["submission"], source="127.0.1.5")
        c.ehlo()
        self.assertReply(c.auth_plain(), 235, "2.7.0")
        c.quit()


def auth_line(c, user=ALICE, password=PASSWORD):
    """AUTH PLAIN on an open Smtp client: the last reply line."""
    return c.auth_plain(user=user, password=password)[1]


class AuthLockoutTest(unittest.TestCase):
    """Issue 14: once a client network has [auth] failure_limit counted
    failures, it is refused before any password is checked until
    failure_window has passed since its last failure; a success clears only
    the failures against that account. A small limit, a short window and no
    delay keep the tests fast."""

    WINDOW = 6

    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(extra_config={
            "auth.failure_limit": "3",
            "auth.failure_window": f'"{cls.WINDOW}s"',
            "auth.failure_delay": '"0s"',
        }, services=("smtp", "submission", "pop3"))).start()

    def submission(self, source):
        c = Smtp(self.srv.ports["submission"], source=source)
        c.ehlo()
        return c

    def test_right_password_is_refused_while_locked_out(self):
        source = "127.0.3.1"
        c = self.submission(source)
        self.assertRegex(auth_line(c, password="wrong-1"), r"^535 5\.7\.8 ")
        self.assertRegex(auth_line(c, password="wrong-2"), r"^535 5\.7\.8 ")
        self.assertRegex(auth_line(c, password="wrong-3"), r"^421 4\.7\.0 ")
        self.assertTrue(c.closed(), "still open after 421")
        c.close()
        locked_at = time.monotonic()
        # The right password now: refused, and quickly (it is not checked).
        c = self.submission(source)
        t0 = time.monotonic()
        line = auth_line(c)
        self.assertRegex(line, r"^421 4\.7\.0 .*too many authentication failures",
                         "the right password was accepted while locked out")
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertTrue(c.closed(), "still open after 421")
        c.close()
        # LOGIN too, and POP3 from the same address (one count for both).
        c = self.submission(source)
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        self.assertEqual(c.cmd(b64(ALICE))[0], 334)
        self.assertRegex(c.cmd(b64(PASSWORD))[1], r"^421 4\.7\.0 ")
        c.close()
        p = SourcePOP3("127.0.0.1", self.srv.ports["pop3"], source)
        p.user(ALICE)
        with self.assertRaises(poplib.error_proto) as e:
            p.pass_(PASSWORD)
        self.assertTrue(e.exception.args[0].startswith(b"-ERR [SYS/TEMP]"), e.exception.args)
        p.close()
        self.assertLess(time.monotonic() - locked_at, self.WINDOW - 1, "too slow to test the window")
        self.assertTrue(self.srv.wait_log(
            r"auth refused ip=127\.0\.3\.1 network=127\.0\.3\.1 user=alice@example\.test "
            r"mechanism=PLAIN: too many failures"), self.srv.log()[-3000:])
        self.assertTrue(self.srv.wait_log(r"pop3 \S+ login refused ip=127\.0\.3\.1 "),
                        self.srv.log()[-3000:])
        # Another address is not locked out.
        c = self.submission("127.0.3.2")
        self.assertRegex(auth_line(c), r"^235 2\.7\.0 ")
        c.quit()
        # Once the window has passed since the last failure, the password works.
        time.sleep(max(0.0, locked_at + self.WINDOW + 1.0 - time.monotonic()))
        c = self.submission(source)
        self.assertRegex(auth_line(c), r"^235 2\.7\.0 ")
        c.quit()

    def test_own_account_login_does_not_reset_guesses_against_another(self):
        source = "127.0.3.3"
        c = self.submission(source)
        self.assertRegex(auth_line(c, user=BOB, password="guess-1"), r"^535 5\.7\.8 ")
        self.assertRegex(auth_line(c, user=BOB, password="guess-2"), r"^535 5\.7\.8 ")
        c.quit()
        # The attacker logs in to its own account (alice here)...
        c = self.submission(source)
        self.assertRegex(auth_line(c), r"^235 2\.7\.0 ")
        c.quit()
        # ...which does not forgive the guesses against bob: the third one
        # reaches the limit, and bob's right password is refused after it.
        c = self.submission(source)
        self.assertRegex(auth_line(c, user=BOB, password="guess-3"), r"^421 4\.7\.0 ",
                         "a login to another account reset the failures against bob")
        c.close()
        c = self.submission(source)
        self.assertRegex(auth_line(c, user=BOB), r"^421 4\.7\.0 ")
        c.close()

    def test_success_clears_that_accounts_failures(self):
        # The owner's own typing errors are forgiven by the owner's login.
        source = "127.0.3.4"
        c = self.submission(source)
        self.assertRegex(auth_line(c, password="typo-1"), r"^535 5\.7\.8 ")
        self.assertRegex(auth_line(c, password="typo-2"), r"^535 5\.7\.8 ")
        self.assertRegex(auth_line(c), r"^235 2\.7\.0 ")
        c.quit()
        c = self.submission(source)
        self.assertRegex(auth_line(c, password="typo-3"), r"^535 5\.7\.8 ")
        self.assertRegex(auth_line(c, password="typo-4"), r"^535 5\.7\.8 ")
        c.quit()

    def test_same_wrong_password_is_still_forgiven(self):
        # A phone retrying a stale password does not lock its owner out.
        source = "127.0.3.5"
        for _ in range(5):
            c = self.submission(source)
            self.assertRegex(auth_line(c, password="stale"), r"^535 5\.7\.8 ")
            c.quit()
        c = self.submission(source)
        self.assertRegex(auth_line(c), r"^235 2\.7\.0 ")
        c.quit()


class PerNetworkLimitsTest(unittest.TestCase):
    """Issue 14: connection limits count per IPv6 /64 ([limits] ipv6_prefix),
    AUTH failures per IPv6 /48 ([auth] failure_ipv6_prefix). The clients use
    IPv6 addresses added to lo (harness.Ipv6Lab: a random /48, subnets 0 to
    3) and a second /48 for "another network"; the server listens on
    SUBNET0::1 of the first."""

    @classmethod
    def setUpClass(cls):
        cls.lab = Ipv6Lab(["0::1", "0::100", "0::101", "1::100", "2::100", "3::100"])
        cls.addClassCleanup(cls.lab.remove)
        cls.other = Ipv6Lab(["0::100"])
        cls.addClassCleanup(cls.other.remove)
        cls.host = cls.lab.addr("0::1")
        listen = f'["[{cls.host}]:0"]'
        cls.srv = own(cls, Server(extra_config={
            "smtp.listen": listen,
            "submission.listen": listen,
            "pop3.listen": listen,
            "limits.connections_per_ip": "3",
            "auth.plaintext_networks": '["fd00::/8"]',
        }, services=("smtp", "submission", "pop3"))).start()

    def smtp(self, host_id, service="smtp", lab=None):
        return Smtp(self.srv.ports[service], source=(lab or self.lab).addr(host_id),
                    host=self.host)

    def test_connections_count_per_slash64(self):
        held = [self.smtp("0::100") for _ in range(3)]
        try:
            for c in held:
                self.assertTrue(c.greeting[-1].startswith("220"), c.greeting)
            c = self.smtp("0::100")
            self.assertRegex(c.greeting[-1], r"^421 4\.7\.0 Too many connections from your network")
            c.close()
            # Another address of the same /64 is the same client.
            for _ in range(3):
                c = self.smtp("0::101")
                self.assertRegex(c.greeting[-1], r"^421 4\.7\.0 ",
                                 "a new address in the same /64 got a fresh slot")
                c.close()
            p = Raw(self.srv.ports["pop3"], host=self.host, source=self.lab.addr("0::101"))
            self.assertTrue(p.line().startswith("-ERR [SYS/TEMP]"))
            p.close()
            # Another /64 is another client.
            c = self.smtp("1::100")
            self.assertTrue(c.greeting[-1].startswith("220"), c.greeting)
            c.quit()
            self.assertTrue(self.srv.wait_log(
                r"refused connection ip=" + re.escape(self.lab.addr("0::101"))
                + r": too many connections from network " + re.escape(self.lab.prefix)
                + r"::/64"), self.srv.log()[-3000:])
        finally:
            for c in held:
                c.quit()

    def timed_failure(self, host_id, lab=None):
        c = self.smtp(host_id, "submission", lab)
        c.ehlo()
        t0 = time.monotonic()
        line = auth_line(c, password="wrong-" + host_id)
        elapsed = time.monotonic() - t0
        self.assertRegex(line, r"^535 5\.7\.8 ")
        c.quit()
        return elapsed

    def test_auth_failures_count_per_slash48(self):
        d1 = self.timed_failure("2::100")
        # Another /64 of the same /48: the second failure of that network.
        # POP3 (as in the finding, where each new address started at 2 s).
        source = self.lab.addr("3::100")
        p = SourcePOP3(self.host, self.srv.ports["pop3"], source)
        p.user(ALICE)
        t0 = time.monotonic()
        with self.assertRaises(poplib.error_proto):
            p.pass_("wrong-pop3")
        d2 = time.monotonic() - t0
        p.close()
        self.assertGreaterEqual(d1, 1.9, (d1, d2))
        self.assertGreaterEqual(d2, 3.5, f"a new /64 of the same /48 started afresh: {(d1, d2)}")
        # Another /48 is another client: back to 2 s.
        d3 = self.timed_failure("0::100", lab=self.other)
        self.assertLess(d3, 3.0, (d1, d2, d3))
        self.assertTrue(self.srv.wait_log(
            r"auth failed ip=" + re.escape(self.lab.addr("2::100")) + r" network="
            + re.escape(self.lab.prefix) + r"::/48 "), self.srv.log()[-3000:])


# =============================================================================
# 9: real clients: swaks and msmtp with AUTH over STARTTLS and implicit TLS
# =============================================================================

class RealClientsTest(RelayCase):

    @classmethod
    def setUpClass(cls):
        for tool in ("swaks", "msmtp"):
            need_tool(tool)
        need_perl_module("Net::SSLeay", "libnet-ssleay-perl")
        need_perl_module("IO::Socket::SSL", "libio-socket-ssl-perl")
        super().setUpClass()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tegami-relay-clients-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def run_tool(self, cmd, stdin=None):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, input=stdin,
                           env=dict(os.environ, HOME=self.tmp, LC_ALL="C"))
        self.assertEqual(p.returncode, 0, f"{cmd}\nexit {p.returncode}\n{p.stdout}\n{p.stderr}\n"
                         + self.srv.log()[-2000:])
        return p.stdout + p.stderr

    def swaks(self, mech, tls_flag, service, rcpt, tag):
        cmd = ["swaks", "--server", "127.0.0.1", "--port", str(self.srv.ports[service]),
               "--local-interface", OUTSIDER, "--helo", HELO, "--from", ALICE, "--to", rcpt,
               tls_flag, "--tls-verify", "--tls-ca-path", cert_path(self.srv),
               "--tls-sni", HOSTNAME, "--auth", mech, "--auth-user", ALICE,
               "--auth-password", PASSWORD, "--header", f"Subject: {tag}",
               "--add-header", f"X-Relay-Test: {tag}"]
        out = self.run_tool(cmd)
        self.assertRegex(out, r"(?m)^<~\s+235[ -]2\.7\.0", out)
        return out

    def test_swaks_auth_plain_starttls_to_local_user(self):
        tag = "swaks plain starttls"
        self.swaks("PLAIN", "--tls", "submission", BOB, tag)
        data = self.assertDelivered(self.srv, "bob", tag)
        self.assertIn("with ESMTPSA", top_received(data))

    def test_swaks_auth_login_tls_on_connect_to_remote(self):
        tag = "swaks login tlsc"
        self.swaks("LOGIN", "--tlsc", "submissions", RUSER, tag)
        data = self.assertDelivered(self.dest, "user", tag)
        self.assertTrue(any("with ESMTPSA" in f and f"by {HOSTNAME}" in f
                            for f in received_fields(data)), received_fields(data))

    def msmtp(self, mech, starttls, service, rcpt, tag):
        rc = os.path.join(self.tmp, "msmtprc")
        with open(rc, "w") as f:
            f.write(f"""defaults
account default
host 127.0.0.1
port {self.srv.ports[service]}
source_ip {OUTSIDER}
domain {HELO}
from {ALICE}
auth {mech}
user {ALICE}
password {PASSWORD}
tls on
tls_starttls {'on' if starttls else 'off'}
tls_certcheck off
""")
        os.chmod(rc, 0o600)
        # msmtp -C RC -a default RCPT < message
        #   (auth plain|login, tls on, tls_starttls on|off, tls_certcheck off, source_ip)
        self.run_tool(["msmtp", "-C", rc, "-a", "default", rcpt],
                      stdin=message(tag, rcpt=rcpt).decode())

    def test_msmtp_auth_plain_starttls_to_remote(self):
        tag = "msmtp plain starttls"
        self.msmtp("plain", True, "submission", f"dave@{REMOTE}", tag)
        data = self.assertDelivered(self.dest, "dave", tag)
        self.assertTrue(any("with ESMTPSA" in f for f in received_fields(data)),
                        received_fields(data))

    def test_msmtp_auth_login_tls_on_connect_to_local_user(self):
        tag = "msmtp login tls"
        self.msmtp("login", False, "submissions", BOB, tag)
        data = self.assertDelivered(self.srv, "bob", tag)
        self.assertIn("with ESMTPSA", top_received(data))

    def test_msmtp_wrong_password_fails(self):
        tag = "msmtp wrong password"
        rc = os.path.join(self.tmp, "msmtprc")
        with open(rc, "w") as f:
            f.write(f"""account default
host 127.0.0.1
port {self.srv.ports['submission']}
source_ip 127.0.1.30
from {ALICE}
auth plain
user {ALICE}
password wrong-{PASSWORD}
tls on
tls_starttls on
tls_certcheck off
""")
        os.chmod(rc, 0o600)
        p = subprocess.run(["msmtp", "-C", rc, "-a", "default", BOB], capture_output=True,
                           text=True, timeout=60, input=message(tag, rcpt=BOB).decode(),
                           env=dict(os.environ, HOME=self.tmp, LC_ALL="C"))
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("535", p.stdout + p.stderr)
        self.assertNotDelivered(self.srv, "bob", tag, wait=0.5)


if __name__ == "__main__":
    unittest.main()
