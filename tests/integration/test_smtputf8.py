"""SMTPUTF8 (RFC 6531/6532) against the real tegami binary.

Receiving: EHLO offers SMTPUTF8; with the MAIL parameter, UTF-8 local parts
and U-label domains reach local mailboxes (domains compare as A-labels,
local parts in NFC); without it, non-ASCII paths are 553 5.6.7; malformed
UTF-8 is 501 5.5.4. Relaying: to a second tegami (it offers SMTPUTF8) the
parameter is passed on; to a peer without it (test_queue.FakeSmtp) the
message is downgraded when nothing needs UTF-8, else bounced with 5.6.7.
"""
import os
import poplib
import re
import smtplib
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from harness import DOMAIN, PASSWORD, Raw, Server, wait_for  # noqa: E402
from test_queue import ALICE, DEST, FakeSmtp, QueueTestCase, dsn_parts, route  # noqa: E402

JOERG = "j\u00f6rg"                      # NFC: U+00F6
JOERG_NFD = "jo\u0308rg"                 # NFD: o + COMBINING DIAERESIS
IDN = "\u4f8b\u3048.\u30c6\u30b9\u30c8"  # 例え.テスト
IDN_A = "xn--r8jz45g.xn--zckzah"
OUTSIDER = "someone@example.org"
SUBJECT = "\u3053\u3093\u306b\u3061\u306f"  # こんにちは


def utf8_message(subject=SUBJECT, to="someone", author=ALICE):
    return (f"From: Alice <{author}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <utf8-{abs(hash(subject))}@{DOMAIN}>\r\n\r\n"
            f"Body: gr\u00fc\u00dfe.\r\n").encode("utf-8")


def send_utf8(srv, sender, rcpts, msg):
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
        s.ehlo("client.example.org")
        return s.sendmail(sender, rcpts, msg, mail_options=["SMTPUTF8"])


class ReceiveTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        srv = Server(users=("alice", JOERG))
        cls.addClassCleanup(srv.cleanup)
        srv.cli("domain", "add", IDN)               # stored as its A-label
        srv.cli("user", "add", f"User@{IDN}", "--password-stdin", stdin="pw-1234567\n")
        srv.start()
        cls.srv = srv

    def maildir_files(self, local, domain):
        d = os.path.join(self.srv.dir, "data", "mail", domain, local, "new")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def test_cli_stores_nfc_and_a_labels(self):
        users = self.srv.cli("user", "list").stdout
        self.assertIn(f"user@{IDN_A}", users)
        self.assertIn(f"{JOERG}@{DOMAIN}", users)
        self.assertIn(IDN_A, self.srv.cli("domain", "list").stdout)
        # The NFD spelling of an existing user is the same account.
        p = self.srv.cli("user", "add", f"{JOERG_NFD}@{DOMAIN}", "--password-stdin",
                         stdin="pw-1234567\n", check=False)
        self.assertNotEqual(p.returncode, 0)
        # Malformed names never reach the directory (or a path).
        for bad in ("a\u0085b@example.test", "x@bad\u200bdomain.test", "../x@example.test"):
            p = self.srv.cli("user", "add", bad, "--password-stdin", stdin="pw-1234567\n",
                             check=False)
            self.assertNotEqual(p.returncode, 0, bad)

    def test_ehlo_offers_smtputf8(self):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example.org")
            self.assertTrue(s.has_extn("smtputf8"))

    def test_delivery_to_utf8_mailbox_and_nfc(self):
        before = len(self.srv.messages(JOERG))
        refused = send_utf8(self.srv, "s\u00e9nder@example.org", [f"{JOERG}@{DOMAIN}"],
                            utf8_message(author=OUTSIDER))
        self.assertEqual(refused, {})
        # The decomposed spelling reaches the same (NFC) mailbox.
        send_utf8(self.srv, OUTSIDER, [f"{JOERG_NFD}@{DOMAIN}"], utf8_message("nfd", author=OUTSIDER))
        msgs = self.srv.wait_messages(JOERG, before + 2)
        self.assertEqual(len(msgs), before + 2, self.srv.log()[-2000:])
        raw = [m for _, m in msgs if SUBJECT.encode() in m][0]
        # RFC 6532: UTF-8 headers are stored as they are.
        self.assertIn(f"Subject: {SUBJECT}\n".encode(), raw)
        self.assertTrue(raw.startswith("Return-Path: <s\u00e9nder@example.org>\n".encode()), raw[:80])
        # RFC 6531 §3.7.3: the with-protocol says UTF8SMTP.
        self.assertRegex(raw.decode(), r"by mail\.example\.test \(tegami\) with UTF8SMTP id ")
        self.assertIn(f"for <{JOERG}@{DOMAIN}>".encode(), raw)
        # The folder is the NFC local part as UTF-8 octets.
        self.assertTrue(os.path.isdir(os.path.join(self.srv.dir, "data", "mail", DOMAIN,
                                                   JOERG, "new")))

    def test_pop3_login_with_a_utf8_address(self):
        # The owner of a UTF-8 mailbox fetches it; the NFD spelling of the
        # name is the same account (the directory compares in NFC).
        send_utf8(self.srv, OUTSIDER, [f"{JOERG}@{DOMAIN}"], utf8_message("pop3 " + SUBJECT, author=OUTSIDER))
        self.srv.wait_messages(JOERG, 1)
        for name in (f"{JOERG}@{DOMAIN}", f"{JOERG_NFD}@{DOMAIN}"):
            p = poplib.POP3("127.0.0.1", self.srv.ports["pop3"], timeout=30)
            try:
                p.user(name)
                p.pass_(PASSWORD)
                count, _ = p.stat()
                self.assertGreaterEqual(count, 1)
                lines = b"\n".join(p.retr(count)[1])
                self.assertIn(f"Subject: pop3 {SUBJECT}".encode(), lines)
            finally:
                p.quit()

    def test_u_label_and_a_label_reach_the_same_mailbox(self):
        before = len(self.maildir_files("user", IDN_A))
        send_utf8(self.srv, OUTSIDER, [f"user@{IDN}"], utf8_message("u-label", author=OUTSIDER))
        # The A-label form is plain ASCII: no SMTPUTF8 needed.
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example.org")
            s.sendmail(OUTSIDER, [f"USER@{IDN_A.upper()}"], b"Subject: a-label\r\n\r\nhi\r\n")
        ok = wait_for(lambda: len(self.maildir_files("user", IDN_A)) >= before + 2, 10)
        self.assertTrue(ok, self.srv.log()[-2000:])
        self.assertFalse(os.path.exists(os.path.join(self.srv.dir, "data", "mail", IDN)))

    def raw_session(self):
        c = Raw(self.srv.ports["smtp"])
        self.addCleanup(c.close)
        self.assertEqual(c.code(), 220)
        c.send("EHLO client.example.org\r\n")
        self.assertIn("SMTPUTF8", " ".join(c.reply()))
        return c

    def test_refused_without_the_parameter(self):
        c = self.raw_session()
        c.send(f"MAIL FROM:<{JOERG}@{DOMAIN}>\r\n".encode())
        self.assertRegex(c.reply()[-1], r"^553 5\.6\.7 ")
        c.send(f"MAIL FROM:<x@{IDN}>\r\n".encode())
        self.assertRegex(c.reply()[-1], r"^553 5\.6\.7 ")
        c.send(f"MAIL FROM:<{OUTSIDER}>\r\n")
        self.assertEqual(c.code(), 250)
        c.send(f"RCPT TO:<{JOERG}@{DOMAIN}>\r\n".encode())
        self.assertRegex(c.reply()[-1], r"^553 5\.6\.7 ")
        c.send("RSET\r\n")
        self.assertEqual(c.code(), 250)
        # The U-label spelling of a local domain is that local domain: a
        # stranger cannot use it to get round the local-sender check.
        c.send(f"MAIL FROM:<x@{IDN}> SMTPUTF8\r\n".encode())
        self.assertRegex(c.reply()[-1], r"^55[03] 5\.7\.1 ")  # 553 after a POP login (grant)
        # Other commands still may not carry 8-bit octets.
        c.send("NOOP \u00e9\r\n".encode())
        self.assertRegex(c.reply()[-1], r"^500 5\.5\.2 ")
        c.send("QUIT\r\n")
        self.assertEqual(c.code(), 221)

    def test_malformed_utf8_refused(self):
        c = self.raw_session()
        for bad in (b"a\xc0\xaf", b"a\x80", b"a\xed\xa0\x80", b"a\xc2\x85", b"a\xff"):
            c.send(b"MAIL FROM:<" + bad + b"@example.test> SMTPUTF8\r\n")
            self.assertRegex(c.reply()[-1], r"^501 5\.5\.4 ", bad)
        c.send(b"MAIL FROM:<a@example.org> SMTPUTF8=1\r\n")
        self.assertRegex(c.reply()[-1], r"^501 5\.5\.4 ")
        c.send(b"MAIL FROM:<a@example.org> SMTPUTF8\r\n")
        self.assertEqual(c.code(), 250)
        c.send(b"RCPT TO:<x@bad\xe2\x80\x8bdomain.test>\r\n")  # U+200B: not IDNA2008
        self.assertRegex(c.reply()[-1], r"^501 5\.1\.3 ")
        c.send(b"RCPT TO:<\xc3\xa4\xc3\xb6@example.test>\r\n")  # valid, but nobody
        self.assertRegex(c.reply()[-1], r"^550 5\.1\.1 ")
        c.send("QUIT\r\n")
        self.assertEqual(c.code(), 221)


class RelayTest(QueueTestCase):

    def test_between_two_tegami_instances(self):
        b = self.dest(users=("bob", JOERG))
        a = self.relay(**route(b.ports["smtp"]))
        refused = send_utf8(a, f"{JOERG}@{DOMAIN}", [f"{JOERG_NFD}@{DEST}", f"bob@{DEST}"],
                            utf8_message("relayed " + SUBJECT))
        self.assertEqual(refused, {})
        for user in (JOERG, "bob"):
            got = b.wait_messages(user, 1)
            self.assertEqual(len(got), 1, b.log()[-2000:] + a.log()[-2000:])
            data = got[0][1].decode("utf-8")
            self.assertIn(f"Subject: relayed {SUBJECT}\n", data)
            self.assertTrue(data.startswith(f"Return-Path: <{JOERG}@{DOMAIN}>\n"), data[:80])
            # Both hops were SMTPUTF8 transactions.
            self.assertRegex(data, r"by mx\.dest\.test \(tegami\) with UTF8SMTPS? id ")
            self.assertRegex(data, r"by mail\.example\.test \(tegami\) with UTF8SMTP id ")
        self.wait_queue_empty(a)

    def test_peer_with_smtputf8_gets_the_parameter(self):
        peer = FakeSmtp(ehlo=("PIPELINING", "8BITMIME", "SMTPUTF8"))
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        send_utf8(a, f"{JOERG}@{DOMAIN}", [f"\u3042@{DEST}"], utf8_message())
        tx = wait_for(lambda: peer.transactions, 20)
        self.assertTrue(tx, a.log()[-2000:])
        latin = lambda s: s.encode("utf-8").decode("latin-1")  # noqa: E731 (FakeSmtp decodes so)
        self.assertEqual(tx[0]["mail"],
                         "MAIL FROM:<" + latin(f"{JOERG}@{DOMAIN}") + "> BODY=8BITMIME SMTPUTF8")
        self.assertEqual(tx[0]["rcpts"], [latin(f"\u3042@{DEST}")])
        self.assertIn(f"Subject: {SUBJECT}\r\n".encode(), tx[0]["data"])

    def test_downgrade_when_possible_else_bounce(self):
        # The peer offers 8BITMIME but not SMTPUTF8.
        peer = FakeSmtp(ehlo=("PIPELINING", "8BITMIME", "SIZE 10000000"))
        self.addCleanup(peer.close)
        a = self.relay(**route(peer.port))
        # ASCII headers and sender: bob goes out without SMTPUTF8; the UTF-8
        # local part cannot, and bounces with 5.6.7.
        msg = (f"From: <{ALICE}>\r\nTo: x\r\nSubject: ascii only\r\n"
               f"Message-ID: <down@{DOMAIN}>\r\n\r\nhi\r\n").encode()
        send_utf8(a, ALICE, [f"bob@{DEST}", f"\u3042@{DEST}"], msg)
        tx = wait_for(lambda: peer.transactions, 20)
        self.assertTrue(tx, a.log()[-2000:])
        self.assertEqual(tx[0]["rcpts"], [f"bob@{DEST}"])
        self.assertNotIn("SMTPUTF8", tx[0]["mail"])
        dsn = wait_for(lambda: self.dsns(a), 20)
        self.assertTrue(dsn, a.log()[-2000:])
        # A report about a UTF-8 address is an RFC 6533 global DSN.
        text = dsn[0].decode("utf-8")
        self.assertIn("report-type=global-delivery-status", text)
        self.assertIn("Content-Type: message/global-delivery-status\n", text)
        self.assertIn(f"Final-Recipient: utf-8; \u3042@{DEST}\n", text)
        self.assertEqual(len(re.findall(r"(?m)^Final-Recipient:", text)), 1)
        self.assertIn("Status: 5.6.7\n", text)
        self.assertIn("SMTPUTF8 is required, but was not offered", re.sub(r"\s+", " ", text))
        self.wait_queue_empty(a)

        # UTF-8 headers cannot be downgraded: every recipient bounces, nothing is sent.
        n = len(peer.transactions)
        send_utf8(a, ALICE, [f"carol@{DEST}"], utf8_message("no downgrade " + SUBJECT))
        ok = wait_for(lambda: len(self.dsns(a)) >= 2, 20)
        self.assertTrue(ok, a.log()[-2000:])
        second = [d for d in self.dsns(a) if d != dsn[0]][0]
        _, _, per_rcpt, _ = dsn_parts(second)
        self.assertEqual(per_rcpt[0]["Status"], "5.6.7")
        self.assertEqual(per_rcpt[0]["Final-Recipient"], f"rfc822; carol@{DEST}")
        self.assertEqual(len(peer.transactions), n)
        self.wait_queue_empty(a)


if __name__ == "__main__":
    unittest.main()
