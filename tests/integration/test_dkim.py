"""`tegami dkim keygen` and `tegami dkim list` (DESIGN section 5, issue 17).

Runs the real binary on a fresh `tegami init` folder: the printed zone-file
line parses (strings of at most 255 octets, a DKIM1 key record), its p= is
the public half of the key file (checked with the openssl command line),
key files are 0600 in 0700 directories, a second keygen for the same
selector fails with a clear message and changes nothing, and `list` shows
every key with the same record.
"""
import base64
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

from harness import BIN, need_tool

LINE = re.compile(r'^(?P<name>[a-z0-9._-]+)\. IN TXT \( (?P<strings>(?:"[^"]*" ?)+)\)$')


def tegami(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def parse_zone_line(line):
    """(owner name, [strings], {tag: value}) of a printed record."""
    m = LINE.match(line)
    assert m, f"not a zone-file TXT line: {line!r}"
    strings = re.findall(r'"([^"]*)"', m.group("strings"))
    record = "".join(strings)
    tags = {}
    for spec in record.split(";"):
        spec = spec.strip()
        if spec:
            k, _, v = spec.partition("=")
            tags[k.strip()] = v.strip()
    return m.group("name"), strings, tags


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def public_der(pem_path):
    openssl = need_tool("openssl")
    return subprocess.run([openssl, "pkey", "-in", pem_path, "-pubout", "-outform", "DER"],
                          capture_output=True, check=True, timeout=60).stdout


class DkimKeygenTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tegami-dkim-it-")
        p = tegami("init", os.path.join(self.dir, "inst"), "--domain", "example.test",
                   "--hostname", "mail.example.test")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.conf = os.path.join(self.dir, "inst", "tegami.toml")
        self.keys = os.path.join(self.dir, "inst", "data", "dkim")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args):
        return tegami("-c", self.conf, *args)

    def test_rsa_default(self):
        p = self.cli("dkim", "keygen", "Example.TEST")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stdout)
        name, strings, tags = parse_zone_line(lines[0])
        self.assertRegex(name, r"^tegami\d{6}\._domainkey\.example\.test$")
        selector = name.split(".")[0]
        self.assertTrue(all(len(s) <= 255 for s in strings), strings)
        self.assertGreaterEqual(len(strings), 2, "a 2048-bit key needs two strings")
        self.assertEqual(tags["v"], "DKIM1")
        self.assertEqual(tags["k"], "rsa")
        key_file = os.path.join(self.keys, "example.test", selector + ".rsa.pem")
        self.assertEqual(base64.b64decode(tags["p"]), public_der(key_file))
        # 2048 bits: the DER SubjectPublicKeyInfo of a 2048-bit key is 294 octets.
        self.assertEqual(len(base64.b64decode(tags["p"])), 294)
        self.assertEqual(stat.S_IMODE(os.stat(key_file).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(key_file)).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(self.keys).st_mode), 0o700)

        # The same selector again: refused, clearly, and the key is untouched.
        before = read_bytes(key_file)
        again = self.cli("dkim", "keygen", "example.test", "--selector", selector,
                         "--algorithm", "ed25519")
        self.assertEqual(again.returncode, 1)
        self.assertIn("exists already", again.stderr)
        self.assertIn(selector, again.stderr)
        self.assertEqual(again.stdout, "")
        self.assertEqual(read_bytes(key_file), before)
        self.assertEqual(sorted(os.listdir(os.path.dirname(key_file))), [selector + ".rsa.pem"])

    def test_ed25519_and_list(self):
        p = self.cli("dkim", "keygen", "example.test", "--selector", "ed1",
                     "--algorithm", "ed25519-sha256")
        self.assertEqual(p.returncode, 0, p.stderr)
        name, strings, tags = parse_zone_line(p.stdout.strip())
        self.assertEqual(name, "ed1._domainkey.example.test")
        self.assertEqual(tags["k"], "ed25519")
        raw = base64.b64decode(tags["p"])
        self.assertEqual(len(raw), 32)  # RFC 8463 section 4: the bare key
        key_file = os.path.join(self.keys, "example.test", "ed1.ed25519.pem")
        self.assertEqual(public_der(key_file)[-32:], raw)
        self.assertEqual(stat.S_IMODE(os.stat(key_file).st_mode), 0o600)

        r = self.cli("dkim", "keygen", "other.test", "--selector", "s1", "--bits", "1024")
        self.assertEqual(r.returncode, 0, r.stderr)

        ls = self.cli("dkim", "list")
        self.assertEqual(ls.returncode, 0, ls.stderr)
        rows = [l.split("\t") for l in ls.stdout.strip().splitlines()]
        self.assertEqual([(r[0], r[1], r[2], r[3]) for r in rows],
                         [("example.test", "ed1", "ed25519-sha256", "256"),
                          ("other.test", "s1", "rsa-sha256", "1024")])
        self.assertEqual(rows[0][5], p.stdout.strip())
        self.assertEqual(rows[1][5], r.stdout.strip())
        self.assertEqual(rows[0][4], key_file)

    def test_usage_errors(self):
        bad = self.cli("dkim", "keygen", "example.test", "--algorithm", "dsa")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("algorithm", bad.stderr)
        self.assertEqual(self.cli("dkim", "keygen", "example.test", "--bits", "512").returncode, 2)
        name = self.cli("dkim", "keygen", "exa mple.test")
        self.assertEqual(name.returncode, 1)
        self.assertIn("not a domain name", name.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.keys, "exa mple.test")))
        empty = self.cli("dkim", "list")
        self.assertEqual(empty.returncode, 0, empty.stderr)
        self.assertEqual(empty.stdout, "")
        noconf = tegami("dkim", "list")
        self.assertNotEqual(noconf.returncode, 0)


if __name__ == "__main__":
    unittest.main()


class DkimSigningTest(unittest.TestCase):
    """Outbound mail of a local domain with a key is DKIM-signed as it
    leaves (issue 17): alice submits to bob@dest.test, the queue relays it
    to a second tegami, and dkimpy (Debian python3-dkim, an independent
    implementation, run by /usr/bin/python3) verifies the signature of the
    message as stored there against the record `dkim keygen` printed."""

    def relay_pair(self, algorithm):
        from harness import PASSWORD, Server
        from test_queue import DEST, DEST_HOST, route
        b = Server(domain=DEST, hostname=DEST_HOST, users=("bob",))
        self.addCleanup(b.cleanup)
        b.start()
        a = Server(extra_config={"queue.retry": '["1s"]', **route(b.ports["smtp"])})
        self.addCleanup(a.cleanup)
        key = tegami("-c", a.conf, "dkim", "keygen", "example.test", "--selector", "s1",
                     "--algorithm", algorithm)
        self.assertEqual(key.returncode, 0, key.stderr)
        a.start()
        return a, b, PASSWORD, key.stdout.strip().splitlines()[-1]

    def check(self, algorithm):
        import smtplib
        a, b, password, line = self.relay_pair(algorithm)
        msg = (b"From: Alice <alice@example.test>\r\nTo: bob@dest.test\r\n"
               b"Subject: signed " + algorithm.encode() + b"\r\n"
               b"Message-ID: <signed-" + algorithm.encode() + b"@example.test>\r\n\r\n"
               b"Hello Bob.\r\n\r\n")
        with smtplib.SMTP("127.0.0.1", a.ports["submission"], timeout=30) as s:
            s.ehlo("client.example.org")
            s.login("alice@example.test", password)
            s.sendmail("alice@example.test", ["bob@dest.test"], msg)
        got = b.wait_messages("bob", 1, timeout=30)
        self.assertEqual(len(got), 1, a.log())
        stored = got[0][1]
        self.assertIn(b"DKIM-Signature: v=1; a=", stored)
        self.assertRegex(stored, rb"DKIM-Signature: [^\n]*d=example\.test;")
        _, strings, tags = parse_zone_line(line)
        record = "".join(strings).encode()
        script = (
            "import sys, dkim\n"
            "record = sys.argv[1].encode()\n"
            "msg = sys.stdin.buffer.read().replace(b'\\r\\n', b'\\n').replace(b'\\n', b'\\r\\n')\n"
            "ok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: record)\n"
            "print('verified' if ok else 'failed')\n")
        python = "/usr/bin/python3"
        probe = subprocess.run([python, "-c", "import dkim, nacl"], capture_output=True)
        if probe.returncode != 0:
            from harness import missing
            missing("dkimpy for /usr/bin/python3", "python3-dkim python3-nacl")
        out = subprocess.run([python, "-c", script, record.decode()], input=stored,
                             capture_output=True, timeout=60)
        self.assertEqual(out.stdout.strip(), b"verified", out.stderr.decode() + stored.decode())
        # Tampered in transit: the signature no longer verifies.
        bad = stored.replace(b"Hello Bob.", b"Hello Eve.")
        out = subprocess.run([python, "-c", script, record.decode()], input=bad,
                             capture_output=True, timeout=60)
        self.assertEqual(out.stdout.strip(), b"failed", out.stderr.decode())

    def test_rsa_sha256(self):
        self.check("rsa-sha256")

    def test_ed25519(self):
        self.check("ed25519")
