"""`tegami queue flush|delete` with no server running (issue 15): the command
holds data_dir/tegami.pid's flock while it changes the spool, as the server
does for its whole life (src/server/outbound.hpp PidFile), so a server
started meanwhile waits for it instead of recovering and delivering from a
spool being rewritten; a second command waits too. With a server running,
the commands signal it / take the spool lock as before (test_queue.py's
QueueCliTest).

Deterministic without any sleep-and-hope: the test holds the spool lock
(data_dir/queue/lock; a POSIX lock from Python conflicts with the command's
OFD lock) so that the command stops half-way with the pid lock held, or
holds the pid lock itself exactly as a command does ("PID queue").
"""
import fcntl
import os
import re
import smtplib
import socket
import subprocess
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import DOMAIN, Server, wait_for  # noqa: E402

DEST = "dest.test"
ALICE = f"alice@{DOMAIN}"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pid_lock_content(path):
    """The content of `path` while someone holds its flock, else None."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return os.pread(fd, 64, 0).decode()
    finally:
        os.close(fd)


class CommandLock:
    """data_dir/tegami.pid held the way a `tegami queue` command holds it."""

    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()} queue\n".encode(), 0)

    def release(self):
        if self.fd is not None:
            os.unlink(self.path)  # as the command does: unlink while locked, then close
            os.close(self.fd)
            self.fd = None


class SpoolLock:
    """data_dir/queue/lock held by the test: update()/remove() wait for it."""

    def __init__(self, queue_dir):
        self.fd = os.open(os.path.join(queue_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.lockf(self.fd, fcntl.LOCK_EX)

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class QueueLockTest(unittest.TestCase):

    def setUp(self):
        # A relaying server whose destination is down: one message stays in
        # the queue (next attempt in an hour); then the server stops.
        self.port = free_port()
        self.srv = Server(users=("alice",), extra_config={
            "relay.trusted_networks": '["127.0.0.1/32"]',
            "relay.routes": '{ "%s" = "127.0.0.1:%d" }' % (DEST, self.port),
            "queue.retry": '["1h"]'})
        self.addCleanup(self.srv.cleanup)
        self.srv.start()
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.sendmail(ALICE, [f"bob@{DEST}"],
                       f"From: {ALICE}\r\nSubject: queued\r\n\r\nHello.\r\n".encode())
        self.assertTrue(self.srv.wait_log(r"status=deferred"), self.srv.log())
        self.assertEqual(self.srv.stop(), 0)
        self.data = os.path.join(self.srv.dir, "data")
        self.pid_path = os.path.join(self.data, "tegami.pid")
        self.queue = os.path.join(self.data, "queue")
        self.qid = os.listdir(os.path.join(self.queue, "env"))[0]
        self.assertIsNone(pid_lock_content(self.pid_path))

    def env(self):
        path = os.path.join(self.queue, "env", self.qid)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return f.read()

    def command(self, *args):
        p = subprocess.Popen([harness.BIN, "-c", self.srv.conf, "queue", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def start_in_background(self):
        """srv.start() on a thread (it returns once the server listens)."""
        done = threading.Event()
        errors = []

        def run():
            try:
                self.srv.start(timeout=60)
            except BaseException as e:  # noqa: BLE001 - reported by the test
                errors.append(e)
            done.set()
        threading.Thread(target=run, daemon=True).start()
        return done, errors

    def new_log(self, mark):
        with self.srv._log_lock:
            return "\n".join(self.srv.log_lines[mark:])

    def check_server_waits_for(self, command_pid, release):
        """Starts the server while a command (pid) holds the lock: it waits,
        listens on nothing and leaves the spool alone until release()."""
        mark = len(self.srv.log_lines)
        done, errors = self.start_in_background()
        waiting = rf"waiting for `tegami queue` \(pid {command_pid}\) to finish with the spool"
        self.assertTrue(wait_for(lambda: re.search(waiting, self.new_log(mark)), 30),
                        self.new_log(mark))
        self.assertFalse(done.is_set())
        self.assertNotIn("listening", self.new_log(mark))
        self.assertNotIn("queue:", self.new_log(mark), "the runner must not have started")
        release()
        self.assertTrue(done.wait(60), self.new_log(mark))
        self.assertEqual(errors, [])
        self.assertEqual(pid_lock_content(self.pid_path), f"{self.srv.proc.pid}\n")
        return mark

    def test_delete_holds_the_lock_and_a_starting_server_waits(self):
        spool = SpoolLock(self.queue)
        self.addCleanup(spool.release)
        p = self.command("delete", self.qid)
        # The command has the pid lock and waits for the spool lock.
        self.assertTrue(wait_for(lambda: pid_lock_content(self.pid_path) == f"{p.pid} queue\n",
                                 30), pid_lock_content(self.pid_path))
        self.assertIsNotNone(self.env(), "nothing deleted while the spool lock is held")

        def release():
            spool.release()
            out, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err)
            self.assertEqual(out.strip(), f"deleted {self.qid}")
        self.check_server_waits_for(p.pid, release)
        self.assertIsNone(self.env())
        self.assertEqual(self.srv.cli("queue", "list").stdout, "")

    def test_flush_holds_the_lock_and_a_starting_server_waits(self):
        before = self.env()
        spool = SpoolLock(self.queue)
        self.addCleanup(spool.release)
        p = self.command("flush")
        self.assertTrue(wait_for(lambda: pid_lock_content(self.pid_path) == f"{p.pid} queue\n",
                                 30), pid_lock_content(self.pid_path))
        self.assertEqual(self.env(), before)

        def release():
            spool.release()
            out, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err)
            self.assertIn("no server is running; 1 message(s) will be tried at the next start",
                          out)
        self.check_server_waits_for(p.pid, release)
        self.assertNotEqual(self.env(), before, "next-attempt moved to the flush time")
        # The server that waited tries the flushed message at once (its
        # second attempt; the destination is still down).
        self.assertTrue(wait_for(
            lambda: "attempts: 2" in self.srv.cli("queue", "show", self.qid).stdout, 30),
            self.srv.log())

    def test_server_waits_for_a_command_holding_the_lock(self):
        lock = CommandLock(self.pid_path)
        self.addCleanup(lock.release)
        self.check_server_waits_for(os.getpid(), lock.release)

    def test_a_second_command_waits_for_the_first(self):
        before = self.env()
        lock = CommandLock(self.pid_path)
        self.addCleanup(lock.release)
        for args in (("flush",), ("delete", self.qid)):
            with self.subTest(args=args):
                p = self.command(*args)
                line = p.stderr.readline()
                self.assertIn(f"waiting for another `tegami queue` command (pid {os.getpid()})",
                              line)
                self.assertIsNone(p.poll())
                self.assertEqual(self.env(), before, "the spool is untouched while waiting")
                if args[0] == "flush":
                    lock.release()
                    out, err = p.communicate(timeout=30)
                    self.assertEqual(p.returncode, 0, err)
                    self.assertIn("1 message(s) will be tried", out)
                    before = self.env()
                    lock = CommandLock(self.pid_path)
                    self.addCleanup(lock.release)
                else:
                    lock.release()
                    out, err = p.communicate(timeout=30)
                    self.assertEqual(p.returncode, 0, err)
                    self.assertIsNone(self.env())
        self.assertIsNone(pid_lock_content(self.pid_path))
        self.assertFalse(os.path.exists(self.pid_path), "the command removes the file it locked")

    def test_with_a_server_running_the_commands_go_through_it(self):
        self.srv.start()
        out = self.srv.cli("queue", "flush").stdout
        self.assertIn(f"flush requested from the server (pid {self.srv.proc.pid})", out)
        self.assertEqual(self.srv.cli("queue", "delete", self.qid).stdout.strip(),
                         f"deleted {self.qid}")
        self.assertEqual(pid_lock_content(self.pid_path), f"{self.srv.proc.pid}\n",
                         "the server keeps its lock and its file")


if __name__ == "__main__":
    unittest.main()
