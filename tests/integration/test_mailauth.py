"""SPF on arrival and Authentication-Results (issue 17), against the real
binary with dnsmasq serving the TXT records on loopback.

Clients are Python's smtplib, from several 127.0.0.0/8 addresses (the SPF
records name some of them). Covered: pass, fail (with the record's own
words in the log), softfail, none, a record that cannot be read
(permerror), a DNS server that is down (temperror), the null sender
(checked as postmaster@HELO), Authentication-Results and Received-SPF on
top of our Received:, forged Authentication-Results claiming our
authserv-id removed (others kept), no check for authenticated submission
or trusted networks, and `[spf] check = false`.
"""
import json
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from harness import BIN, DOMAIN, HOSTNAME, PASSWORD, Server, missing, need_tool, run_cli  # noqa: E402
from test_queue import Dnsmasq  # noqa: E402

ALICE = f"alice@{DOMAIN}"
RECORDS = (
    # (no shell: dnsmasq would keep quotes as part of the text)
    "--txt-record=pass.test,v=spf1 ip4:127.0.0.2 -all",
    "--txt-record=fail.test,v=spf1 ip4:192.0.2.1 -all",
    "--txt-record=soft.test,v=spf1 ~all",
    "--txt-record=broken.test,v=spf1 ip4:not-an-address -all",
    "--txt-record=helo.test,v=spf1 ip4:127.0.0.3 -all",
    # Two strings in one record: concatenated (RFC 7208 section 3.3).
    "--txt-record=split.test,v=spf1 ip4:127.0,.0.2 -all",
    "--txt-record=none.test,google-site-verification=abc",  # TXT, but no SPF record
    # Our own domain: its servers are 127.0.0.5 (and subdomains' bounces).
    f"--txt-record={DOMAIN},v=spf1 ip4:127.0.0.5 -all",
    f"--txt-record=bounce.{DOMAIN},v=spf1 ip4:127.0.0.5 -all",
)


def message(subject, extra=b"", author="someone@example.org"):
    return (b"From: <" + author.encode() + b">\r\nTo: <" + ALICE.encode() + b">\r\n"
            b"Subject: " + subject.encode() + b"\r\n" + extra + b"\r\nbody\r\n")


def send(srv, sender, subject, source="127.0.0.2", helo="client.example.org", extra=b"",
         port="smtp", login=False, author=None):
    if author is None:
        author = ALICE if login else "someone@example.org"
    with smtplib.SMTP("127.0.0.1", srv.ports[port], local_hostname=helo, timeout=60,
                      source_address=(source, 0)) as s:
        s.ehlo(helo)
        if login:
            s.login(ALICE, PASSWORD)
        s.sendmail(sender, [ALICE], message(subject, extra, author))


class SpfTestCase(unittest.TestCase):
    config = {}

    @classmethod
    def setUpClass(cls):
        need_tool("dnsmasq", "dnsmasq-base")
        cls.dns = Dnsmasq(*RECORDS)
        cfg = {"dns.servers": f'["127.0.0.1:{cls.dns.port}"]', "dns.reverse_timeout": '"0s"'}
        cfg.update(cls.config)
        cls.srv = Server(extra_config=cfg, services=("smtp", "submission", "pop3")).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()
        cls.dns.stop()

    def delivered(self, subject):
        for _, data in self.srv.messages("alice"):
            if b"Subject: " + subject.encode() + b"\n" in data:
                return data.decode("utf-8", "replace")
        self.fail(f"{subject!r} not delivered:\n{self.srv.log()}")

    def top_fields(self, data):
        """The header fields above the first Received: (ours), unfolded."""
        head = data.split("\n\n", 1)[0]
        fields = re.split(r"\n(?![ \t])", head)
        out = []
        for f in fields:
            name = f.split(":", 1)[0]
            if name == "Received":
                break
            out.append(re.sub(r"\s*\n[ \t]+", " ", f))
        return out

    def auth_results(self, data):
        return [f for f in self.top_fields(data) if f.startswith("Authentication-Results:")]


class SpfResultsTest(SpfTestCase):

    def check(self, sender, subject, result, source="127.0.0.2", helo="client.example.org"):
        send(self.srv, sender, subject, source=source, helo=helo)
        data = self.delivered(subject)
        top = self.top_fields(data)
        self.assertEqual(top[0], "Return-Path: <%s>" % sender, top)
        ar = self.auth_results(data)
        self.assertEqual(len(ar), 1, top)
        self.assertTrue(ar[0].startswith(f"Authentication-Results: {HOSTNAME}; spf={result}"), ar)
        spf = [f for f in top if f.startswith("Received-SPF:")]
        self.assertEqual(len(spf), 1, top)
        self.assertTrue(spf[0].startswith(f"Received-SPF: {result}"), spf)
        self.assertIn("client-ip=" + source, spf[0])
        return ar[0], spf[0]

    def test_pass(self):
        ar, _ = self.check("user@pass.test", "spf pass", "pass")
        self.assertIn("smtp.mailfrom=user@pass.test", ar)
        self.assertTrue(self.srv.wait_log(r"spf=pass identity=mailfrom domain=pass\.test"))

    def test_fail_from_another_address(self):
        # The same domain from an address its record does not name.
        self.check("user@pass.test", "spf fail other ip", "fail", source="127.0.0.4")
        self.check("user@fail.test", "spf fail", "fail")
        self.assertTrue(self.srv.wait_log(r"spf=fail identity=mailfrom domain=fail\.test "
                                          r"mechanism=-all"))

    def test_softfail_none_permerror(self):
        self.check("user@soft.test", "spf softfail", "softfail")
        self.check("user@none.test", "spf none", "none")
        self.check("user@broken.test", "spf permerror", "permerror")

    def test_strings_concatenated(self):
        self.check("user@split.test", "spf split", "pass")

    def test_null_sender_checks_helo(self):
        # RFC 7208 section 2.4: the MAIL FROM identity is then postmaster@HELO.
        ar, spf = self.check("", "spf null sender", "pass", source="127.0.0.3", helo="helo.test")
        self.assertIn('envelope-from="postmaster@helo.test"', spf)
        self.assertIn("helo=helo.test", spf)


class ForgedAuthResultsTest(SpfTestCase):

    def test_ours_removed_others_kept(self):
        forged = (f"Authentication-Results: {HOSTNAME.upper()};\r\n\tspf=pass "
                  "smtp.mailfrom=ceo@example.test\r\n"
                  "Authentication-Results: mx.other.example; dkim=pass header.d=other.example\r\n")
        send(self.srv, "user@fail.test", "forged ar", extra=forged.encode())
        data = self.delivered("forged ar")
        # Ours, with the real result, is the only one naming our host.
        ours = [line for line in re.split(r"\n(?![ \t])", data.split("\n\n", 1)[0])
                if line.lower().startswith("authentication-results: " + HOSTNAME)]
        self.assertEqual(len(ours), 1, data)
        self.assertIn("spf=fail", ours[0])
        self.assertNotIn("ceo@example.test", data)
        self.assertIn("Authentication-Results: mx.other.example; dkim=pass", data)
        self.assertTrue(self.srv.wait_log(r"removed 1 Authentication-Results claiming our "
                                          r"authserv-id"))


class SpfNotCheckedTest(SpfTestCase):

    def test_authenticated_submission_is_not_checked(self):
        send(self.srv, ALICE, "submitted", port="submission", login=True)
        data = self.delivered("submitted")
        self.assertEqual(self.auth_results(data), [])
        self.assertNotIn("Received-SPF:", data)


class SpfTrustedNetworkTest(SpfTestCase):
    config = {"relay.trusted_networks": '["127.0.0.2/32"]'}

    def test_trusted_network_is_not_checked_nor_stripped(self):
        extra = f"Authentication-Results: {HOSTNAME}; spf=pass smtp.mailfrom=x@pass.test\r\n"
        send(self.srv, "user@fail.test", "trusted", extra=extra.encode())
        data = self.delivered("trusted")
        self.assertNotIn("Received-SPF:", data)
        self.assertIn(extra.rstrip("\r\n"), data)  # our own relay's field is kept


class SpfOffTest(SpfTestCase):
    config = {"spf.check": "false"}

    def test_off(self):
        send(self.srv, "user@fail.test", "spf off")
        data = self.delivered("spf off")
        self.assertEqual(self.auth_results(data), [])
        self.assertNotIn("Received-SPF:", data)


class OwnDomainTest(SpfTestCase):
    """The seed's forged sender, stopped at the door: From: in our domain,
    sent from outside without an aligned SPF pass, is refused (550 5.7.1)."""

    def refused(self, **kw):
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            send(self.srv, **kw)
        self.assertEqual(cm.exception.smtp_code, 550, cm.exception)
        self.assertIn(b"5.7.1", cm.exception.smtp_error)
        self.assertIn(DOMAIN.encode(), cm.exception.smtp_error)

    def test_forged_from_refused(self):
        # An unrelated envelope (SPF pass for pass.test, but not aligned).
        self.refused(sender="user@pass.test", subject="forged 1", author=f"ceo@{DOMAIN}")
        # Our own domain in MAIL FROM: refused already at MAIL (issue 5's
        # rule: a local sender must authenticate).
        with self.assertRaises(smtplib.SMTPSenderRefused):
            send(self.srv, f"ceo@{DOMAIN}", "forged 2", author=f"ceo@{DOMAIN}")
        # Display name games do not help; a second From: mailbox is checked too.
        self.refused(sender="user@pass.test", subject="forged 3",
                     author=f"someone@example.org>, <ceo@{DOMAIN}")
        self.assertTrue(self.srv.wait_log(rf"refused: From: {re.escape(DOMAIN)} is our domain"))
        subjects = [d for _, d in self.srv.messages("alice") if b"Subject: forged" in d]
        self.assertEqual(subjects, [])

    def test_aligned_pass_from_our_servers_accepted(self):
        # A subdomain of ours in MAIL FROM (a bulk sender's bounce domain),
        # from a server its SPF record lists: aligned pass (RFC 7489 3.1.2).
        send(self.srv, f"b@bounce.{DOMAIN}", "ours", source="127.0.0.5", author=f"ceo@{DOMAIN}")
        self.assertIn("spf=pass", self.auth_results(self.delivered("ours"))[0])
        # The same envelope from elsewhere: SPF fails, refused.
        self.refused(sender=f"b@bounce.{DOMAIN}", subject="not ours", source="127.0.0.6",
                     author=f"ceo@{DOMAIN}")

    def test_authenticated_user_may_use_it(self):
        send(self.srv, ALICE, "mine", port="submission", login=True, author=ALICE)
        self.delivered("mine")


class OwnDomainDkimTest(unittest.TestCase):
    """A message of ours signed with our DKIM key and passed on by a mailing
    list or forwarder (another server, SPF not ours) is accepted: its DKIM
    signature aligns with From: (RFC 7489 3.1.1). dkimpy signs it with a key
    `tegami dkim keygen` made; dnsmasq publishes the record."""

    @classmethod
    def setUpClass(cls):
        need_tool("dnsmasq", "dnsmasq-base")
        probe = subprocess.run(["/usr/bin/python3", "-c", "import dkim"], capture_output=True)
        if probe.returncode != 0:
            missing("dkimpy for /usr/bin/python3", "python3-dkim")
        cls.keydir = tempfile.mkdtemp(prefix="tegami-dkimkey-")
        subprocess.run([BIN, "init", cls.keydir, "--domain", DOMAIN], check=True,
                       capture_output=True, timeout=60)
        made = subprocess.run([BIN, "-c", os.path.join(cls.keydir, "tegami.toml"), "dkim",
                               "keygen", DOMAIN, "--selector", "s1"], check=True,
                              capture_output=True, text=True, timeout=60)
        strings = re.findall(r'"([^"]*)"', made.stdout.strip().splitlines()[-1])
        cls.pem = os.path.join(cls.keydir, "data", "dkim", DOMAIN, "s1.rsa.pem")
        cls.dns = Dnsmasq(*RECORDS, f"--txt-record=s1._domainkey.{DOMAIN}," + ",".join(strings))
        cls.srv = Server(extra_config={"dns.servers": f'["127.0.0.1:{cls.dns.port}"]',
                                       "dns.reverse_timeout": '"0s"'}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()
        cls.dns.stop()
        shutil.rmtree(cls.keydir, ignore_errors=True)

    def signed(self, subject):
        msg = message(subject, author=f"ceo@{DOMAIN}")
        script = ("import sys, dkim\n"
                  "msg = sys.stdin.buffer.read()\n"
                  "key = open(sys.argv[1], 'rb').read()\n"
                  "sig = dkim.sign(msg, b's1', sys.argv[2].encode(), key,\n"
                  "                include_headers=[b'from', b'to', b'subject'])\n"
                  "sys.stdout.buffer.write(sig + msg)\n")
        out = subprocess.run(["/usr/bin/python3", "-c", script, self.pem, DOMAIN], input=msg,
                             capture_output=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def send_raw(self, raw, sender="list-bounces@fail.test"):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], local_hostname="list.example",
                          timeout=60, source_address=("127.0.0.2", 0)) as s:
            s.ehlo("list.example")
            s.sendmail(sender, [ALICE], raw)

    def test_signed_by_us_passes_tampered_refused(self):
        self.send_raw(self.signed("forwarded signed"))
        self.assertTrue(self.srv.wait_log(rf"dkim=pass d={re.escape(DOMAIN)} s=s1"), self.srv.log())
        self.assertTrue(any(b"Subject: forwarded signed" in d for _, d in self.srv.messages("alice")))
        # Changed on the way: the signature fails, and the message is ours
        # without proof: refused.
        bad = self.signed("forwarded tampered").replace(b"\r\nbody\r\n", b"\r\nBODY\r\n")
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            self.send_raw(bad)
        self.assertEqual(cm.exception.smtp_code, 550)
        self.assertTrue(self.srv.wait_log(r"dkim=fail"), self.srv.log())


class OwnDomainReportTest(SpfTestCase):
    config = {"dmarc.own_domains": '"report"'}

    def test_report_only(self):
        send(self.srv, "user@pass.test", "reported", author=f"ceo@{DOMAIN}")
        self.delivered("reported")
        self.assertTrue(self.srv.wait_log(rf"report: From: {re.escape(DOMAIN)} is our domain"))


class SpfInTraceTest(SpfTestCase):
    """tegami trace reads our own Authentication-Results (issue 17)."""

    def test_trace_shows_spf(self):
        send(self.srv, "user@pass.test", "traced")
        name = next(n for n, d in self.srv.messages("alice") if b"Subject: traced" in d)
        path = os.path.join(self.srv.maildir("alice"), "new", name)
        out = run_cli(self.srv.conf, "trace", "--format", "json", "--offline", path)
        report = json.loads(out.stdout)
        self.assertEqual(report["auth"]["spf"], "pass", out.stdout)


class SpfOffTraceOnlineTest(SpfTestCase):
    """Without --offline, tegami trace checks the origin's SPF itself when no
    trusted Authentication-Results says (issue 17), through [dns] servers."""
    config = {"spf.check": "false"}

    def test_trace_checks_spf_now(self):
        send(self.srv, "user@pass.test", "trace online")
        send(self.srv, "user@pass.test", "trace online fail", source="127.0.0.4")
        for subject, want in (("trace online", "pass"), ("trace online fail", "fail")):
            name = next(n for n, d in self.srv.messages("alice")
                        if b"Subject: " + subject.encode() + b"\n" in d)
            path = os.path.join(self.srv.maildir("alice"), "new", name)
            report = json.loads(run_cli(self.srv.conf, "trace", "--format", "json", path).stdout)
            self.assertEqual(report["auth"]["spf"], want, report)
            self.assertTrue(any("SPF checked now" in n for n in report["notes"]), report["notes"])
            offline = json.loads(run_cli(self.srv.conf, "trace", "--format", "json", "--offline",
                                         path).stdout)
            self.assertEqual(offline["auth"]["spf"], "not_checked")


class SpfDnsDownTest(unittest.TestCase):
    """The harness's DNS is a closed port: every lookup fails at once."""

    def test_temperror(self):
        srv = Server(extra_config={"dns.reverse_timeout": '"0s"'}).start()
        self.addCleanup(srv.cleanup)
        send(srv, "user@pass.test", "dns down")
        data = next(d.decode() for _, d in srv.messages("alice") if b"dns down" in d)
        self.assertRegex(data, rf"Authentication-Results: {re.escape(HOSTNAME)};\s+spf=temperror")


if __name__ == "__main__":
    unittest.main()
