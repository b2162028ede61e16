"""SMTP AUTH SCRAM-SHA-256 (RFC 7677, RFC 5802, RFC 4954) against the real
tegami binary.

A SCRAM client written here (hashlib.pbkdf2_hmac, hmac) and msmtp (GNU SASL)
log in on [submission]; wrong passwords, unknown users and accounts without a
recoverable secret (created without --apop) fail 535 after the proof, with
the same throttle delay; the client checks the server signature itself.

Source addresses: 127.0.0.1 is in [auth] plaintext_networks (PLAIN is offered
too); the tests that fail logins use their own 127.0.3.x address, because
the throttle delay grows per client IP.
"""
import base64
import hashlib
import hmac
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from harness import need_tool, DOMAIN, HOSTNAME, PASSWORD, Raw, Server, own  # noqa: E402

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
NOSECRET = f"nosecret@{DOMAIN}"


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def saslname(name):
    return name.replace("=", "=3D").replace(",", "=2C")


class ScramClient:
    """The client side of RFC 5802 with SHA-256 (RFC 7677)."""

    def __init__(self, user, password, nonce=None):
        self.user = user
        self.password = password
        self.nonce = nonce or b64(secrets.token_bytes(18))
        self.gs2 = "n,,"
        self.first_bare = f"n={saslname(user)},r={self.nonce}"
        self.server_signature = None

    def first(self):
        return self.gs2 + self.first_bare

    def final(self, server_first):
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        r, s, i = attrs["r"], attrs["s"], int(attrs["i"])
        if not r.startswith(self.nonce) or len(r) <= len(self.nonce):
            raise AssertionError(f"server nonce does not extend ours: {server_first}")
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), base64.b64decode(s), i)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        without_proof = f"c={b64(self.gs2)},r={r}"
        auth_message = f"{self.first_bare},{server_first},{without_proof}".encode()
        client_sig = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, client_sig))
        self.server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
        self.salt, self.iterations = s, i
        return f"{without_proof},p={b64(proof)}"

    def verify(self, server_final):
        if not server_final.startswith("v="):
            return False
        return hmac.compare_digest(base64.b64decode(server_final[2:]), self.server_signature)


class Smtp(Raw):
    def __init__(self, port, source=None):
        super().__init__(port, source=source, timeout=30)
        assert self.code() == 220

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def quit(self):
        try:
            self.cmd("QUIT")
        finally:
            self.close()

    def ehlo(self):
        lines = self.cmd("EHLO client.example.org")
        assert lines[-1].startswith("250 "), lines
        return [l[4:] for l in lines[1:]]

    def scram(self, client, initial=True):
        """Runs the exchange. Returns (final reply lines, server-final or None, seconds the
        proof took to answer)."""
        if initial:
            rep = self.cmd(f"AUTH SCRAM-SHA-256 {b64(client.first())}")
        else:
            rep = self.cmd("AUTH SCRAM-SHA-256")
            assert rep == ["334 "], rep
            rep = self.cmd(b64(client.first()))
        if not rep[-1].startswith("334 "):
            return rep, None, 0.0
        server_first = base64.b64decode(rep[-1][4:]).decode()
        started = time.monotonic()
        rep = self.cmd(b64(client.final(server_first)))
        elapsed = time.monotonic() - started
        if not rep[-1].startswith("334 "):
            return rep, None, elapsed
        server_final = base64.b64decode(rep[-1][4:]).decode()
        if not client.verify(server_final):
            # RFC 5802 §5: a client that cannot verify the server aborts.
            return self.cmd("*"), server_final, elapsed
        return self.cmd(""), server_final, elapsed


class ScramTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(extra_config={"auth.scram": "true"}))
        cls.srv.cli("user", "add", NOSECRET, "--password-stdin", stdin=PASSWORD + "\n")
        cls.srv.start()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tegami-scram-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def port(self):
        return self.srv.ports["submission"]

    def send_message(self, c, tag, sender=ALICE, rcpt=BOB):
        self.assertEqual(c.cmd(f"MAIL FROM:<{sender}>")[-1][:3], "250")
        self.assertEqual(c.cmd(f"RCPT TO:<{rcpt}>")[-1][:3], "250")
        self.assertEqual(c.cmd("DATA")[-1][:3], "354")
        body = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {tag}\r\n"
                f"X-Scram-Test: {tag}\r\n\r\nHello.\r\n.\r\n")
        c.send(body)
        self.assertEqual(c.reply()[-1][:3], "250")

    def find_message(self, user, tag, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for _, data in self.srv.messages(user):
                if f"X-Scram-Test: {tag}".encode() in data:
                    return data.decode("utf-8", "replace")
            time.sleep(0.05)
        self.fail(f"message {tag!r} not delivered to {user}:\n" + self.srv.log()[-3000:])

    # (1) the hand-written client logs in and sends
    def test_python_client_logs_in_and_sends(self):
        c = Smtp(self.port())
        ext = c.ehlo()
        self.assertIn("AUTH SCRAM-SHA-256 PLAIN LOGIN", ext)
        client = ScramClient(ALICE, PASSWORD)
        rep, server_final, _ = c.scram(client)
        self.assertEqual(rep[-1][:9], "235 2.7.0", rep)
        # (6) the server signature was right (else scram() would have cancelled).
        self.assertTrue(client.verify(server_final))
        self.assertEqual(c.cmd("AUTH SCRAM-SHA-256")[-1][:9], "503 5.5.1")
        self.send_message(c, "scram python")
        c.quit()
        data = self.find_message("bob", "scram python")
        received = re.search(r"(?ms)^Received: (.*?)\r?\n(?=\S)", data)
        self.assertTrue(received, data[:500])
        self.assertIn("with ESMTPA", received.group(1))

    def test_python_client_without_initial_response_and_same_salt(self):
        salts = []
        for _ in range(2):
            c = Smtp(self.port())
            c.ehlo()
            client = ScramClient(ALICE, PASSWORD)
            rep, _, _ = c.scram(client, initial=False)
            self.assertEqual(rep[-1][:9], "235 2.7.0", rep)
            salts.append((client.salt, client.iterations))
            c.quit()
        # A deterministic salt per account, RFC 7677's minimum iteration count.
        self.assertEqual(salts[0], salts[1])
        self.assertEqual(salts[0][1], 4096)
        self.assertEqual(len(base64.b64decode(salts[0][0])), 16)

    def test_channel_binding_authzid_and_bad_input_refused(self):
        c = Smtp(self.port())
        c.ehlo()
        # "p=" asks for channel binding, which we never advertise (-PLUS).
        rep = c.cmd(f"AUTH SCRAM-SHA-256 {b64('p=tls-unique,,n=' + ALICE + ',r=abc')}")
        self.assertEqual(rep[-1][:9], "535 5.7.8", rep)
        # Someone else's authzid.
        rep = c.cmd(f"AUTH SCRAM-SHA-256 {b64('n,a=' + BOB + ',n=' + ALICE + ',r=abc')}")
        self.assertEqual(rep[-1][:9], "535 5.7.8", rep)
        self.assertEqual(c.cmd("AUTH SCRAM-SHA-256 !!!")[-1][:9], "501 5.5.2")
        self.assertEqual(c.cmd("AUTH SCRAM-SHA-256")[-1], "334 ")
        self.assertEqual(c.cmd("*")[-1][:9], "501 5.7.0")
        c.quit()

    # (2) msmtp (GNU SASL) with SCRAM-SHA-256
    def msmtp(self, tls, tag):
        need_tool("msmtp")
        rc = os.path.join(self.tmp, "msmtprc")
        tls_lines = ("tls on\ntls_starttls on\ntls_certcheck off\n" if tls else "tls off\n")
        with open(rc, "w") as f:
            f.write(f"""account default
host 127.0.0.1
port {self.port()}
domain client.example.org
from {ALICE}
auth scram-sha-256
user {ALICE}
password {PASSWORD}
{tls_lines}""")
        os.chmod(rc, 0o600)
        msg = (f"From: <{ALICE}>\nTo: <{BOB}>\nSubject: {tag}\nX-Scram-Test: {tag}\n\nHello.\n")
        p = subprocess.run(["msmtp", "-v", "-C", rc, "-a", "default", BOB], capture_output=True,
                           text=True, timeout=60, input=msg,
                           env=dict(os.environ, HOME=self.tmp, LC_ALL="C"))
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out + self.srv.log()[-2000:])
        self.assertIn("AUTH SCRAM-SHA-256", out)
        return self.find_message("bob", tag)

    def test_msmtp_scram_plain_connection(self):
        data = self.msmtp(False, "msmtp scram plain")
        self.assertIn("with ESMTPA", data)

    def test_msmtp_scram_starttls(self):
        data = self.msmtp(True, "msmtp scram starttls")
        self.assertIn("with ESMTPSA", data)

    # (3) (4) (5) failures: 535 after the proof, delayed, the same shape
    def failed_login(self, source, user, password):
        c = Smtp(self.port(), source=source)
        c.ehlo()
        client = ScramClient(user, password)
        rep, server_final, elapsed = c.scram(client)
        self.assertIsNone(server_final)  # no server signature for a failed proof
        c.quit()
        return rep, elapsed, client

    def test_wrong_password_is_535_and_delayed(self):
        rep, elapsed, _ = self.failed_login("127.0.3.1", ALICE, "wrong-" + PASSWORD)
        self.assertEqual(rep, ["535 5.7.8 Error: authentication failed"])
        self.assertGreaterEqual(elapsed, 1.5)

    def test_unknown_user_fails_like_a_wrong_password(self):
        rep, elapsed, client = self.failed_login("127.0.3.2", f"nobody@{DOMAIN}", PASSWORD)
        self.assertEqual(rep, ["535 5.7.8 Error: authentication failed"])
        self.assertGreaterEqual(elapsed, 1.5)
        # Its salt looks like a real one and does not change between attempts.
        _, _, again = self.failed_login("127.0.3.2", f"nobody@{DOMAIN}", PASSWORD)
        self.assertEqual(client.salt, again.salt)
        self.assertEqual(len(base64.b64decode(client.salt)), 16)
        self.assertEqual(client.iterations, 4096)

    def test_account_without_sealed_secret_fails(self):
        rep, elapsed, _ = self.failed_login("127.0.3.3", NOSECRET, PASSWORD)
        self.assertEqual(rep, ["535 5.7.8 Error: authentication failed"])
        self.assertGreaterEqual(elapsed, 1.5)
        # The account itself works with PLAIN.
        c = Smtp(self.port())
        c.ehlo()
        token = b64(f"\0{NOSECRET}\0{PASSWORD}")
        self.assertEqual(c.cmd(f"AUTH PLAIN {token}")[-1][:9], "235 2.7.0")
        c.quit()

    # (6) the client notices a wrong server signature (and the server never
    # sends one for a wrong proof: failed_login() checks server_final is None)
    def test_client_checks_server_signature(self):
        client = ScramClient(ALICE, PASSWORD)
        client.final(f"r={client.nonce}xyz,s={b64(b'0123456789abcdef')},i=4096")
        self.assertFalse(client.verify("v=" + b64(b"\0" * 32)))
        self.assertTrue(client.verify("v=" + b64(client.server_signature)))

    def test_cancel_after_server_final_does_not_log_in(self):
        c = Smtp(self.port())
        c.ehlo()
        client = ScramClient(ALICE, PASSWORD)
        rep = c.cmd(f"AUTH SCRAM-SHA-256 {b64(client.first())}")
        server_first = base64.b64decode(rep[-1][4:]).decode()
        rep = c.cmd(b64(client.final(server_first)))
        self.assertTrue(rep[-1].startswith("334 "), rep)
        self.assertTrue(client.verify(base64.b64decode(rep[-1][4:]).decode()))
        self.assertEqual(c.cmd("*")[-1][:9], "501 5.7.0")
        self.assertEqual(c.cmd(f"MAIL FROM:<{ALICE}>")[-1][:9], "530 5.7.0")
        c.quit()



class ScramLockoutTest(unittest.TestCase):
    """Issue 14: a network over [auth] failure_limit gets 421 4.7.0 at
    client-first, before any proof is looked at. An exchange counts from
    client-first to its proof, so exchanges in parallel cannot slip more
    proofs past the limit."""

    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(extra_config={
            "auth.scram": "true",
            "auth.failure_limit": "2",
            "auth.failure_window": '"10m"',
            "auth.failure_delay": '"0s"',
        })).start()

    def submission(self, source):
        c = Smtp(self.srv.ports["submission"], source=source)
        c.ehlo()
        return c

    def test_right_proof_refused_while_locked_out(self):
        source = "127.0.4.1"
        c = self.submission(source)
        rep, _, _ = c.scram(ScramClient(ALICE, "wrong-1"))
        self.assertEqual(rep[-1][:9], "535 5.7.8", rep)
        rep, _, _ = c.scram(ScramClient(ALICE, "wrong-2"))
        self.assertEqual(rep[-1][:9], "421 4.7.0", rep)
        c.close()
        # The right password: refused at client-first (no server-first).
        c = self.submission(source)
        rep, server_final, _ = c.scram(ScramClient(ALICE, PASSWORD))
        self.assertEqual(rep[-1][:9], "421 4.7.0", rep)
        self.assertIsNone(server_final)
        c.close()
        self.assertTrue(self.srv.wait_log(
            r"auth refused ip=127\.0\.4\.1 .*mechanism=SCRAM-SHA-256: too many failures"))
        # Another address logs in.
        c = self.submission("127.0.4.2")
        rep, _, _ = c.scram(ScramClient(ALICE, PASSWORD))
        self.assertEqual(rep[-1][:9], "235 2.7.0", rep)
        c.quit()

    def test_exchange_in_progress_counts(self):
        source = "127.0.4.3"
        # An exchange left waiting after server-first...
        early = self.submission(source)
        early_client = ScramClient(BOB, PASSWORD)
        rep = early.cmd(f"AUTH SCRAM-SHA-256 {b64(early_client.first())}")
        self.assertTrue(rep[-1].startswith("334 "), rep)
        server_first = base64.b64decode(rep[-1][4:]).decode()
        # ...plus one failure reach the limit of 2: the next exchange is refused.
        c = self.submission(source)
        rep, _, _ = c.scram(ScramClient(ALICE, "wrong-1"))
        self.assertEqual(rep[-1][:9], "535 5.7.8", rep)
        rep, _, _ = c.scram(ScramClient(ALICE, PASSWORD))
        self.assertEqual(rep[-1][:9], "421 4.7.0", rep)
        c.close()
        # The waiting exchange was admitted: its right proof is checked and works.
        rep = early.cmd(b64(early_client.final(server_first)))
        self.assertTrue(rep[-1].startswith("334 "), rep)
        self.assertEqual(early.cmd("")[-1][:9], "235 2.7.0")
        early.quit()
        # Done: one failure against alice left, room for one more check.
        c = self.submission(source)
        rep, _, _ = c.scram(ScramClient(ALICE, PASSWORD))
        self.assertEqual(rep[-1][:9], "235 2.7.0", rep)
        c.quit()


class ScramWithoutPlaintextNetworkTest(unittest.TestCase):
    """Outside [auth] plaintext_networks, SCRAM-SHA-256 follows the rule of PLAIN
    and LOGIN (issue 14): nothing is offered before TLS, since a sniffed SCRAM
    exchange can be attacked offline at PBKDF2-4096 speed; inside TLS it works."""

    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(extra_config={"auth.plaintext_networks": "[]",
                                                "auth.scram": "true"}))
        cls.srv.start()

    def test_not_offered_before_tls_then_works_inside(self):
        c = Smtp(self.srv.ports["submission"])
        self.addCleanup(c.close)
        ext = c.ehlo()
        self.assertEqual([e for e in ext if e.upper().startswith("AUTH")], [], ext)
        self.assertIn("STARTTLS", ext)
        for cmd in (f"AUTH SCRAM-SHA-256 {b64(ScramClient(ALICE, PASSWORD).first())}",
                    "AUTH SCRAM-SHA-256", f"AUTH PLAIN {b64(chr(0) + ALICE + chr(0) + PASSWORD)}",
                    "AUTH LOGIN"):
            with self.subTest(cmd=cmd[:18]):
                self.assertEqual(c.cmd(cmd)[-1][:10], "538 5.7.11")
        self.assertEqual(c.cmd(f"MAIL FROM:<{ALICE}>")[-1][:9], "530 5.7.0")
        # Inside TLS, SCRAM (and PLAIN, LOGIN) are offered and work.
        self.assertEqual(c.cmd("STARTTLS")[-1][:3], "220")
        ctx = ssl.create_default_context(cafile=os.path.join(self.srv.dir, "tls", "cert.pem"))
        ctx.check_hostname = False
        c.s = ctx.wrap_socket(c.s, server_hostname=HOSTNAME)
        c.buf = b""
        ext = c.ehlo()
        self.assertEqual([e for e in ext if e.startswith("AUTH")],
                         ["AUTH SCRAM-SHA-256 PLAIN LOGIN"], ext)
        rep, server_final, _ = c.scram(ScramClient(ALICE, PASSWORD))
        self.assertEqual(rep[-1][:9], "235 2.7.0", rep)
        self.assertIsNotNone(server_final)
        self.assertEqual(c.cmd(f"MAIL FROM:<{ALICE}>")[-1][:3], "250")
        c.quit()


if __name__ == "__main__":
    unittest.main()


class ScramOffByDefaultTest(unittest.TestCase):
    """[auth] scram is false by default: clients that see SCRAM-SHA-256 pick it and do
    not fall back, and only accounts with a sealed secret can use it."""

    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server())
        cls.srv.start()

    def test_not_offered_and_refused(self):
        c = Smtp(self.srv.ports["submission"])
        self.addCleanup(c.close)
        auth = [e for e in c.ehlo() if e.upper().startswith("AUTH")]
        self.assertEqual(auth, ["AUTH PLAIN LOGIN"])
        self.assertTrue(c.cmd("AUTH SCRAM-SHA-256")[-1].startswith("504 5.5.4"))
