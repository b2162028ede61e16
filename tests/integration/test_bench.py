"""bench/compare.py, the side-by-side benchmark (issue 16), in its smoke-test mode.

Only the tegami target: comparing with Postfix + Dovecot needs them installed
(`bench/compare.py install`, root), which a test never does. The SMTP load comes
from smtp-source when the postfix package happens to be installed, else from
bench/benchlib/smtpload.py; one test forces the latter so both paths run here.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import BIN, SOURCE_DIR

COMPARE = os.path.join(SOURCE_DIR, "bench", "compare.py")


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class CompareQuick(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tegami-bench-it-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.work = os.path.join(self.tmp, "work")
        self.out = os.path.join(self.tmp, "out")

    def compare(self, *extra):
        return [sys.executable, COMPARE, "run", "--quick", "--targets", "tegami", "--tegami", BIN,
                "--work", self.work, "--out", self.out, *extra]

    def test_quick_run_writes_summary_env_and_raw(self):
        p = subprocess.run(self.compare(), capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        with open(os.path.join(self.out, "summary.md")) as f:
            summary = f.read()
        # one row per measurement, each with a number in the tegami column, and no failure
        for what in ("SMTP accept + durable Maildir delivery, 1 session |",
                     "SMTP accept + durable Maildir delivery, 20 sessions |",
                     "server CPU per message, SMTP, 20 sessions |",
                     "POP3 RETR+DELE, 1 connection |", "POP3 RETR+DELE, 8 connections |",
                     "memory per idle SMTP connection (PSS) |",
                     "memory per idle POP3 connection after login (PSS) |"):
            row = next((ln for ln in summary.splitlines() if what in ln), None)
            self.assertIsNotNone(row, f"no row {what!r} in:\n{summary}")
            self.assertRegex(row.split("|")[3], r"\d", row)
        self.assertNotIn("failed", summary)
        self.assertIn("| tegami |", summary)
        with open(os.path.join(self.out, "env.txt")) as f:
            env = f.read()
        for key in ("cpu:", "memory:", "kernel:", "os:", "work directory", "tegami:", "smtp client:"):
            self.assertIn(key, env)
        self.assertIn(self.work, env)
        with open(os.path.join(self.out, "raw.tsv")) as f:
            raw = [ln.split("\t") for ln in f.read().splitlines()[1:]]
        delivered = [r for r in raw if r[3] == "smtp" and r[5] == "deliver_msgs_per_s"]
        self.assertEqual(len(delivered), 2, raw)               # --quick: 1 rep, 1 and 20 sessions
        self.assertTrue(all(float(r[6]) > 0 for r in delivered))
        # the server is gone, and so is every client
        pids = [int(m) for m in re.findall(r"tegami pid (\d+)", p.stderr)]
        self.assertTrue(pids)
        self.assertFalse([pid for pid in pids if alive(pid)])

    def test_python_smtp_client(self):
        p = subprocess.run(self.compare("--tests", "smtp", "--client", "python", "--messages", "100"),
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        with open(os.path.join(self.out, "env.txt")) as f:
            self.assertIn("smtp client: smtpload.py", f.read())
        with open(os.path.join(self.out, "summary.md")) as f:
            summary = f.read()
        self.assertIn("SMTP accept + durable Maildir delivery, 20 sessions", summary)
        self.assertNotIn("POP3 RETR", summary)

    def test_sigterm_stops_the_server(self):
        # a run stopped half-way leaves no server behind
        p = subprocess.Popen(self.compare("--messages", "5000", "--smtp-concs", "1"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines, started = [], threading.Event()

        def reader():
            for ln in p.stderr:
                lines.append(ln)
                if "rep 1/1" in ln:
                    started.set()
            started.set()
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            self.assertTrue(started.wait(60), "".join(lines))
            time.sleep(0.5)                       # inside the SMTP burst
            p.send_signal(signal.SIGTERM)
            rc = p.wait(60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        t.join(5)
        p.stderr.close()
        self.assertNotEqual(rc, 0)
        pids = [int(m) for m in re.findall(r"tegami pid (\d+)", "".join(lines))]
        self.assertTrue(pids, "".join(lines))
        deadline = time.time() + 10
        while time.time() < deadline and any(alive(pid) for pid in pids):
            time.sleep(0.1)
        self.assertFalse([pid for pid in pids if alive(pid)], "".join(lines))
        self.assertIn("tegami stopped", "".join(lines))
        # the SMTP client was stopped too: nothing still writes to the work directory
        out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        self.assertNotIn(self.work, out)


if __name__ == "__main__":
    unittest.main()
