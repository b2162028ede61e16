"""The command line contract (DESIGN section 5, issue 2 "Accounts and configuration").

tegami init / check / serve with a bad configuration / domain / user / alias,
TEGAMI_CONFIG, imported crypt(3) hashes, and what the directory database keeps.
Logins are checked through the real POP3 listener. A failed login is delayed
per client IP, so each one comes from its own 127.0.0.x address.
"""
import base64
import hashlib
import os
import re
import shutil
import smtplib
import sqlite3
import stat
import subprocess
import tempfile
import unittest

from harness import need_tool, BIN, DOMAIN, HOSTNAME, PASSWORD, Raw, Server, own


def tegami(*args, stdin=None, env=None, timeout=60, new_session=False):
    """Runs the binary; stdin None means /dev/null (never a terminal)."""
    return subprocess.run([BIN, *args], input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=timeout, env=env,
                          start_new_session=new_session)


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def pop3_login(port, user, password, source=None, apop=False):
    """The server's answer to PASS (or APOP), as a string; the session is then closed."""
    c = Raw(port, source=source, timeout=30)
    try:
        greeting = c.line()
        assert greeting.startswith("+OK"), greeting
        if apop:
            ts = re.search(r"<[^>]+>", greeting).group(0)
            digest = hashlib.md5((ts + password).encode()).hexdigest()
            c.send(f"APOP {user} {digest}\r\n")
            answer = c.line()
        else:
            c.send(f"USER {user}\r\n")
            r = c.line()
            assert r.startswith("+OK"), r
            c.send(f"PASS {password}\r\n")
            answer = c.line()
        c.send("QUIT\r\n")
        try:
            c.line()
        except (EOFError, OSError):
            pass
        return answer
    finally:
        c.close()


class CliInitTest(unittest.TestCase):
    """tegami init, check, and serve refusing a bad configuration."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tegami-cli-")
        self.dir = os.path.join(self.tmp, "inst")
        self.conf = os.path.join(self.dir, "tegami.toml")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def init(self, *extra):
        p = tegami("init", self.dir, "--domain", DOMAIN, "--hostname", HOSTNAME, *extra)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def check(self):
        return tegami("-c", self.conf, "check")

    def config_lines(self):
        return read(self.conf, "r").split("\n")

    def write_config(self, lines):
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))

    def line_of(self, lines, pattern, section=None):
        """1-based number of the first line matching `pattern` (inside [section] if given)."""
        current = ""
        for i, l in enumerate(lines):
            m = re.match(r"^\[([^\]]+)\]", l)
            if m:
                current = m.group(1)
            if re.match(pattern, l) and (section is None or current == section):
                return i + 1
        self.fail(f"no line {pattern} in [{section}]")

    def test_init_creates_the_installation(self):
        self.init()
        self.assertTrue(os.path.isfile(self.conf))
        self.assertTrue(os.path.isdir(os.path.join(self.dir, "data")))
        db = os.path.join(self.dir, "data", "directory.sqlite")
        self.assertTrue(os.path.isfile(db))
        cert = os.path.join(self.dir, "tls", "cert.pem")
        key = os.path.join(self.dir, "tls", "key.pem")
        secret = os.path.join(self.dir, "secret.key")
        self.assertIn(b"-----BEGIN CERTIFICATE-----", read(cert))
        self.assertIn(b"PRIVATE KEY-----", read(key))
        for path in (key, secret):
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)
        self.assertGreaterEqual(os.path.getsize(secret), 32)
        text = read(self.conf, "r")
        self.assertRegex(text, r'(?m)^hostname = "mail\.example\.test"')
        self.assertRegex(text, r'(?m)^data_dir = "data"')
        for section in ("smtp", "submission", "submissions", "pop3", "pop3s", "tls", "auth",
                        "relay", "dns", "limits", "queue"):
            self.assertRegex(text, r"(?m)^\[" + section + r"\]", section)
        domains = tegami("-c", self.conf, "domain", "list")
        self.assertEqual(domains.stdout.split(), [DOMAIN])
        if need_tool("openssl"):
            subj = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-text"],
                                  capture_output=True, text=True, timeout=30)
            self.assertIn(HOSTNAME, subj.stdout)
            # The key belongs to the certificate.
            pub1 = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"],
                                  capture_output=True, timeout=30).stdout
            pub2 = subprocess.run(["openssl", "pkey", "-in", key, "-pubout"],
                                  capture_output=True, timeout=30).stdout
            self.assertEqual(pub1, pub2)

    def test_init_without_domain(self):
        p = tegami("init", self.dir, "--hostname", HOSTNAME)
        self.assertEqual(p.returncode, 0, p.stderr)
        domains = tegami("-c", self.conf, "domain", "list")
        self.assertEqual(domains.returncode, 0, domains.stderr)
        self.assertEqual(domains.stdout.strip(), "")

    def test_init_creates_a_postmaster(self):
        """Issue 12 (RFC 5321 4.5.1): without --postmaster, init makes the
        account postmaster@DOMAIN (a random password nobody knows; the
        operator sets one) and names it in `postmaster`."""
        p = self.init()
        self.assertIn("user passwd postmaster@" + DOMAIN, p.stderr)
        self.assertRegex(read(self.conf, "r"), r'(?m)^postmaster = "postmaster@example\.test"$')
        users = tegami("-c", self.conf, "user", "list").stdout.split("\n")
        self.assertEqual([u.split("\t")[0] for u in users if u], ["postmaster@" + DOMAIN])
        self.assertEqual(self.check().returncode, 0)

    def test_init_with_postmaster_creates_no_account(self):
        self.init("--postmaster", "Admin@Example.Test")
        self.assertRegex(read(self.conf, "r"), r'(?m)^postmaster = "admin@example\.test"$')
        self.assertEqual(tegami("-c", self.conf, "user", "list").stdout.strip(), "")
        bad = tegami("init", self.dir + "2", "--postmaster", "no-at-sign")
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("--postmaster", bad.stderr)

    def test_init_without_domain_has_no_postmaster(self):
        p = tegami("init", self.dir, "--hostname", HOSTNAME)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(read(self.conf, "r"), r'(?m)^postmaster = ""$')

    def test_check_rejects_a_bad_postmaster_and_bare_newline(self):
        self.init()
        for key, value, section in (("postmaster", '"nobody"', None),
                                    ("bare_newline", '"lenient"', "smtp")):
            with self.subTest(key=key):
                lines = self.config_lines()
                n = self.line_of(lines, r"^" + key + r" =", section)
                saved = lines[n - 1]
                lines[n - 1] = f"{key} = {value}"
                self.write_config(lines)
                p = self.check()
                self.assertNotEqual(p.returncode, 0)
                self.assertIn(f":{n}:", p.stderr)
                lines[n - 1] = saved
                self.write_config(lines)
        self.assertEqual(self.check().returncode, 0)

    def test_init_refuses_an_existing_installation(self):
        self.init()
        before = {p: read(os.path.join(self.dir, p))
                  for p in ("tegami.toml", "secret.key", "tls/key.pem", "tls/cert.pem")}
        again = tegami("init", self.dir, "--domain", "other.test", "--hostname", "other.test")
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("exist", again.stderr)
        for p, data in before.items():
            self.assertEqual(read(os.path.join(self.dir, p)), data, p + " was overwritten")
        self.assertEqual(tegami("-c", self.conf, "domain", "list").stdout.split(), [DOMAIN])

    def test_init_refuses_a_bad_domain(self):
        p = tegami("init", self.dir, "--domain", "bad domain..", "--hostname", HOSTNAME)
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(p.stderr.strip())
        self.assertFalse(os.path.exists(self.conf), "half-written installation")

    def test_check_passes_on_a_fresh_init(self):
        self.init()
        p = self.check()
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_limits_added_under_the_section_do_not_collide(self):
        # Operators (and ../shared/bench's tegamictl.sh) add limits right
        # under [limits]; init writes the connection limits as comments, so
        # a key added there is never defined twice.
        self.init()
        lines = self.config_lines()
        at = self.line_of(lines, r"^\[limits\]")  # 1-based: insert right after it
        lines[at:at] = ["connections_per_ip = 5000", "connections = 20000"]
        self.write_config(lines)
        p = self.check()
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_disk_reserve_is_written_by_init_and_checked(self):
        # Issue 15: init writes the reserve with its default and a comment;
        # check accepts a size or "0" (off).
        self.init()
        lines = self.config_lines()
        n = self.line_of(lines, r"^disk_reserve\s*=", "limits")
        self.assertEqual(lines[n - 1].split("#")[0].strip(), 'disk_reserve = "256MiB"')
        self.assertIn("452 4.3.1", "\n".join(lines[n - 6:n]))
        for value in ('"0"', "0", '"1GiB"', '"512KiB"', "104857600"):
            with self.subTest(value=value):
                lines[n - 1] = f"disk_reserve = {value}"
                self.write_config(lines)
                p = self.check()
                self.assertEqual(p.returncode, 0, p.stderr)

    def test_check_reports_unknown_keys_with_their_line(self):
        self.init()
        original = self.config_lines()
        cases = [
            # (section to insert into or None for top, inserted line, key named in the error)
            ("limits", "bogus_limit = 3", "bogus_limit"),
            ("pop3", "apopp = true", "apopp"),
            (None, 'colour = "blue"', "colour"),
        ]
        for section, inserted, key in cases:
            with self.subTest(inserted=inserted):
                lines = list(original)
                at = (self.line_of(lines, r"^\[" + re.escape(section) + r"\]") if section
                      else self.line_of(lines, r"^hostname ="))
                # Insert just after the section header (or before `hostname`).
                index = at if section else at - 1
                lines.insert(index, inserted)
                self.write_config(lines)
                n = index + 1
                self.assertEqual(lines[n - 1], inserted)
                p = self.check()
                self.assertNotEqual(p.returncode, 0, inserted)
                self.assertIn(f"tegami.toml:{n}:", p.stderr)
                self.assertIn(key, p.stderr)
        # An unknown section.
        self.write_config(original + ["[bogus]", "x = 1", ""])
        p = self.check()
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, r"tegami\.toml:%d:" % (len(original) + 1))
        self.assertIn("bogus", p.stderr)

    def test_check_reports_bad_values_with_their_line(self):
        self.init()
        original = self.config_lines()
        cases = [
            ("limits", r"^message_size\s*=", 'message_size = "lots"'),
            ("limits", r"^recipients\s*=", "recipients = -5"),
            ("relay", r"^pop_before_smtp_ttl\s*=", 'pop_before_smtp_ttl = "soon"'),
            ("pop3", r"^apop\s*=", 'apop = "yes"'),
            ("pop3", r"^listen\s*=", 'listen = ["not an address"]'),
            ("smtp", r"^listen\s*=", 'listen = ["127.0.0.1:99999"]'),
            ("auth", r"^plaintext_networks\s*=", 'plaintext_networks = ["10.0.0.0/99"]'),
            # Issue 14: the prefix lengths of per-network limits (written by init).
            ("limits", r"^ipv6_prefix\s*=", "ipv6_prefix = 129"),
            ("limits", r"^ipv6_prefix\s*=", "ipv6_prefix = 0"),
            ("auth", r"^failure_ipv6_prefix\s*=", "failure_ipv6_prefix = 200"),
            ("auth", r"^failure_ipv6_prefix\s*=", 'failure_ipv6_prefix = "48"'),
            ("auth", r"^failure_limit\s*=", "failure_limit = 0"),
            ("auth", r"^failure_delay\s*=", 'failure_delay = "a while"'),
            ("queue", r"^retry\s*=", 'retry = ["5m", "often"]'),
            # Issue 15: the disk space reserve (written by init).
            ("limits", r"^disk_reserve\s*=", 'disk_reserve = "lots"'),
            ("limits", r"^disk_reserve\s*=", "disk_reserve = -1"),
            (None, r"^hostname\s*=", "hostname = 42"),
        ]
        for section, pattern, replacement in cases:
            with self.subTest(replacement=replacement):
                lines = list(original)
                n = self.line_of(lines, pattern, section)
                lines[n - 1] = replacement
                self.write_config(lines)
                p = self.check()
                self.assertNotEqual(p.returncode, 0, replacement)
                self.assertIn(f"tegami.toml:{n}:", p.stderr, replacement)

    def test_check_reports_a_toml_syntax_error_with_its_line(self):
        self.init()
        lines = self.config_lines()
        n = self.line_of(lines, r"^recipients\s*=", "limits")
        lines[n - 1] = 'recipients = "unterminated'
        self.write_config(lines)
        p = self.check()
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"tegami.toml:{n}:", p.stderr)

    def test_check_without_a_configuration(self):
        p = tegami("-c", os.path.join(self.tmp, "missing.toml"), "check")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("missing.toml", p.stderr)
        env = {k: v for k, v in os.environ.items() if k != "TEGAMI_CONFIG"}
        p = tegami("check", env=env)
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(p.stderr.strip())

    def test_serve_does_not_start_with_a_bad_configuration(self):
        self.init()
        lines = self.config_lines()
        # Port 0 everywhere, so a wrongly started server would not clash with anything.
        lines = [re.sub(r"^listen\s*=.*$", 'listen = ["127.0.0.1:0"]', l) for l in lines]
        n = self.line_of(lines, r"^message_size\s*=", "limits")
        lines[n - 1] = 'message_size = "lots"'
        self.write_config(lines)
        proc = subprocess.Popen([BIN, "-c", self.conf, "serve"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.fail("serve started with a bad configuration:\n" + err)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(f"tegami.toml:{n}:", err)
        self.assertNotIn("listening ", err)

    def test_relative_paths_follow_the_config_file(self):
        self.init()
        # From another working directory, with a relative -c: data/ is found next to
        # the configuration, not in the working directory.
        p = subprocess.run([BIN, "-c", os.path.join("inst", "tegami.toml"), "domain", "list"],
                           cwd=self.tmp, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), [DOMAIN])
        p = subprocess.run([BIN, "-c", self.conf, "check"], cwd="/", capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "data")))

    def test_check_accepts_every_contract_key(self):
        """The DESIGN section 5 example, with non-default values, passes check."""
        self.init()
        text = read(self.conf, "r")
        replacements = [
            (r'(?m)^routes = .*$', 'routes = { "example.net" = "127.0.0.1:2526" }'),
            (r'(?m)^servers = .*$', 'servers = ["127.0.0.1:5353"]'),
            (r'(?m)^pop_before_smtp_ttl = .*$', 'pop_before_smtp_ttl = "30s"'),
            (r'(?m)^message_size = .*$', 'message_size = "512KiB"'),
            (r'(?m)^recipients = .*$', "recipients = 5"),
            (r'(?m)^retry = .*$', 'retry = ["30s", "10m", "2h"]'),
            (r'(?m)^lifetime = .*$', 'lifetime = "5d"'),
            (r'(?m)^delay_warning = .*$', 'delay_warning = "2h"'),
            (r'(?m)^apop = .*$', "apop = false"),
            (r'(?m)^trusted_networks = .*$', 'trusted_networks = ["127.0.0.1/32", "10.0.0.0/8"]'),
            (r'(?m)^plaintext_networks = .*$', 'plaintext_networks = ["::1/128"]'),
        ]
        for pattern, value in replacements:
            text, n = re.subn(pattern, value, text, count=1)
            self.assertEqual(n, 1, pattern)
        # An empty listen list disables a listener.
        text = re.sub(r'(?ms)(^\[submissions\]\s*\n)listen = .*?$', r'\1listen = []', text)
        with open(self.conf, "w") as f:
            f.write(text)
        p = self.check()
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_check_fails_without_its_files(self):
        self.init()
        os.rename(os.path.join(self.dir, "secret.key"), os.path.join(self.dir, "secret.moved"))
        p = self.check()
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("secret.key", p.stderr)
        # user add --apop needs the key: refused, and no account half-added.
        p = tegami("-c", self.conf, "user", "add", "k@" + DOMAIN, "--password-stdin", "--apop",
                   stdin=PASSWORD + "\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertNotIn("k@" + DOMAIN, tegami("-c", self.conf, "user", "list").stdout)
        os.rename(os.path.join(self.dir, "secret.moved"), os.path.join(self.dir, "secret.key"))
        self.assertEqual(self.check().returncode, 0)
        os.rename(os.path.join(self.dir, "tls", "key.pem"), os.path.join(self.dir, "tls", "k"))
        p = self.check()
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("key.pem", p.stderr)

    def test_tegami_config_environment_variable(self):
        self.init()
        env = dict(os.environ, TEGAMI_CONFIG=self.conf)
        p = tegami("domain", "list", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), [DOMAIN])
        p = tegami("check", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = tegami("user", "add", "env@" + DOMAIN, "--password-stdin", stdin=PASSWORD + "\n",
                   env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("env@" + DOMAIN, tegami("-c", self.conf, "user", "list").stdout)
        # -c wins over the environment.
        other = os.path.join(self.tmp, "other")
        self.assertEqual(tegami("init", other, "--domain", "other.test",
                                "--hostname", HOSTNAME).returncode, 0)
        p = tegami("-c", os.path.join(other, "tegami.toml"), "domain", "list", env=env)
        self.assertEqual(p.stdout.split(), ["other.test"])


class CliDirectoryTest(unittest.TestCase):
    """domain, user and alias commands on one installation (no server running)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tegami-cli-dir-")
        cls.conf = os.path.join(cls.tmp, "tegami.toml")
        p = tegami("init", cls.tmp, "--domain", DOMAIN, "--hostname", HOSTNAME)
        assert p.returncode == 0, p.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def t(self, *args, stdin=None, **kw):
        return tegami("-c", self.conf, *args, stdin=stdin, **kw)

    def ok(self, *args, stdin=None):
        p = self.t(*args, stdin=stdin)
        self.assertEqual(p.returncode, 0, f"{args}: {p.stderr}")
        return p

    def refused(self, *args, stdin=None):
        p = self.t(*args, stdin=stdin)
        self.assertNotEqual(p.returncode, 0, f"{args} should fail: {p.stdout}")
        self.assertTrue(p.stderr.strip(), f"{args}: no error message")
        return p

    def lines(self, *args):
        return self.ok(*args).stdout.splitlines()

    def test_domain_round_trip_and_case(self):
        self.ok("domain", "add", "Example.ORG")
        self.assertIn("example.org", self.lines("domain", "list"))
        self.assertNotIn("Example.ORG", self.lines("domain", "list"))
        self.refused("domain", "add", "example.org")
        self.refused("domain", "add", "EXAMPLE.ORG")
        self.assertEqual(self.lines("domain", "list").count("example.org"), 1)
        self.ok("domain", "del", "EXAMPLE.org")
        self.assertNotIn("example.org", self.lines("domain", "list"))
        self.assertIn(DOMAIN, self.lines("domain", "list"))

    def test_domain_bad_names(self):
        for bad in ("", "no spaces.test", "-bad.test", "a..b", "x" * 64 + ".test"):
            with self.subTest(bad=bad):
                self.refused("domain", "add", bad)
        self.assertEqual(sorted(self.lines("domain", "list")),
                         sorted(set(self.lines("domain", "list"))))

    def test_domain_del_refuses_while_in_use(self):
        self.ok("domain", "add", "busy.test")
        self.ok("user", "add", "someone@busy.test", "--password-stdin", stdin=PASSWORD + "\n")
        self.refused("domain", "del", "busy.test")
        self.assertIn("busy.test", self.lines("domain", "list"))
        self.ok("user", "del", "someone@busy.test")
        self.ok("domain", "del", "busy.test")
        self.assertNotIn("busy.test", self.lines("domain", "list"))

    def test_user_round_trip_and_case(self):
        self.ok("user", "add", "Mixed.Case@Example.TEST", "--password-stdin",
                stdin=PASSWORD + "\n")
        users = self.lines("user", "list")
        self.assertIn("mixed.case@example.test", [u.split("\t")[0] for u in users])
        self.assertFalse(any("Mixed" in u for u in users), users)
        self.refused("user", "add", "mixed.case@example.test", "--password-stdin",
                     stdin=PASSWORD + "\n")
        self.refused("user", "add", "MIXED.CASE@EXAMPLE.TEST", "--password-stdin",
                     stdin=PASSWORD + "\n")
        self.ok("user", "del", "MIXED.case@example.TEST")
        self.assertNotIn("mixed.case@example.test",
                         [u.split("\t")[0] for u in self.lines("user", "list")])
        self.refused("user", "passwd", "mixed.case@example.test", "--password-stdin",
                     stdin=PASSWORD + "\n")

    def test_user_add_refusals(self):
        self.refused("user", "add", "who@unknown-domain.test", "--password-stdin",
                     stdin=PASSWORD + "\n")
        self.refused("user", "add", "not-an-address", "--password-stdin", stdin=PASSWORD + "\n")
        self.refused("user", "add", "empty@" + DOMAIN, "--password-stdin", stdin="\n")
        self.refused("user", "add", "nothing@" + DOMAIN, "--password-stdin", stdin="")
        self.refused("user", "add", "garbage@" + DOMAIN, "--hash", "not-a-crypt-hash")
        self.refused("user", "add", "both@" + DOMAIN, "--hash",
                     "$5$abc$0123456789012345678901234567890123456789012", "--apop")
        listed = [u.split("\t")[0] for u in self.lines("user", "list")]
        for u in ("who@unknown-domain.test", "empty@" + DOMAIN, "nothing@" + DOMAIN,
                  "garbage@" + DOMAIN, "both@" + DOMAIN):
            self.assertNotIn(u, listed, "a refused add left an account behind")

    def test_user_add_without_a_terminal_does_not_hang(self):
        # No --password-stdin and no controlling terminal: a clear error, not a hang.
        p = tegami("-c", self.conf, "user", "add", "tty@" + DOMAIN, new_session=True,
                   timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("password", p.stderr.lower())
        self.assertNotIn("tty@" + DOMAIN, self.t("user", "list").stdout)

    def test_alias_round_trip(self):
        self.ok("user", "add", "target@" + DOMAIN, "--password-stdin", stdin=PASSWORD + "\n")
        self.ok("alias", "add", "Info@Example.TEST", "Target@" + DOMAIN)
        self.assertIn("info@example.test target@example.test", self.lines("alias", "list"))
        self.refused("alias", "add", "info@example.test", "target@example.test")
        self.refused("alias", "add", "x@unknown-domain.test", "target@" + DOMAIN)
        self.ok("alias", "del", "INFO@example.test")
        self.assertFalse(any(l.startswith("info@") for l in self.lines("alias", "list")))

    def test_alias_refusals(self):
        self.ok("user", "add", "owner@" + DOMAIN, "--password-stdin", stdin=PASSWORD + "\n")
        self.refused("alias", "add", "bad-target@" + DOMAIN, "garbage")
        self.refused("alias", "add", "self@" + DOMAIN, "self@" + DOMAIN)
        self.refused("alias", "add", "owner@" + DOMAIN, "someone@" + DOMAIN)  # is a user
        self.refused("alias", "add", "not an alias", "owner@" + DOMAIN)
        listed = [l.split()[0] for l in self.lines("alias", "list")]
        for a in ("bad-target@", "self@", "owner@"):
            self.assertNotIn(a + DOMAIN, listed)

    def test_deleting_what_does_not_exist_fails(self):
        self.refused("user", "del", "ghost@" + DOMAIN)
        self.refused("alias", "del", "ghost@" + DOMAIN)
        self.refused("domain", "del", "ghost.test")
        self.refused("user", "passwd", "ghost@" + DOMAIN, "--password-stdin",
                     stdin=PASSWORD + "\n")

    def test_schema_version_and_sealed_apop_secret(self):
        plain = "Pl4intext-Marker-" + str(os.getpid())
        self.ok("user", "add", "sealed@" + DOMAIN, "--password-stdin", "--apop",
                stdin=plain + "\n")
        self.ok("user", "add", "unsealed@" + DOMAIN, "--password-stdin", stdin=plain + "\n")
        self.assertIn("sealed@example.test\tapop", self.lines("user", "list"))
        db = os.path.join(self.tmp, "data", "directory.sqlite")
        if need_tool("sqlite3"):
            v = subprocess.run(["sqlite3", db, "PRAGMA user_version"], capture_output=True,
                               text=True, timeout=30)
            self.assertGreaterEqual(int(v.stdout.strip()), 1, v.stderr)
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            self.assertGreaterEqual(con.execute("PRAGMA user_version").fetchone()[0], 1)
            cols = [r[1] for r in con.execute("PRAGMA table_info(accounts)")]
            rows = {r[cols.index("address")]: r for r in con.execute("SELECT * FROM accounts")}
        finally:
            con.close()
        self.assertIn("sealed@example.test", rows)
        apop_cols = [i for i, c in enumerate(cols) if "apop" in c.lower()]
        self.assertTrue(apop_cols, f"no APOP column in {cols}")
        sealed, unsealed = rows["sealed@example.test"], rows["unsealed@example.test"]
        self.assertTrue(any(sealed[i] for i in apop_cols), "no sealed secret stored")
        self.assertFalse(any(unsealed[i] for i in apop_cols), "secret stored without --apop")
        marker = plain.encode()
        for row in (sealed, unsealed):
            for value in row:
                raw = value if isinstance(value, bytes) else str(value).encode()
                self.assertNotIn(marker, raw, "password in clear in the database")
                self.assertNotIn(base64.b64encode(marker), raw)
                self.assertNotIn(marker.hex().encode(), raw.lower())
        # Two accounts with the same password: different hashes (salted).
        hashes = [v for v in sealed + unsealed if isinstance(v, str) and v.startswith("$")]
        self.assertEqual(len(hashes), 2, hashes)
        self.assertNotEqual(hashes[0], hashes[1])
        self.assertTrue(all(h.startswith("$y$") for h in hashes), hashes)
        # Nor anywhere in the files (the WAL included).
        for f in os.listdir(os.path.join(self.tmp, "data")):
            path = os.path.join(self.tmp, "data", f)
            if os.path.isfile(path):
                self.assertNotIn(marker, read(path), f)


class CliWithServerTest(unittest.TestCase):
    """Accounts changed through the CLI while the server runs, checked by logging in."""

    @classmethod
    def setUpClass(cls):
        cls.srv = own(cls, Server(users=())).start()

    def add(self, address, password=PASSWORD, *extra):
        self.srv.cli("user", "add", address, "--password-stdin", *extra, stdin=password + "\n")

    def login(self, user, password=PASSWORD, source=None, apop=False):
        return pop3_login(self.srv.ports["pop3"], user, password, source=source, apop=apop)

    def assertLogin(self, user, password=PASSWORD, apop=False):
        r = self.login(user, password, apop=apop)
        self.assertTrue(r.startswith("+OK"), f"{user}: {r}")

    def assertNoLogin(self, user, password, source, apop=False):
        r = self.login(user, password, source=source, apop=apop)
        self.assertTrue(r.startswith("-ERR [AUTH]"), f"{user}: {r}")

    def test_case_insensitive_accounts(self):
        self.add("Alice@Example.TEST", PASSWORD, "--apop")
        listed = self.srv.cli("user", "list").stdout.splitlines()
        self.assertIn("alice@example.test\tapop", listed)
        for name in ("alice@example.test", "ALICE@EXAMPLE.TEST", "Alice@example.Test"):
            self.assertLogin(name)
        self.assertLogin("ALICE@Example.test", apop=True)
        # Mail to any spelling lands in the one lower-case Maildir.
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=60) as s:
            s.sendmail("sender@example.org", ["ALICE@EXAMPLE.TEST"],
                       b"Subject: case\r\n\r\nbody\r\n")
        self.assertEqual(len(self.srv.messages("alice")), 1)
        self.assertTrue(os.path.isdir(os.path.join(self.srv.dir, "data", "mail", "example.test",
                                                   "alice", "new")))
        mail = os.listdir(os.path.join(self.srv.dir, "data", "mail"))
        self.assertEqual(mail, ["example.test"])

    def openssl_hash(self, kind, password):
        need_tool("openssl")
        p = subprocess.run(["openssl", "passwd", kind, "-salt", "abc", password],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.strip()

    def test_import_sha512_crypt_hash(self):
        h = self.openssl_hash("-6", PASSWORD)
        self.assertTrue(h.startswith("$6$abc$"), h)
        self.srv.cli("user", "add", "sha512@" + DOMAIN, "--hash", h)
        self.assertLogin("sha512@" + DOMAIN)
        self.assertNoLogin("sha512@" + DOMAIN, PASSWORD + "x", source="127.0.0.41")
        # An imported hash has no APOP secret.
        self.assertNotIn("sha512@example.test\tapop", self.srv.cli("user", "list").stdout)

    def test_import_sha256_crypt_hash(self):
        h = self.openssl_hash("-5", PASSWORD)
        self.assertTrue(h.startswith("$5$abc$"), h)
        self.srv.cli("user", "add", "sha256@" + DOMAIN, "--hash", h)
        self.assertLogin("sha256@" + DOMAIN)

    def test_passwd_changes_the_password(self):
        self.add("dave@" + DOMAIN, "Old-Passw0rd", "--apop")
        self.assertLogin("dave@" + DOMAIN, "Old-Passw0rd")
        self.assertLogin("dave@" + DOMAIN, "Old-Passw0rd", apop=True)
        self.srv.cli("user", "passwd", "dave@" + DOMAIN, "--password-stdin",
                     stdin="New-Passw0rd\n")
        self.assertLogin("dave@" + DOMAIN, "New-Passw0rd")
        self.assertNoLogin("dave@" + DOMAIN, "Old-Passw0rd", source="127.0.0.42")
        # The old APOP secret went with the old password.
        self.assertNoLogin("dave@" + DOMAIN, "Old-Passw0rd", source="127.0.0.43", apop=True)
        self.assertIn("dave@example.test", self.srv.cli("user", "list").stdout.split())

    def test_user_del_stops_logins(self):
        self.add("erin@" + DOMAIN)
        self.assertLogin("erin@" + DOMAIN)
        self.srv.cli("user", "del", "erin@" + DOMAIN)
        self.assertNotIn("erin@example.test", self.srv.cli("user", "list").stdout)
        self.assertNoLogin("erin@" + DOMAIN, PASSWORD, source="127.0.0.44")
        again = self.srv.cli("user", "del", "erin@" + DOMAIN, check=False)
        self.assertNotEqual(again.returncode, 0)

    def test_alias_delivers_to_its_target(self):
        self.add("frank@" + DOMAIN)
        self.srv.cli("alias", "add", "sales@" + DOMAIN, "frank@" + DOMAIN)
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=60) as s:
            s.sendmail("sender@example.org", ["Sales@Example.Test"],
                       b"Subject: via alias\r\n\r\nbody\r\n")
        msgs = self.srv.messages("frank")
        self.assertEqual(len(msgs), 1)
        self.assertIn(b"Subject: via alias", msgs[0][1])
        self.srv.cli("alias", "del", "sales@" + DOMAIN)
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=60) as s:
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                s.sendmail("sender@example.org", ["sales@" + DOMAIN], b"Subject: x\r\n\r\nx\r\n")

    def test_alias_loop_is_harmless(self):
        """A cycle of aliases (loop1 -> loop2 -> loop1, loop2 -> team -> frank2): delivery
        ends, frank2 gets one copy. (An older build aborted, "free(): invalid pointer".)"""
        self.add("frank2@" + DOMAIN)
        self.srv.cli("alias", "add", "loop1@" + DOMAIN, "loop2@" + DOMAIN)
        self.srv.cli("alias", "add", "loop2@" + DOMAIN, "loop1@" + DOMAIN)
        self.srv.cli("alias", "add", "team@" + DOMAIN, "frank2@" + DOMAIN)
        self.srv.cli("alias", "add", "team@" + DOMAIN, "loop1@" + DOMAIN)
        self.srv.cli("alias", "add", "loop2@" + DOMAIN, "team@" + DOMAIN)
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=60) as s:
            refused = s.sendmail("sender@example.org", ["loop1@" + DOMAIN, "team@" + DOMAIN],
                                 b"Subject: loop\r\n\r\nx\r\n")
        self.assertEqual(refused, {})
        self.assertEqual(len(self.srv.messages("frank2")), 1, "one copy per mailbox")
        self.assertIsNone(self.srv.proc.poll(), "the server died")


if __name__ == "__main__":
    unittest.main()
