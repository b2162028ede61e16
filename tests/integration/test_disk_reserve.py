"""[limits] disk_reserve (issue 15, like Postfix's queue_minfree) against the
real tegami binary: MAIL is answered 452 4.3.1 while the free space of
data_dir's file system is below the reserve, or would be after a message of
the declared SIZE= (RFC 1870 section 6.2), on the smtp, submission and
submissions listeners; mail is accepted again once space is freed.

Two set-ups:
  * a 2 MiB tmpfs mounted as data_dir (needs root: CI runs as root; outside
    CI a run without root or without the right to mount skips, under
    CI=true it fails);
  * no mount: a reserve computed from the real free space of the test
    directory's file system (larger than it, or half of it).
"""
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import DOMAIN, PASSWORD, Server, wait_for  # noqa: E402

ALICE = f"alice@{DOMAIN}"
STRANGER = "someone@example.org"  # a remote sender: no AUTH needed on port smtp
MIB = 1024 * 1024
GIB = 1024 * MIB
SERVICES = ("smtp", "submission", "submissions", "pop3")
INSUFFICIENT = "4.3.1 Insufficient system storage"


def message(subject):
    return (f"From: <{STRANGER}>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@{DOMAIN}>\r\n\r\nHello.\r\n").encode()


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def mail_reply(srv, options=(), service="smtp"):
    """(code, text) of MAIL FROM on `service` (submission: after AUTH PLAIN;
    submissions: implicit TLS too), through smtplib."""
    if service == "submissions":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = smtplib.SMTP_SSL("127.0.0.1", srv.ports[service], timeout=30, context=ctx)
    else:
        s = smtplib.SMTP("127.0.0.1", srv.ports[service], timeout=30)
    with s:
        s.ehlo("client.example.org")
        sender = STRANGER
        if service != "smtp":
            s.login(ALICE, PASSWORD)
            sender = ALICE
        code, text = s.mail(sender, list(options))
        s.rset()
        return code, text.decode()


def send(srv, subject):
    """Delivers to alice; smtplib declares SIZE= itself (the server offers SIZE)."""
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
        s.ehlo("client.example.org")
        assert s.has_extn("size")
        return s.sendmail(STRANGER, [ALICE], message(subject))


class ReserveTestCase(unittest.TestCase):

    def server(self, **config):
        srv = Server(users=("alice",), extra_config=config, services=SERVICES)
        self.addCleanup(srv.cleanup)
        return srv

    def assertRefused(self, reply, why=""):
        code, text = reply
        self.assertEqual(code, 452, f"{why}: {reply}")
        self.assertTrue(text.startswith(INSUFFICIENT), f"{why}: {reply}")


# =============================================================================
# A real full file system: a 2 MiB tmpfs as data_dir
# =============================================================================

class TmpfsReserveTest(ReserveTestCase):

    def need_mount(self, srv):
        """Moves srv's data_dir onto a fresh 2 MiB tmpfs."""
        def cannot(why):
            if harness._ci():
                raise AssertionError(f"under CI=true this test must run: {why}")
            raise unittest.SkipTest(why)
        if os.geteuid() != 0:
            cannot("mounting a tmpfs needs root")
        data = os.path.join(srv.dir, "data")
        os.rename(data, data + ".orig")
        os.mkdir(data)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", data],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            cannot(f"mount -t tmpfs failed: {p.stderr.strip()}")
        # Cleanups run last-in first-out: unmounted after the server stopped
        # (srv.cleanup was registered before), before the folder is removed.
        self.addCleanup(lambda: subprocess.run(["umount", "-l", data], capture_output=True,
                                               timeout=30))
        self.addCleanup(srv.stop)
        shutil.copytree(data + ".orig", data, dirs_exist_ok=True)
        return data

    def test_full_tmpfs_refuses_mail_until_space_is_freed(self):
        srv = self.server(**{"limits.disk_reserve": '"1MiB"'})
        data = self.need_mount(srv)
        self.assertGreater(free_bytes(data), 1 * MIB + 256 * 1024,
                           "the directory left too little of the tmpfs for this test")
        srv.start()
        self.assertEqual(send(srv, "before"), {})
        self.assertEqual(len(srv.wait_messages("alice", 1)), 1)
        # SIZE=: free minus the declared size below the reserve (RFC 1870 6.2).
        free = free_bytes(data)
        # (64 KiB of margin: the server's measurement may be a second old.)
        self.assertRefused(mail_reply(srv, [f"SIZE={free - MIB + 64 * 1024}"]), "SIZE")
        self.assertEqual(mail_reply(srv, ["SIZE=1000"])[0], 250)

        # Fill the file system to 512 KiB short of the reserve.
        filler = os.path.join(data, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (free_bytes(data) - 512 * 1024))
        self.assertLess(free_bytes(data), MIB)
        self.assertTrue(srv.wait_log(r"disk space low: .* below \[limits\] disk_reserve"),
                        srv.log())
        self.assertRefused(mail_reply(srv), "full")
        with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
            send(srv, "while full")
        self.assertEqual(cm.exception.smtp_code, 452)
        self.assertRegex(srv.log(), r"reject from=<someone@example\.org> size=- "
                                    r"reply=\"452 4\.3\.1 Insufficient system storage\"")

        os.unlink(filler)
        self.assertTrue(srv.wait_log(r"disk space recovered: .* accepting mail again"), srv.log())
        self.assertEqual(send(srv, "after"), {})
        self.assertEqual(len(srv.wait_messages("alice", 2)), 2)
        subjects = [re.search(rb"(?m)^Subject: (\w+)", raw).group(1)
                    for _, raw in srv.messages("alice")]
        self.assertEqual(sorted(subjects), [b"after", b"before"])
        # One line when entering the low-space state, one when leaving it.
        self.assertEqual(len(re.findall(r"disk space low", srv.log())), 1, srv.log())
        self.assertEqual(len(re.findall(r"disk space recovered", srv.log())), 1, srv.log())


# =============================================================================
# No mount: a reserve set from the real free space
# =============================================================================

class ReserveFromFreeSpaceTest(ReserveTestCase):

    def test_reserve_larger_than_the_free_space_refuses_every_listener(self):
        srv = self.server()
        free = free_bytes(srv.dir)
        srv._rewrite_config({"limits.disk_reserve": '"%dGiB"' % (free // GIB + 1024)})
        srv.start()
        self.assertTrue(srv.wait_log(r"disk space low: "), srv.log())
        for service in ("smtp", "submission", "submissions"):
            with self.subTest(service=service):
                self.assertRefused(mail_reply(srv, service=service), service)
                self.assertRefused(mail_reply(srv, ["SIZE=100"], service=service), service)
        # No mail got in.
        self.assertEqual(srv.messages("alice"), [])

    def test_declared_size_that_would_eat_into_the_reserve_is_refused(self):
        srv = self.server()
        free = free_bytes(srv.dir)
        # Half the free space in reserve, and messages as large as the disk
        # (so SIZE= is not refused 552 first): a SIZE= of three quarters of
        # the free space would leave a quarter, less than the reserve.
        srv._rewrite_config({"limits.disk_reserve": str(free // 2),
                             "limits.message_size": str(free)})
        srv.start()
        self.assertRefused(mail_reply(srv, [f"SIZE={free * 3 // 4}"]), "SIZE")
        self.assertRefused(mail_reply(srv, [f"SIZE={free * 3 // 4}"], service="submission"),
                           "SIZE on submission")
        self.assertRegex(srv.log(), rf"reject from=<someone@example\.org> size={free * 3 // 4} "
                                    r"reply=\"452 4\.3\.1 ")
        self.assertEqual(mail_reply(srv)[0], 250)
        self.assertEqual(send(srv, "small"), {})
        self.assertEqual(len(srv.wait_messages("alice", 1)), 1)
        self.assertNotIn("disk space low", srv.log())

    def test_zero_turns_the_check_off(self):
        srv = self.server(**{"limits.disk_reserve": '"0"'})
        srv.start()
        self.assertEqual(send(srv, "no reserve"), {})
        self.assertEqual(len(srv.wait_messages("alice", 1)), 1)
        self.assertNotIn("disk reserve", srv.log())


if __name__ == "__main__":
    unittest.main()
