"""TLS everywhere (issue 5) against the real tegami binary, with real clients.

STARTTLS on [smtp] and [submission], implicit TLS on [submissions] and
[pop3s], STLS on [pop3]; openssl s_client, swaks, smtplib, poplib, mpop and
fetchmail with the server's own certificate (written by `tegami init`) as the
trust anchor. The servers here run with `[auth] plaintext_networks = []`, so
loopback clients get no clear-text password mechanism before TLS.
"""
import base64
import hashlib
import os
import poplib
import queue
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from harness import need_perl_module, need_tool, DOMAIN, HOSTNAME, PASSWORD, Raw, Server

SERVICES = ("smtp", "submission", "submissions", "pop3", "pop3s")
NO_PLAINTEXT = {"auth.plaintext_networks": "[]"}


def addr(user):
    return f"{user}@{DOMAIN}"


def cert_path(srv):
    return os.path.join(srv.dir, "tls", "cert.pem")


def pem_fingerprint(path):
    with open(path) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def client_context(srv):
    """Trusts exactly the server's certificate; TLS 1.2 or later.

    The clients connect to 127.0.0.1 while the certificate names HOSTNAME, so
    the Python clients check the chain but not the name (s_client, mpop and
    fetchmail below check the name too)."""
    ctx = ssl.create_default_context(cafile=cert_path(srv))
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def peer_fingerprint(sock):
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


def message(subject, rcpt, sender="sender@example.org"):
    return (f"From: Sender <{sender}>\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@client.example.org>\r\n"
            "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n\r\nHello over TLS.\r\n").encode()


def received_of(data):
    """The first (top) Received: field, unfolded."""
    m = re.search(rb"(?ms)^Received: (.*?)\r?\n(?=\S)", data)
    assert m, data[:500]
    return re.sub(rb"\r?\n[ \t]+", b" ", m.group(1)).decode()


def new_pair(directory, name="renewed"):
    """A fresh self-signed certificate for HOSTNAME, written with openssl req."""
    cert = os.path.join(directory, f"{name}-cert.pem")
    key = os.path.join(directory, f"{name}-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-subj", f"/CN={HOSTNAME}", "-addext", f"subjectAltName=DNS:{HOSTNAME}",
                    "-days", "2"], check=True, capture_output=True, timeout=60)
    return cert, key


class SClient:
    """openssl s_client as an interactive client: send a line, read replies.

    -nocommands: lines starting with Q or R are data, not s_client commands;
    -crlf: LF becomes CRLF; -brief: protocol, cipher and verification go to
    stderr; -verify_return_error + -verify_hostname: a wrong certificate
    aborts the handshake."""

    def __init__(self, srv, port, starttls=None, extra=()):
        cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief",
               "-nocommands", "-crlf", "-CAfile", cert_path(srv), "-verify_return_error",
               "-verify_hostname", HOSTNAME, "-servername", HOSTNAME, *extra]
        if starttls:
            cmd += ["-starttls", starttls]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        self.err = []
        self.threads = [threading.Thread(target=self._pump, args=(self.p.stdout, self.lines),
                                         daemon=True),
                        threading.Thread(target=self._collect, daemon=True)]
        for t in self.threads:
            t.start()

    @staticmethod
    def _pump(stream, q):
        for raw in stream:
            q.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        q.put(None)

    def _collect(self):
        for raw in self.p.stderr:
            self.err.append(raw.decode("utf-8", "replace"))

    def line(self, timeout=15):
        l = self.lines.get(timeout=timeout)
        if l is None:
            raise EOFError("s_client ended: " + "".join(self.err))
        return l

    def smtp_reply(self):
        lines = [self.line()]
        while len(lines[-1]) >= 4 and lines[-1][3] == "-":
            lines.append(self.line())
        return lines

    def send(self, text):
        self.p.stdin.write(text.encode() + b"\n")
        self.p.stdin.flush()

    def finish(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        for t in self.threads:
            t.join(5)
        self.p.stdout.close()
        self.p.stderr.close()
        return "".join(self.err)


class TlsServerCase(unittest.TestCase):
    extra = NO_PLAINTEXT

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=("alice", "bob", "carol", "dave", "erin"), extra_config=cls.extra,
                         services=SERVICES).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.cleanup()

    def wait_new(self, user, n=1):
        msgs = self.srv.wait_messages(user, n)
        self.assertGreaterEqual(len(msgs), n, f"{user}: no mail\n" + self.srv.log()[-3000:])
        return msgs

    def clear(self, user):
        for sub in ("new", "cur"):
            d = os.path.join(self.srv.maildir(user), sub)
            if os.path.isdir(d):
                for name in os.listdir(d):
                    os.unlink(os.path.join(d, name))

    def assert_tls_received(self, data, protocol="ESMTPS"):
        rec = received_of(data)
        self.assertIn(f"with {protocol} ", rec + " ", rec)
        self.assertRegex(rec, r"\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)")


class OpenSslClientTest(TlsServerCase):
    """openssl s_client: -starttls smtp / pop3 and plain s_client to the
    implicit-TLS ports, each with a whole transaction."""

    def smtp_transaction(self, c, user, subject, greeting, auth=False):
        if greeting:
            self.assertEqual(c.smtp_reply()[-1][:3], "220")
        c.send("EHLO client.example.org")
        ehlo = c.smtp_reply()
        self.assertTrue(ehlo[-1].startswith("250 "), ehlo)
        self.assertNotIn("STARTTLS", " ".join(ehlo), "STARTTLS offered inside TLS")
        sender = "sender@example.org"
        if auth:
            # Submission needs SMTP AUTH (issue 7); the sender is then the user.
            self.assertIn("AUTH PLAIN LOGIN", " ".join(ehlo))
            token = base64.b64encode(f"\0{addr(user)}\0{PASSWORD}".encode()).decode()
            c.send(f"AUTH PLAIN {token}")
            self.assertEqual(c.smtp_reply()[-1][:9], "235 2.7.0")
            sender = addr(user)
        for cmd, code in ((f"MAIL FROM:<{sender}>", "250"),
                          (f"RCPT TO:<{addr(user)}>", "250"), ("DATA", "354")):
            c.send(cmd)
            self.assertEqual(c.smtp_reply()[-1][:3], code, cmd)
        for l in message(subject, addr(user), sender).decode().split("\r\n")[:-1]:
            c.send(l)
        c.send(".")
        done = c.smtp_reply()
        self.assertRegex(done[-1], r"^250 2\.0\.0 Ok: queued as [0-9A-F]+$")
        c.send("QUIT")
        self.assertEqual(c.smtp_reply()[-1][:3], "221")
        err = c.finish()
        self.assertIn("Verification: OK", err)
        self.assertRegex(err, r"Protocol version: TLSv1\.3")
        mine = [data for _, data in self.wait_new(user) if subject.encode() in data]
        self.assertEqual(len(mine), 1, subject)
        self.assert_tls_received(mine[0], "ESMTPSA" if auth else "ESMTPS")

    def test_starttls_smtp(self):
        for service in ("smtp", "submission"):
            with self.subTest(service=service):
                # openssl s_client -connect H:P -starttls smtp -CAfile CERT -verify_hostname H ...
                c = SClient(self.srv, self.srv.ports[service], starttls="smtp")
                # s_client consumed the greeting, its EHLO and the 220 to STARTTLS.
                self.smtp_transaction(c, "alice", f"s_client starttls {service}", greeting=False,
                                      auth=service == "submission")
        self.assertTrue(self.srv.wait_log(r"smtp S\d+ ip=127\.0\.0\.1 tls=TLSv1\.3 cipher="))

    def test_submissions_implicit_tls(self):
        # openssl s_client -connect H:SUBMISSIONS -CAfile CERT -verify_hostname H ...
        c = SClient(self.srv, self.srv.ports["submissions"])
        self.smtp_transaction(c, "bob", "s_client submissions", greeting=True, auth=True)
        self.assertTrue(self.srv.wait_log(r"listener=submissions tls=TLSv1\.3"))

    def pop3_transaction(self, c, user, greeting):
        if greeting:
            self.assertTrue(c.line().startswith("+OK"))
        c.send(f"USER {addr(user)}")
        self.assertTrue(c.line().startswith("+OK"))
        c.send(f"PASS {PASSWORD}")
        self.assertTrue(c.line().startswith("+OK"), "clear-text login inside TLS")
        c.send("STAT")
        stat = c.line()
        self.assertRegex(stat, r"^\+OK 1 \d+$")
        c.send("RETR 1")
        self.assertTrue(c.line().startswith("+OK"))
        body = []
        while True:
            l = c.line()
            if l == ".":
                break
            body.append(l)
        self.assertIn("Subject: pop3 over tls", body)
        c.send("DELE 1")
        self.assertTrue(c.line().startswith("+OK"))
        c.send("QUIT")
        self.assertTrue(c.line().startswith("+OK"))
        err = c.finish()
        self.assertIn("Verification: OK", err)
        self.assertEqual(len(self.srv.messages(user, "new")) + len(self.srv.messages(user, "cur")),
                         0, "QUIT did not commit")

    def put_one(self, user):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.sendmail("sender@example.org", [addr(user)], message("pop3 over tls", addr(user)))
        self.wait_new(user)

    def test_starttls_pop3(self):
        self.put_one("carol")
        # openssl s_client -connect H:POP3 -starttls pop3 -CAfile CERT -verify_hostname H ...
        c = SClient(self.srv, self.srv.ports["pop3"], starttls="pop3")
        self.pop3_transaction(c, "carol", greeting=False)

    def test_pop3s_implicit_tls(self):
        self.put_one("dave")
        # openssl s_client -connect H:POP3S -CAfile CERT -verify_hostname H ...
        c = SClient(self.srv, self.srv.ports["pop3s"])
        self.pop3_transaction(c, "dave", greeting=True)

    def test_every_port_serves_the_init_certificate(self):
        want = pem_fingerprint(cert_path(self.srv))
        ctx = client_context(self.srv)
        for service in ("submissions", "pop3s"):
            with socket.create_connection(("127.0.0.1", self.srv.ports[service]), 10) as raw:
                with ctx.wrap_socket(raw, server_hostname=HOSTNAME) as s:
                    self.assertEqual(peer_fingerprint(s), want, service)
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.starttls(context=ctx)
            self.assertEqual(peer_fingerprint(s.sock), want)
        p = poplib.POP3("127.0.0.1", self.srv.ports["pop3"], timeout=30)
        p.stls(context=ctx)
        self.assertEqual(peer_fingerprint(p.sock), want)
        p.quit()

    def test_tls11_and_weak_ciphers_are_refused(self):
        # openssl s_client -tls1_1 -cipher DEFAULT@SECLEVEL=0 ...: the server's floor is TLS 1.2
        c = SClient(self.srv, self.srv.ports["submissions"],
                    extra=("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"))
        with self.assertRaises((EOFError, queue.Empty)):
            c.line(timeout=10)
        c.finish()
        self.assertNotEqual(c.p.returncode, 0)
        # TLS 1.2 with a CBC/SHA-1 suite only: no shared cipher.
        c = SClient(self.srv, self.srv.ports["pop3s"],
                    extra=("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"))
        with self.assertRaises((EOFError, queue.Empty)):
            c.line(timeout=10)
        c.finish()
        self.assertTrue(self.srv.wait_log(r"tls handshake failed: .*(unsupported protocol|"
                                          r"version)"), self.srv.log()[-2000:])
        # TLS 1.2 with a modern suite works.
        ctx = client_context(self.srv)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", self.srv.ports["submissions"]), 10) as raw:
            with ctx.wrap_socket(raw, server_hostname=HOSTNAME) as s:
                self.assertEqual(s.version(), "TLSv1.2")
                self.assertRegex(s.cipher()[0], r"^ECDHE-ECDSA-(AES\d+-GCM|CHACHA20)")

    def test_session_resumption(self):
        ctx = client_context(self.srv)
        sessions = []
        for i in range(2):
            with socket.create_connection(("127.0.0.1", self.srv.ports["submissions"]), 10) as raw:
                with ctx.wrap_socket(raw, server_hostname=HOSTNAME,
                                     session=sessions[-1] if sessions else None) as s:
                    f = s.makefile("rb")
                    self.assertTrue(f.readline().startswith(b"220"))  # reads the tickets too
                    s.sendall(b"QUIT\r\n")
                    f.readline()
                    sessions.append(s.session)
                    if i == 1:
                        self.assertTrue(s.session_reused, "TLS session not resumed")
        self.assertTrue(self.srv.wait_log(r"tls=TLSv1\.3 cipher=\S+ resumed"))


class SwaksTest(TlsServerCase):
    @classmethod
    def setUpClass(cls):
        need_tool("swaks")
        need_perl_module("Net::SSLeay", "libnet-ssleay-perl")
        need_perl_module("IO::Socket::SSL", "libio-socket-ssl-perl")
        super().setUpClass()

    def swaks(self, *args):
        cmd = ["swaks", "--server", "127.0.0.1", "--from", "sender@example.org",
               "--helo", "client.example.org", "--tls-verify", "--tls-ca-path",
               cert_path(self.srv), "--tls-sni", HOSTNAME, *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, f"{cmd}\n{p.stdout}\n{p.stderr}")
        return p.stdout

    def test_swaks_starttls(self):
        # swaks --tls --tls-verify --tls-ca-path CERT --port SMTP --to alice@...
        out = self.swaks("--tls", "--port", str(self.srv.ports["smtp"]), "--to", addr("alice"),
                         "--header", "Subject: swaks starttls")
        self.assertIn("STARTTLS", out)
        self.assertRegex(out, r"TLS started with cipher TLSv1\.3:")
        self.assertIn("220 2.0.0 Ready to start TLS", out)
        msgs = self.wait_new("alice")
        self.assert_tls_received([m for m in msgs if b"swaks starttls" in m[1]][0][1])

    def test_swaks_tls_on_connect(self):
        # swaks --tlsc --tls-verify --tls-ca-path CERT --port SUBMISSIONS --to bob@...
        out = self.swaks("--tlsc", "--port", str(self.srv.ports["submissions"]), "--to",
                         addr("bob"), "--header", "Subject: swaks tlsc", "--from", addr("bob"),
                         "--auth", "PLAIN", "--auth-user", addr("bob"), "--auth-password",
                         PASSWORD)
        self.assertRegex(out, r"TLS started with cipher TLSv1\.3:")
        self.assertIn("235 2.7.0", out)
        msgs = self.wait_new("bob")
        self.assert_tls_received([m for m in msgs if b"swaks tlsc" in m[1]][0][1], "ESMTPSA")


class PythonClientsTest(TlsServerCase):
    def test_smtplib_starttls(self):
        ctx = client_context(self.srv)
        for service in ("smtp", "submission"):
            with self.subTest(service=service):
                with smtplib.SMTP("127.0.0.1", self.srv.ports[service], timeout=30) as s:
                    s.ehlo("client.example.org")
                    self.assertTrue(s.has_extn("starttls"))
                    code, text = s.starttls(context=ctx)
                    self.assertEqual((code, text), (220, b"2.0.0 Ready to start TLS"))
                    s.ehlo("client.example.org")  # RFC 3207 4.2: EHLO again
                    self.assertFalse(s.has_extn("starttls"), "STARTTLS offered inside TLS")
                    # A second STARTTLS is refused.
                    self.assertEqual(s.docmd("STARTTLS")[0], 554)
                    sender = "sender@example.org"
                    if service == "submission":
                        s.login(addr("carol"), PASSWORD)  # submission needs AUTH
                        sender = addr("carol")
                    s.sendmail(sender, [addr("carol")],
                               message(f"smtplib starttls {service}", addr("carol"), sender))
        msgs = [d for _, d in self.wait_new("carol", 2) if b"smtplib starttls" in d]
        self.assertEqual(len(msgs), 2)
        for m in msgs:
            self.assert_tls_received(m, "ESMTPSA" if b"starttls submission" in m else "ESMTPS")

    def test_smtplib_ssl(self):
        ctx = client_context(self.srv)
        with smtplib.SMTP_SSL("127.0.0.1", self.srv.ports["submissions"], timeout=30,
                              context=ctx) as s:
            s.ehlo("client.example.org")
            self.assertFalse(s.has_extn("starttls"))
            self.assertEqual(s.docmd("STARTTLS")[0], 554)
            s.login(addr("dave"), PASSWORD)
            s.sendmail(addr("dave"), [addr("dave")],
                       message("smtplib ssl", addr("dave"), addr("dave")))
        msgs = self.wait_new("dave")
        self.assert_tls_received([m for m in msgs if b"smtplib ssl" in m[1]][0][1], "ESMTPSA")

    def test_helo_over_tls_is_recorded_as_smtp_with_tls_comment(self):
        ctx = client_context(self.srv)
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example.org")
            s.starttls(context=ctx)
            s.helo("client.example.org")  # HELO inside TLS: "with SMTP" + the TLS comment
            s.sendmail("sender@example.org", [addr("erin")], message("helo over tls", addr("erin")))
        msgs = self.wait_new("erin")
        self.assert_tls_received([m for m in msgs if b"helo over tls" in m[1]][0][1], "SMTP")

    def deliver(self, user, subject):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.sendmail("sender@example.org", [addr(user)], message(subject, addr(user)))

    def test_poplib_stls(self):
        self.deliver("alice", "poplib stls")
        ctx = client_context(self.srv)
        p = poplib.POP3("127.0.0.1", self.srv.ports["pop3"], timeout=30)
        self.assertIn("STLS", p.capa())
        p.stls(context=ctx)
        caps = p.capa()
        self.assertNotIn("STLS", caps)
        self.assertIn("USER", caps)
        p.user(addr("alice"))
        p.pass_(PASSWORD)
        count, _ = p.stat()
        self.assertGreaterEqual(count, 1)
        p.quit()

    def test_poplib_ssl(self):
        ctx = client_context(self.srv)
        p = poplib.POP3_SSL("127.0.0.1", self.srv.ports["pop3s"], timeout=30, context=ctx)
        caps = p.capa()
        self.assertNotIn("STLS", caps)
        self.assertIn("USER", caps)
        self.assertIn("PLAIN", caps.get("SASL", []))
        p.user(addr("bob"))
        p.pass_(PASSWORD)
        p.stat()
        p.quit()


class PlaintextPolicyTest(TlsServerCase):
    """[auth] plaintext_networks = []: no USER or PLAIN before TLS."""

    def test_capa_and_attempts_before_tls(self):
        p = poplib.POP3("127.0.0.1", self.srv.ports["pop3"], timeout=30)
        caps = p.capa()
        self.assertNotIn("USER", caps)
        self.assertNotIn("PLAIN", caps.get("SASL", []))
        self.assertIn("STLS", caps)
        with self.assertRaises(poplib.error_proto) as e:
            p.user(addr("alice"))
        self.assertRegex(str(e.exception), r"-ERR \[AUTH\] .*TLS")
        with self.assertRaises(poplib.error_proto) as e:
            p._shortcmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQtUGFzc3cwcmQ=")
        self.assertRegex(str(e.exception), r"-ERR \[AUTH\] .*TLS")
        p.close()

    def test_user_and_plain_work_after_stls(self):
        ctx = client_context(self.srv)
        p = poplib.POP3("127.0.0.1", self.srv.ports["pop3"], timeout=30)
        p.stls(context=ctx)
        caps = p.capa()
        self.assertIn("USER", caps)
        self.assertIn("PLAIN", caps.get("SASL", []))
        p.user(addr("carol"))
        p.pass_(PASSWORD)
        p.quit()
        p = poplib.POP3("127.0.0.1", self.srv.ports["pop3"], timeout=30)
        p.stls(context=ctx)
        token = base64.b64encode(f"\0{addr('dave')}\0{PASSWORD}".encode()).decode()
        self.assertTrue(p._shortcmd("AUTH PLAIN " + token).startswith(b"+OK"))
        p.quit()

    def test_apop_works_without_tls(self):
        p = poplib.POP3("127.0.0.1", self.srv.ports["pop3"], timeout=30)
        self.assertTrue(p.apop(addr("erin"), PASSWORD).startswith(b"+OK"))
        p.quit()


class PipelinedInjectionTest(TlsServerCase):
    """CVE-2011-0411: clear text pipelined behind STARTTLS/STLS in the same
    packet is never executed inside TLS."""

    def test_smtp_command_behind_starttls(self):
        ctx = client_context(self.srv)
        r = Raw(self.srv.ports["smtp"])
        self.assertEqual(r.code(), 220)
        r.send("EHLO client.example.org\r\n")
        self.assertEqual(r.code(), 250)
        r.send("STARTTLS\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<alice@example.test>\r\n")
        self.assertEqual(r.reply(), ["220 2.0.0 Ready to start TLS"])
        self.assertEqual(r.buf, b"")
        s = ctx.wrap_socket(r.s, server_hostname=HOSTNAME)
        f = s.makefile("rb")

        def reply():
            lines = [f.readline().decode().rstrip("\r\n")]
            while lines[-1][3:4] == "-":
                lines.append(f.readline().decode().rstrip("\r\n"))
            return lines

        # The first thing inside TLS is the answer to our EHLO, not to the
        # injected MAIL/RCPT; and there is no transaction open.
        s.sendall(b"EHLO client.example.org\r\n")
        self.assertTrue(reply()[-1].startswith("250 "))
        s.sendall(b"RCPT TO:<alice@example.test>\r\n")
        self.assertEqual(reply(), ["503 5.5.1 Error: need MAIL command"])
        s.sendall(b"QUIT\r\n")
        self.assertTrue(reply()[0].startswith("221"))
        s.close()
        self.assertTrue(self.srv.wait_log(r"discarded \d+ octets pipelined after STARTTLS"))
        self.assertFalse(re.search(r"from=<evil@example\.net>", self.srv.log()))

    def test_pop3_command_behind_stls(self):
        ctx = client_context(self.srv)
        r = Raw(self.srv.ports["pop3"])
        self.assertTrue(r.line().startswith("+OK"))
        r.send(f"STLS\r\nUSER {addr('alice')}\r\n")
        self.assertEqual(r.line(), "+OK begin TLS negotiation")
        s = ctx.wrap_socket(r.s, server_hostname=HOSTNAME)
        f = s.makefile("rb")
        # Had USER run, PASS would log in.
        s.sendall(f"PASS {PASSWORD}\r\n".encode())
        self.assertTrue(f.readline().startswith(b"-ERR"))
        s.sendall(b"QUIT\r\n")
        self.assertTrue(f.readline().startswith(b"+OK"))
        s.close()
        self.assertTrue(self.srv.wait_log(r"discarded \d+ octets pipelined after STLS"))

    def test_clear_text_on_implicit_ports_fails_the_handshake(self):
        for service, text in (("submissions", b"EHLO x\r\n"), ("pop3s", b"USER x\r\n")):
            r = Raw(self.srv.ports[service])
            r.send(text)
            self.assertTrue(r.closed(10), service)
            r.close()
        self.assertTrue(self.srv.wait_log(r"tls handshake failed"))
        # The server is fine afterwards.
        with smtplib.SMTP_SSL("127.0.0.1", self.srv.ports["submissions"], timeout=30,
                              context=client_context(self.srv)) as s:
            self.assertEqual(s.noop()[0], 250)


class RealPop3ClientsTest(TlsServerCase):
    """mpop and fetchmail over STLS and pop3s, USER/PASS (clear-text
    passwords: only allowed because of TLS here), the server's certificate
    as trust anchor and its name checked."""

    @classmethod
    def setUpClass(cls):
        for tool in ("mpop", "fetchmail"):
            need_tool(tool)
        super().setUpClass()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tegami-tls-clients-")
        self.env = dict(os.environ, HOME=self.tmp, LC_ALL="C")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def deliver(self, user, n, tag):
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            for i in range(n):
                s.sendmail("sender@example.org", [addr(user)], message(f"{tag} {i + 1}", addr(user)))
        self.wait_new(user, n)

    def count(self, user):
        return len(self.srv.messages(user, "new")) + len(self.srv.messages(user, "cur"))

    def run_tool(self, cmd):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=self.env,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, f"{cmd}\nexit {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def mpop(self, user, starttls):
        mbox = os.path.join(self.tmp, "mbox")
        rc = os.path.join(self.tmp, "mpoprc")
        port = self.srv.ports["pop3" if starttls else "pop3s"]
        with open(rc, "w") as f:
            f.write(f"""defaults
account default
host 127.0.0.1
port {port}
user {addr(user)}
password {PASSWORD}
auth user
tls on
tls_starttls {'on' if starttls else 'off'}
tls_trust_file {cert_path(self.srv)}
tls_host_override {HOSTNAME}
delivery mbox {mbox}
keep off
uidls_file {os.path.join(self.tmp, 'uidls')}
""")
        os.chmod(rc, 0o600)
        # mpop -C RC -q default  (tls on, tls_starttls on|off, tls_trust_file CERT,
        #                         tls_host_override HOSTNAME, auth user)
        self.run_tool(["mpop", "-C", rc, "-q", "default"])
        with open(mbox, "rb") as f:
            return f.read()

    def test_mpop_stls(self):
        self.deliver("alice", 2, "mpop stls")
        text = self.mpop("alice", starttls=True)
        self.assertEqual(len(re.findall(rb"(?m)^Subject: mpop stls \d", text)), 2)
        self.assertEqual(self.count("alice"), 0)

    def test_mpop_pop3s(self):
        self.deliver("bob", 2, "mpop pop3s")
        text = self.mpop("bob", starttls=False)
        self.assertEqual(len(re.findall(rb"(?m)^Subject: mpop pop3s \d", text)), 2)
        self.assertEqual(self.count("bob"), 0)

    def fetchmail(self, user, port, *extra):
        rc = os.path.join(self.tmp, "fetchmailrc")
        out = os.path.join(self.tmp, "out")
        with open(rc, "w") as f:
            f.write(f'poll 127.0.0.1 service {port} protocol POP3 auth password\n'
                    f'  user "{addr(user)}" there with password "{PASSWORD}" is "nobody" here\n')
        os.chmod(rc, 0o600)
        # fetchmail --nodetach -f RC --sslcertck --sslcertfile CERT --sslcommonname HOSTNAME
        #           --sslproto tls1.2+ [--ssl] --mda "cat >> OUT"
        self.run_tool(["fetchmail", "--nodetach", "-f", rc, "--sslcertck", "--sslcertfile",
                       cert_path(self.srv), "--sslcommonname", HOSTNAME, "--sslproto", "tls1.2+",
                       "--idfile", os.path.join(self.tmp, "fetchids"),
                       "--pidfile", os.path.join(self.tmp, "fetchmail.pid"),
                       "--mda", f"cat >> {out}", *extra])
        with open(out, "rb") as f:
            return f.read()

    def test_fetchmail_stls(self):
        self.deliver("carol", 2, "fetchmail stls")
        text = self.fetchmail("carol", self.srv.ports["pop3"])
        self.assertEqual(len(re.findall(rb"Subject: fetchmail stls \d", text)), 2)
        self.assertEqual(self.count("carol"), 0)
        self.assertTrue(self.srv.wait_log(r"pop3 P\d+ ip=127\.0\.0\.1 tls=TLSv1\.3"))

    def test_fetchmail_pop3s(self):
        self.deliver("dave", 2, "fetchmail pop3s")
        text = self.fetchmail("dave", self.srv.ports["pop3s"], "--ssl")
        self.assertEqual(len(re.findall(rb"Subject: fetchmail pop3s \d", text)), 2)
        self.assertEqual(self.count("dave"), 0)


class ReloadTest(unittest.TestCase):
    """SIGHUP with a new certificate on disk: new connections get it, open
    sessions survive with the old one; a broken pair changes nothing."""

    def setUp(self):
        self.srv = Server(users=("alice",), extra_config=NO_PLAINTEXT, services=SERVICES).start()
        self.tmp = tempfile.mkdtemp(prefix="tegami-tls-reload-")

    def tearDown(self):
        self.srv.stop()
        self.srv.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def trusting(self, *certs):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        for c in certs:
            ctx.load_verify_locations(cafile=c)
        return ctx

    def fingerprint_now(self, ctx, service="submissions"):
        with socket.create_connection(("127.0.0.1", self.srv.ports[service]), 10) as raw:
            with ctx.wrap_socket(raw, server_hostname=HOSTNAME) as s:
                return peer_fingerprint(s)

    def test_sighup_new_certificate(self):
        old_cert = os.path.join(self.tmp, "old.pem")
        shutil.copy(cert_path(self.srv), old_cert)
        cert, key = new_pair(self.tmp)
        ctx = self.trusting(old_cert, cert)
        old_fp, new_fp = pem_fingerprint(old_cert), pem_fingerprint(cert)
        self.assertEqual(self.fingerprint_now(ctx), old_fp)

        # Sessions open across the reload: SMTP after STARTTLS, and pop3s.
        smtp = smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30)
        smtp.starttls(context=ctx)
        pop = poplib.POP3_SSL("127.0.0.1", self.srv.ports["pop3s"], timeout=30, context=ctx)
        self.assertEqual(peer_fingerprint(smtp.sock), old_fp)

        # Install the renewed pair (key first is the usual ACME order; the
        # reload reads both after the signal) and reload.
        tls_dir = os.path.join(self.srv.dir, "tls")
        shutil.copy(key, os.path.join(tls_dir, "key.pem.new"))
        shutil.copy(cert, os.path.join(tls_dir, "cert.pem.new"))
        os.replace(os.path.join(tls_dir, "key.pem.new"), os.path.join(tls_dir, "key.pem"))
        os.replace(os.path.join(tls_dir, "cert.pem.new"), os.path.join(tls_dir, "cert.pem"))
        self.srv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(self.srv.wait_log(r"SIGHUP: reloaded tls certificate .* sha256="),
                        self.srv.log()[-2000:])

        # New connections, on every TLS port, see the new certificate.
        self.assertEqual(self.fingerprint_now(ctx, "submissions"), new_fp)
        self.assertEqual(self.fingerprint_now(ctx, "pop3s"), new_fp)
        with smtplib.SMTP("127.0.0.1", self.srv.ports["submission"], timeout=30) as s:
            s.starttls(context=ctx)
            self.assertEqual(peer_fingerprint(s.sock), new_fp)

        # The open sessions survived and still speak with the old one.
        smtp.ehlo("client.example.org")
        smtp.sendmail("sender@example.org", [addr("alice")], message("across reload", addr("alice")))
        smtp.quit()
        self.assertEqual(len(self.srv.wait_messages("alice", 1)), 1)
        pop.user(addr("alice"))
        pop.pass_(PASSWORD)
        self.assertEqual(pop.stat()[0], 1)
        self.assertEqual(peer_fingerprint(pop.sock), old_fp)
        pop.quit()

    def test_sighup_with_a_broken_pair_keeps_the_old_certificate(self):
        want = pem_fingerprint(cert_path(self.srv))
        ctx = self.trusting(cert_path(self.srv))
        other_cert, _ = new_pair(self.tmp, "other")
        shutil.copy(other_cert, cert_path(self.srv))  # a certificate that does not match the key
        self.srv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(self.srv.wait_log(r"SIGHUP: tls reload failed, keeping the current"))
        self.assertEqual(self.fingerprint_now(ctx), want)
        self.assertIsNone(self.srv.proc.poll(), "the server died")


class TlsSessionEndTest(unittest.TestCase):
    """The goodbyes still travel encrypted: 421 on a read timeout, 421 on
    SIGTERM."""

    def setUp(self):
        self.srv = Server(users=("alice",),
                          extra_config={**NO_PLAINTEXT, "limits.command_timeout": '"2s"'},
                          services=SERVICES).start()

    def tearDown(self):
        self.srv.stop()
        self.srv.cleanup()

    def tls_session(self):
        raw = socket.create_connection(("127.0.0.1", self.srv.ports["submissions"]), 10)
        s = client_context(self.srv).wrap_socket(raw, server_hostname=HOSTNAME)
        f = s.makefile("rb")
        self.assertTrue(f.readline().startswith(b"220 "))
        s.sendall(b"EHLO client.example.org\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        return s, f

    def test_read_timeout_says_421_inside_tls(self):
        s, f = self.tls_session()
        s.settimeout(15)
        self.assertEqual(f.readline(), b"421 4.4.2 mail.example.test Error: timeout exceeded\r\n")
        self.assertEqual(f.readline(), b"")
        f.close()
        s.close()

    def test_sigterm_says_421_inside_tls(self):
        s, f = self.tls_session()
        self.srv.proc.send_signal(signal.SIGTERM)
        s.settimeout(15)
        self.assertEqual(f.readline(), b"421 4.3.2 mail.example.test Service shutting down\r\n")
        f.close()
        s.close()
        self.assertEqual(self.srv.stop(), 0)


class HandshakeDeadlineTest(TlsServerCase):
    """A client that connects to an implicit-TLS port and never sends a
    ClientHello is cut off after the 30 s handshake deadline."""

    def test_silent_client_is_closed(self):
        started = time.monotonic()
        r = Raw(self.srv.ports["pop3s"], timeout=60)
        self.assertTrue(r.closed(45), "silent TLS client still connected after 45 s")
        elapsed = time.monotonic() - started
        r.close()
        self.assertGreater(elapsed, 25)
        self.assertTrue(self.srv.wait_log(r"tls handshake timed out"))
        # Its handshake slot is free again.
        ctx = client_context(self.srv)
        p = poplib.POP3_SSL("127.0.0.1", self.srv.ports["pop3s"], timeout=30, context=ctx)
        p.quit()



class FairHandshakeTest(TlsServerCase):
    """Issue 14: idle sockets cannot shut everyone else out of TLS. 300 idle
    connections from one address (to submissions) and 260 from 13 addresses
    (to pop3s) hold at most a few handshake slots each; a client from
    another address still completes its handshake on submissions, pop3s and
    STARTTLS, and the idle ones are cut off sooner under load."""

    extra = dict(NO_PLAINTEXT, **{"limits.connections_per_ip": "1000",
                                  "limits.connections": "5000"})

    def idle(self, port, source, n):
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10,
                                         source_address=(source, 0))
            self.addCleanup(s.close)
            socks.append(s)
        return socks

    def test_idle_sockets_from_one_address_and_from_thirteen(self):
        ctx = client_context(self.srv)
        self.idle(self.srv.ports["submissions"], "127.0.7.1", 300)
        for k in range(13):
            self.idle(self.srv.ports["pop3s"], f"127.0.7.{10 + k}", 20)
        self.assertTrue(self.srv.wait_log(r"ip=127\.0\.7\.1 tls handshake refused: 8 in progress "
                                          r"from this client"))
        # A legitimate client from elsewhere gets its handshake everywhere.
        with smtplib.SMTP_SSL("127.0.0.1", self.srv.ports["submissions"], timeout=20,
                              context=ctx) as c:
            self.assertEqual(c.ehlo()[0], 250)
        p = poplib.POP3_SSL("127.0.0.1", self.srv.ports["pop3s"], timeout=20, context=ctx)
        p.user(addr("alice"))
        p.pass_(PASSWORD)
        p.quit()
        with smtplib.SMTP("127.0.0.1", self.srv.ports["submission"], timeout=20) as c:
            c.ehlo()
            self.assertEqual(c.starttls(context=ctx)[0], 220)
            self.assertEqual(c.ehlo()[0], 250)
        # 8 + 13 * 8 = 112 slots are held (over a quarter of 256): the
        # deadline is 10 s, not 30.
        started = time.monotonic()
        r = Raw(self.srv.ports["pop3s"], timeout=60, source="127.0.7.99")
        self.assertTrue(r.closed(25), "idle TLS client not cut off under load")
        r.close()
        self.assertLess(time.monotonic() - started, 20)

if __name__ == "__main__":
    unittest.main()
