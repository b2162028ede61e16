"""The queue manager (issue 15) against the real tegami binary: one dead or
tarpitting destination never holds up the rest of the mail; connections are
reused; a dead destination costs one connection per retry round; SIGTERM
records deliveries in flight; an MX list that leads back to this server
bounces with 5.4.6 instead of looping.

Peers on loopback: test_queue.FakeSmtp (a scripted SMTP server that counts
connections and records commands), a tarpit (accepts TCP connections and
never says a word), a closed port, and dnsmasq for MX records.
"""
import os
import re
import smtplib
import socket
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from harness import need_tool, wait_for  # noqa: E402
import test_queue as tq  # noqa: E402

ALICE = tq.ALICE
DEST = tq.DEST


class Tarpit:
    """Accepts every connection and never greets."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def routes(**by_domain):
    body = ", ".join(f'"{d}" = "127.0.0.1:{p}"' for d, p in by_domain.items())
    return {"relay.routes": "{ " + body + " }"}


def send_many(srv, rcpt, n, prefix):
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=60) as s:
        for i in range(n):
            s.sendmail(ALICE, [rcpt], tq.message(f"{prefix} {i}"))


def subjects(peer):
    out = []
    for tx in peer.transactions:
        m = re.search(rb"\r\nSubject: ([^\r\n]*)", tx["data"] or b"")
        out.append(m.group(1).decode() if m else None)
    return out


def assert_loop_bounce(test, a, port, subject):
    """Mail for loop.test bounces with 5.4.6 at once, and the queue never
    connects to its own listener (the only SMTP session is the test's)."""
    tq.send(a, ["bob@loop.test"], tq.message(subject))
    dsn = wait_for(lambda: test.dsns(a), 20)
    test.assertTrue(dsn, a.log())
    _, _, per_rcpt, _ = tq.dsn_parts(dsn[0])
    test.assertEqual(per_rcpt[0]["Status"], "5.4.6")
    test.assertIn("loops back to myself", tq.unfold(per_rcpt[0]["Diagnostic-Code"]))
    test.wait_queue_empty(a)
    test.assertNotIn(f"connect to 127.0.0.1[127.0.0.1]:{port}", a.log())
    test.assertEqual(len(re.findall(r"smtp S\d+ connect ", a.log())), 1, a.log())


class QueueManagerTest(tq.QueueTestCase):

    def test_tarpit_does_not_hold_up_a_healthy_destination(self):
        """300 messages to a destination that accepts connections and never
        greets, then one to a healthy one: that one is delivered at once."""
        tarpit = Tarpit()
        self.addCleanup(tarpit.close)
        peer = tq.FakeSmtp()
        self.addCleanup(peer.close)
        a = self.relay(**routes(**{"tarpit.test": tarpit.port, DEST: peer.port}),
                       **{"queue.active_messages": "100", "limits.shutdown_grace": '"1s"'})
        send_many(a, "x@tarpit.test", 300, "tarpit")
        start = time.monotonic()
        tq.send(a, [f"bob@{DEST}"], tq.message("healthy"))
        self.assertTrue(wait_for(lambda: "healthy" in subjects(peer), 30), a.log())
        took = time.monotonic() - start
        self.assertLess(took, 5.0, f"the healthy destination waited {took:.1f}s\n" + a.log())
        # The tarpit holds its own probe connection, not everyone's slots.
        self.assertLessEqual(len(tarpit.conns), 2)
        self.assertEqual(len(self.queue_ids(a)), 300)

    def test_dead_destination_costs_one_connection_per_retry_round(self):
        port = tq.free_port()  # nothing listens: connection refused
        a = self.relay(**routes(**{DEST: port}), **{"queue.retry": '["2s"]'})
        start = time.monotonic()
        send_many(a, f"bob@{DEST}", 1000, "dead")
        time.sleep(5)  # at least two more retry rounds
        elapsed = time.monotonic() - start
        log = a.log()
        attempts = len(re.findall(rf"^\S+ info queue \S+/D\d+ connect to \S+:{port}: "
                                  r"Connection refused$", log, re.M))
        self.assertGreaterEqual(attempts, 2, log[-3000:])
        self.assertLessEqual(attempts, elapsed / 2 + 3,
                             f"{attempts} connection attempts in {elapsed:.0f}s")
        self.assertIn(f"destination route:127.0.0.1:{port} marked dead", log)
        listing = a.cli("queue", "list").stdout
        self.assertEqual(len(self.queue_ids(a)), 1000)
        # Deferred with the destination's reason, without a connection each.
        self.assertIn("delivery temporarily suspended", listing)

    def test_messages_to_one_destination_share_connections(self):
        peer = tq.FakeSmtp(greeting="421 4.3.2 not now")
        self.addCleanup(peer.close)
        a = self.relay(**tq.route(peer.port))
        send_many(a, f"bob@{DEST}", 50, "reuse")
        self.assertTrue(wait_for(lambda: "marked dead" in a.log(), 20), a.log())
        peer.greeting = "220 fake.test ESMTP"
        before = peer.connections
        a.cli("queue", "flush")
        self.assertTrue(wait_for(lambda: len(peer.transactions) >= 50, 60), a.log())
        self.wait_queue_empty(a)
        got = subjects(peer)
        self.assertEqual(sorted(got), sorted(f"reuse {i}" for i in range(50)))
        used = peer.connections - before
        self.assertLessEqual(used, 10, f"50 messages over {used} connections")
        # RSET between the messages of one connection (RFC 5321 §4.1.1.5).
        busiest = max(peer.commands, key=lambda v: v.count("MAIL"))
        self.assertGreater(busiest.count("MAIL"), 1)
        self.assertEqual(busiest.count("RSET"), busiest.count("MAIL") - 1, busiest)

    def test_sigterm_records_deliveries_in_flight(self):
        def slow(n):
            time.sleep(1.0)
            return "250 2.0.0 Ok"

        peer = tq.FakeSmtp(data_end=slow)
        self.addCleanup(peer.close)
        a = self.relay(**tq.route(peer.port), **{"limits.shutdown_grace": '"20s"'})
        send_many(a, f"bob@{DEST}", 12, "term")
        self.assertTrue(wait_for(lambda: peer.transactions, 20), a.log())
        a.stop()
        self.assertIn("stopped", a.log())
        self.assertNotIn("deliveries in flight cut off", a.log())
        delivered = len(peer.transactions)
        self.assertLess(delivered, 12, "the test should stop the server mid-queue")
        a.start()
        self.assertTrue(wait_for(lambda: len(peer.transactions) >= 12, 60), a.log())
        self.wait_queue_empty(a)
        time.sleep(1)
        got = subjects(peer)
        self.assertEqual(sorted(got), sorted(f"term {i}" for i in range(12)),
                         "each message exactly once")

    def test_entry_the_runner_does_not_know_is_found_by_the_scan(self):
        """The deferred queue is found again by scanning the spool: an entry
        the running server was never told about (as after a failed load or
        a lost submit) is delivered at the next scan, not at the next start."""
        peer = tq.FakeSmtp()
        self.addCleanup(peer.close)
        a = self.relay(**tq.route(peer.port), **{"queue.scan_interval": '"1s"'})
        qid = "1BD00000000ABCDE"
        spool = os.path.join(a.dir, "data", "queue")
        self.assertTrue(os.path.isdir(os.path.join(spool, "env")), os.listdir(a.dir))
        msg = tq.message("found by the scan")
        now = int(time.time())
        env = (f"tegami-queue 1\nid {qid}\nsender {ALICE}\ncreated {now}\nsize {len(msg)}\n"
               f"eight-bit 0\ndelay-warned 0\nrcpt bob@{DEST}\nstatus pending\nattempts 0\n"
               f"next-attempt {now}\nlast-attempt 0\nstatus-code \nremote-mta \n"
               f"diagnostic \nend\n")
        for sub, data in (("msg", msg), ("env", env.encode())):
            tmp = os.path.join(spool, "tmp", qid + "." + sub)
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, os.path.join(spool, sub, qid))
        self.assertTrue(wait_for(lambda: "found by the scan" in subjects(peer), 15), a.log())
        self.assertIn("queue: scan: 1 message(s) found in the spool", a.log())
        self.wait_queue_empty(a)

    def test_route_back_to_ourselves_bounces_with_5_4_6(self):
        port = tq.free_port()
        a = self.relay(**routes(**{"loop.test": port}),
                       **{"smtp.listen": f'["127.0.0.1:{port}"]'})
        assert_loop_bounce(self, a, port, "loop")


class MxLoopTest(tq.QueueTestCase):

    @classmethod
    def setUpClass(cls):
        need_tool("dnsmasq", "dnsmasq-base")
        super().setUpClass()

    def test_mx_pointing_back_to_this_server_bounces_with_5_4_6(self):
        port = tq.free_port()
        dns = tq.Dnsmasq("--mx-host=loop.test,mx.loop.test,10",
                         "--host-record=mx.loop.test,127.0.0.1")
        self.addCleanup(dns.stop)
        a = self.relay(**{"dns.servers": f'["127.0.0.1:{dns.port}"]',
                          "relay.mx_port": str(port), "smtp.listen": f'["127.0.0.1:{port}"]'})
        assert_loop_bounce(self, a, port, "mx loop")


if __name__ == "__main__":
    unittest.main()
