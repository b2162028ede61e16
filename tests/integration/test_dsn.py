"""Delivery Status Notifications (RFC 3461, issue 15) against the real binary.

Clients are Python's smtplib with `mail_options` (RET=, ENVID=) and
`rcpt_options` (NOTIFY=, ORCPT=); peers are a second tegami (which offers
DSN: the parameters go on with the message and that tegami answers for
them) and test_queue.FakeSmtp (with or without DSN in its EHLO: it records
the exact MAIL and RCPT commands). Covered: the parameters' round trip,
NOTIFY=NEVER and NOTIFY without FAILURE (no bounce), NOTIFY=SUCCESS through a
next hop without DSN ("relayed") and into a local mailbox ("delivered"),
RET=FULL (the whole message, or its header section above the size cap), the
double bounce to the postmaster and its end when it fails too, and the
bounce for an unknown local sender.
"""
import email
import email.policy
import os
import smtplib
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from harness import DOMAIN, Server, wait_for  # noqa: E402
from test_queue import (ALICE, DEST, DEST_HOST, FakeSmtp, QueueTestCase, free_port,  # noqa: E402
                        message, route, unfold)

ENVID = "QQ+2B314"           # xtext of "QQ+314"
ENVID_DECODED = "QQ+314"


def send(srv, rcpts, msg, sender=ALICE, mail_options=(), rcpt_options=()):
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
        s.ehlo("client.example.org")
        return s.sendmail(sender, rcpts, msg, mail_options=list(mail_options),
                          rcpt_options=list(rcpt_options))


def report(raw):
    """(top message, human text, per-message fields, per-recipient fields,
    third part) of a DSN."""
    m = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert m.get_content_type() == "multipart/report", m.get_content_type()
    parts = m.get_payload()
    assert [p.get_content_type() for p in parts[:2]] == ["text/plain", "message/delivery-status"], \
        [p.get_content_type() for p in parts]
    blocks = parts[1].get_payload()
    per_msg = {k: unfold(v) for k, v in blocks[0].items()}
    per_rcpt = [{k: unfold(v) for k, v in b.items()} for b in blocks[1:]]
    return m, unfold(parts[0].get_payload()), per_msg, per_rcpt, parts[2]


def dsns(srv, user):
    return [raw for _, raw in srv.messages(user) if b"multipart/report" in raw]


class DsnTestCase(QueueTestCase):

    def fake(self, dsn, rcpt=None):
        ehlo = ("PIPELINING", "8BITMIME", "SIZE 10000000") + (("DSN",) if dsn else ())
        f = FakeSmtp(ehlo=ehlo, rcpt=rcpt)
        self.addCleanup(f.close)
        return f


# =============================================================================
# The parameters travel with the message
# =============================================================================

class RoundTripTest(DsnTestCase):

    def test_parameters_reach_a_dsn_peer_exactly_and_no_relayed_dsn_is_sent(self):
        fake = self.fake(dsn=True)
        a = self.relay(**route(fake.port))
        refused = send(a, [f"bob@{DEST}", f"carol@{DEST}"], message("to a dsn peer"),
                       mail_options=["RET=HDRS", "ENVID=" + ENVID],
                       rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob+2Bx@dest.test"])
        self.assertEqual(refused, {})
        self.wait_queue_empty(a)
        self.assertEqual(len(fake.transactions), 1, a.log())
        tx = fake.transactions[0]
        self.assertRegex(tx["mail"], r"^MAIL FROM:<alice@example\.test> SIZE=\d+ "
                                     r"RET=HDRS ENVID=QQ\+2B314$")
        # smtplib gives both recipients the same options; each goes on as given.
        self.assertEqual(tx["rcpt_cmds"], [
            f"RCPT TO:<bob@{DEST}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+2Bx@dest.test",
            f"RCPT TO:<carol@{DEST}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+2Bx@dest.test"])
        # The peer offered DSN: it answers for NOTIFY=SUCCESS (RFC 3461 §5.2.1).
        time.sleep(1)
        self.assertEqual(dsns(a, "alice"), [], a.log())

    def test_second_tegami_receives_them_and_reports_the_delivery(self):
        # A (example.test) relays to B (dest.test); B delivers into bob's
        # mailbox and, asked NOTIFY=SUCCESS, sends the "delivered" DSN back
        # through its own queue to alice at A, quoting ENVID and ORCPT.
        port_a = free_port()
        b = Server(domain=DEST, hostname=DEST_HOST, users=("bob",),
                   extra_config={"queue.retry": '["1s"]',
                                 "relay.routes": '{ "%s" = "127.0.0.1:%d" }' % (DOMAIN, port_a)})
        self.addCleanup(b.cleanup)
        b.start()
        a = self.relay(**route(b.ports["smtp"]), **{"smtp.listen": f'["127.0.0.1:{port_a}"]'})
        send(a, [f"bob@{DEST}"], message("round trip"),
             mail_options=["RET=HDRS", "ENVID=" + ENVID],
             rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob+2Bx@dest.test"])
        self.assertEqual(len(b.wait_messages("bob", 1)), 1, a.log())
        got = wait_for(lambda: dsns(a, "alice"), 20)
        self.assertTrue(got, a.log() + "\n----\n" + b.log())
        self.assertEqual(len(got), 1)
        top, text, per_msg, per_rcpt, third = report(got[0])
        self.assertEqual(top["Subject"], "Successful Mail Delivery Report")
        self.assertEqual(per_msg["Reporting-MTA"], f"dns; {DEST_HOST}")
        self.assertEqual(per_msg["Original-Envelope-Id"], ENVID_DECODED)
        self.assertEqual(len(per_rcpt), 1, per_rcpt)
        self.assertEqual(per_rcpt[0]["Original-Recipient"], "rfc822; bob+x@dest.test")
        self.assertEqual(per_rcpt[0]["Final-Recipient"], f"rfc822; bob@{DEST}")
        self.assertEqual(per_rcpt[0]["Action"], "delivered")
        self.assertEqual(per_rcpt[0]["Status"], "2.0.0")
        self.assertEqual(third.get_content_type(), "text/rfc822-headers")
        self.assertIn("Subject: round trip", third.get_payload())
        # A said nothing itself: B offered DSN, so no "relayed" from A.
        self.assertNotIn("success notice", a.log())
        time.sleep(1)
        self.assertEqual(len(dsns(a, "alice")), 1)

    def test_next_tegami_stores_the_parameters_in_its_queue(self):
        # A relays to B, which relays on towards a port where nobody listens:
        # B keeps the message in its queue with what A passed on.
        far = "far.test"
        b = Server(domain=DEST, hostname=DEST_HOST, users=("bob",),
                   extra_config={"relay.trusted_networks": '["127.0.0.1/32"]',
                                 "relay.routes": '{ "%s" = "127.0.0.1:%d" }' % (far, free_port())})
        self.addCleanup(b.cleanup)
        b.start()
        a = self.relay(**{"relay.routes": '{ "%s" = "127.0.0.1:%d" }' % (far, b.ports["smtp"])})
        send(a, [f"zoe@{far}"], message("two hops"), mail_options=["RET=FULL", "ENVID=" + ENVID],
             rcpt_options=["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;Zoe+2Bx@far.test"])
        self.wait_queue_empty(a)
        ids = wait_for(lambda: self.queue_ids(b), 20)
        self.assertEqual(len(ids), 1, b.log())
        shown = b.cli("queue", "show", ids[0]).stdout
        for line in ("ret: FULL", "envid: " + ENVID_DECODED, "  notify: SUCCESS,DELAY",
                     "  orcpt: rfc822;Zoe+x@far.test"):
            self.assertIn(line + "\n", shown, shown)
        env = open(os.path.join(b.dir, "data", "queue", "env", ids[0])).read()
        self.assertIn("ret FULL\nenvid QQ+314\n", env)
        self.assertIn("notify SUCCESS,DELAY\norcpt rfc822;Zoe+x@far.test\n", env)
        # B offered DSN: A owes nothing.
        time.sleep(1)
        self.assertEqual(dsns(a, "alice"), [], a.log())

    def test_bad_parameters_are_refused_by_smtplib_clients(self):
        a = self.relay()
        with smtplib.SMTP("127.0.0.1", a.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example.org")
            self.assertTrue(s.has_extn("dsn"))
            self.assertEqual(s.mail(ALICE, ["RET=ALL"])[0], 501)
            self.assertEqual(s.mail(ALICE, ["ENVID=a+zz"])[0], 501)
            self.assertEqual(s.mail(ALICE, ["ENVID=" + "x" * 101])[0], 501)
            self.assertEqual(s.mail(ALICE, ["RET=FULL", "ENVID=ok"])[0], 250)
            self.assertEqual(s.rcpt("bob@" + DOMAIN, ["NOTIFY=NEVER,DELAY"])[0], 501)
            self.assertEqual(s.rcpt("bob@" + DOMAIN, ["NOTIFY=SUCCESS", "NOTIFY=DELAY"])[0], 501)
            self.assertEqual(s.rcpt("bob@" + DOMAIN, ["ORCPT=bob@example.test"])[0], 501)
            self.assertEqual(s.rcpt("bob@" + DOMAIN, ["ORCPT=rfc822;" + "b" * 494])[0], 501)
            self.assertEqual(s.rcpt("bob@" + DOMAIN, ["RET=FULL"])[0], 555)
            # A long ORCPT makes the line longer than 512 octets: accepted.
            code, _ = s.rcpt("bob@" + DOMAIN, ["NOTIFY=DELAY", "ORCPT=rfc822;" + "b" * 480])
            self.assertEqual(code, 250)


# =============================================================================
# NOTIFY decides which DSNs are sent
# =============================================================================

class NotifyTest(DsnTestCase):

    def test_never_and_a_notify_without_failure_get_no_bounce(self):
        fake = self.fake(dsn=False, rcpt=lambda addr: "550 5.1.1 no such user")
        a = self.relay(**route(fake.port))
        with smtplib.SMTP("127.0.0.1", a.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example.org")
            s.mail(ALICE)
            self.assertEqual(s.rcpt(f"never@{DEST}", ["NOTIFY=NEVER"])[0], 250)
            self.assertEqual(s.rcpt(f"success-only@{DEST}", ["NOTIFY=SUCCESS"])[0], 250)
            self.assertEqual(s.rcpt(f"failure@{DEST}", ["NOTIFY=FAILURE"])[0], 250)
            self.assertEqual(s.rcpt(f"default@{DEST}")[0], 250)
            self.assertEqual(s.data(message("notify mix"))[0], 250)
        self.wait_queue_empty(a)
        got = wait_for(lambda: dsns(a, "alice"), 20)
        self.assertEqual(len(got), 1, a.log())
        _, _, _, per_rcpt, _ = report(got[0])
        self.assertEqual(sorted(r["Final-Recipient"] for r in per_rcpt),
                         [f"rfc822; default@{DEST}", f"rfc822; failure@{DEST}"])
        self.assertRegex(a.log(), r"no bounce for <never@dest\.test>: NOTIFY=NEVER")
        self.assertRegex(a.log(), r"no bounce for <success-only@dest\.test>: NOTIFY=SUCCESS")

        # Only NOTIFY=NEVER recipients: no bounce at all, and the entry goes.
        send(a, [f"never2@{DEST}"], message("never"), rcpt_options=["NOTIFY=NEVER"])
        self.assertTrue(a.wait_log(r"no bounce for <never2@dest\.test>: NOTIFY=NEVER"), a.log())
        self.wait_queue_empty(a)
        time.sleep(1)
        self.assertEqual(len(dsns(a, "alice")), 1)

    def test_success_through_a_peer_without_dsn_is_relayed(self):
        fake = self.fake(dsn=False)
        a = self.relay(**route(fake.port))
        send(a, [f"bob@{DEST}"], message("relayed"), mail_options=["ENVID=" + ENVID],
             rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;Bob@dest.test"])
        got = wait_for(lambda: dsns(a, "alice"), 20)
        self.assertTrue(got, a.log())
        # Nothing DSN-ish went to the peer that does not know it.
        tx = fake.transactions[0]
        self.assertRegex(tx["mail"], r"^MAIL FROM:<alice@example\.test> SIZE=\d+$")
        self.assertEqual(tx["rcpt_cmds"], [f"RCPT TO:<bob@{DEST}>"])
        top, text, per_msg, per_rcpt, third = report(got[0])
        self.assertEqual(top["Subject"], "Successful Mail Delivery Report")
        self.assertTrue(got[0].startswith(b"Return-Path: <>\n"), got[0][:80])
        self.assertEqual(per_msg["Original-Envelope-Id"], ENVID_DECODED)
        self.assertEqual(per_rcpt[0]["Action"], "relayed")
        self.assertEqual(per_rcpt[0]["Status"], "2.0.0")
        self.assertEqual(per_rcpt[0]["Original-Recipient"], "rfc822; Bob@dest.test")
        self.assertEqual(per_rcpt[0]["Final-Recipient"], f"rfc822; bob@{DEST}")
        self.assertTrue(per_rcpt[0]["Diagnostic-Code"].startswith("smtp; 250 2.0.0"), per_rcpt)
        self.assertIn("relayed to a system that does not support delivery status", text)
        self.assertEqual(third.get_content_type(), "text/rfc822-headers")
        self.wait_queue_empty(a)
        time.sleep(1)
        self.assertEqual(len(dsns(a, "alice")), 1)  # once

        # Without NOTIFY=SUCCESS: no success notice.
        send(a, [f"bob@{DEST}"], message("plain"))
        self.assertTrue(wait_for(lambda: len(fake.transactions) == 2, 20), a.log())
        self.wait_queue_empty(a)
        time.sleep(1)
        self.assertEqual(len(dsns(a, "alice")), 1)

    def test_local_delivery_with_success_gets_a_delivered_dsn(self):
        a = self.relay()
        send(a, [f"bob@{DOMAIN}"], message("local"), mail_options=["ENVID=" + ENVID],
             rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;bob@example.test"])
        # The notice is durable before the 250: it is there at once.
        got = dsns(a, "alice")
        self.assertEqual(len(got), 1, a.log())
        self.assertEqual(len(a.messages("bob")), 1)
        top, text, per_msg, per_rcpt, third = report(got[0])
        self.assertEqual(top["To"], f"<{ALICE}>")
        self.assertEqual(per_msg["Original-Envelope-Id"], ENVID_DECODED)
        self.assertEqual(per_rcpt[0]["Action"], "delivered")
        self.assertEqual(per_rcpt[0]["Final-Recipient"], f"rfc822; bob@{DOMAIN}")
        self.assertEqual(per_rcpt[0]["Original-Recipient"], "rfc822; bob@example.test")
        self.assertIn("Subject: local", third.get_payload())
        self.assertIn("by mail.example.test (tegami)", third.get_payload())  # our Received:

        # Never a success notice to <>, nor without NOTIFY=SUCCESS.
        send(a, [f"bob@{DOMAIN}"], message("from null"), sender="",
             rcpt_options=["NOTIFY=SUCCESS"])
        send(a, [f"bob@{DOMAIN}"], message("no notify"))
        self.assertEqual(len(a.messages("bob")), 3)
        self.assertEqual(len(dsns(a, "alice")), 1)
        self.assertEqual(len(dsns(a, "postmaster")), 0)


# =============================================================================
# RET: the whole message or its header section
# =============================================================================

class RetTest(DsnTestCase):

    def test_ret_full_returns_the_whole_message(self):
        fake = self.fake(dsn=False, rcpt=lambda addr: "550 5.1.1 no such user")
        a = self.relay(**route(fake.port))
        body = "first line\r\n.a line with a dot\r\nSECRET BODY\r\n"
        send(a, [f"x@{DEST}"], message("full", body=body), mail_options=["RET=FULL"])
        got = wait_for(lambda: dsns(a, "alice"), 20)
        self.assertTrue(got, a.log())
        _, text, _, per_rcpt, third = report(got[0])
        self.assertEqual(per_rcpt[0]["Action"], "failed")
        self.assertEqual(third.get_content_type(), "message/rfc822")
        inner = third.get_payload()[0]
        self.assertEqual(inner["Subject"], "full")
        self.assertEqual(inner.get_payload(), "first line\n.a line with a dot\nSECRET BODY\n")
        self.assertIn("It is attached below.", text)

        # RET=HDRS (and no RET): the header section only.
        send(a, [f"y@{DEST}"], message("hdrs", body=body), mail_options=["RET=HDRS"])
        got = wait_for(lambda: len(dsns(a, "alice")) == 2 and dsns(a, "alice"), 20)
        self.assertTrue(got, a.log())
        last = [r for r in got if b"Subject: hdrs" in r]
        self.assertEqual(len(last), 1)
        _, _, _, _, third = report(last[0])
        self.assertEqual(third.get_content_type(), "text/rfc822-headers")
        self.assertNotIn(b"SECRET BODY", last[0])

    def test_ret_full_over_the_size_cap_returns_the_header_section(self):
        fake = self.fake(dsn=False, rcpt=lambda addr: "550 5.1.1 no such user")
        a = self.relay(**route(fake.port), **{"limits.message_size": '"4KiB"'})
        # Under the limit as sent; over it once our Received: field is on top.
        body = ("z" * 70 + "\r\n") * 55
        msg = message("big", body=body)
        self.assertLess(len(msg), 4096)
        send(a, [f"x@{DEST}"], msg, mail_options=["RET=FULL"])
        got = wait_for(lambda: dsns(a, "alice"), 20)
        self.assertTrue(got, a.log())
        _, _, _, _, third = report(got[0])
        self.assertEqual(third.get_content_type(), "text/rfc822-headers")
        self.assertIn("too big to return whole", a.log())


# =============================================================================
# The postmaster: double bounces and unknown local senders
# =============================================================================

class PostmasterTest(DsnTestCase):

    def test_double_bounce_reaches_the_postmaster(self):
        fake = self.fake(dsn=False, rcpt=lambda addr: "550 5.1.1 no such user")
        a = self.relay(**route(fake.port))
        # A bounce (from <>) that cannot be delivered.
        bounce = message("Undelivered Mail Returned to Sender", body="the original bounce text\r\n")
        send(a, [f"gone@{DEST}"], bounce, sender="")
        got = wait_for(lambda: dsns(a, "postmaster"), 20)
        self.assertTrue(got, a.log())
        self.assertEqual(len(got), 1)
        raw = got[0]
        self.assertTrue(raw.startswith(b"Return-Path: <>\n"), raw[:80])
        top, text, _, per_rcpt, third = report(raw)
        self.assertEqual(top["To"], f"<postmaster@{DOMAIN}>")
        self.assertEqual(top["Subject"], "Postmaster Copy: Undelivered Mail")
        self.assertIn("null sender <>", text)
        self.assertEqual(per_rcpt[0]["Final-Recipient"], f"rfc822; gone@{DEST}")
        self.assertEqual(per_rcpt[0]["Status"], "5.1.1")
        # The whole bounce comes with it.
        self.assertEqual(third.get_content_type(), "message/rfc822")
        self.assertIn("the original bounce text", third.get_payload()[0].get_payload())
        self.assertRegex(a.log(), r"never a bounce of a bounce")
        self.wait_queue_empty(a)
        self.assertEqual(dsns(a, "alice"), [])
        self.assertEqual(len(fake.transactions), 0)  # refused at RCPT: no DATA

    def test_a_failed_double_bounce_is_dropped_and_logged(self):
        # The postmaster is remote and refuses everything: the double bounce
        # goes through the queue, fails, and is dropped (no third level).
        fake = self.fake(dsn=False, rcpt=lambda addr: "550 5.1.1 no such user")
        a = self.relay(start=False, **route(fake.port),
                       **{"postmaster": f'"pm@{DEST}"'})
        a.cli("user", "del", f"postmaster@{DOMAIN}")
        a.start()
        send(a, [f"gone@{DEST}"], message("a bounce"), sender="")
        self.assertTrue(a.wait_log(r"double bounce to <pm@dest\.test> undeliverable .*dropped",
                                   timeout=20), a.log())
        self.wait_queue_empty(a)
        time.sleep(2)
        # Two attempts reached the peer: the bounce, then the double bounce
        # (from <>); nothing after that.
        rcpts = [cmd for conn in fake.commands for cmd in conn if cmd == "RCPT"]
        self.assertEqual(len(rcpts), 2, fake.commands)
        self.assertRegex(a.log(), r"postmaster copy of the bounce for 1 recipient\(s\) queued to "
                                  r"pm@dest\.test")
        self.assertEqual(a.log().count("double bounce to <pm@dest.test> undeliverable"), 1)
        self.assertEqual(self.queue_ids(a), [])

    def test_unknown_local_senders_bounce_goes_to_the_postmaster(self):
        fake = self.fake(dsn=False, rcpt=lambda addr: "550 5.1.1 no such user")
        a = self.relay(**route(fake.port))
        send(a, [f"x@{DEST}"], message("ghost mail"), sender=f"ghost@{DOMAIN}")
        got = wait_for(lambda: dsns(a, "postmaster"), 20)
        self.assertTrue(got, a.log())
        top, text, _, per_rcpt, third = report(got[0])
        self.assertEqual(top["Subject"], "Postmaster Copy: Undelivered Mail")
        self.assertIn(f"its sender <ghost@{DOMAIN}> does not exist here", text)
        self.assertEqual(per_rcpt[0]["Final-Recipient"], f"rfc822; x@{DEST}")
        self.assertEqual(third.get_content_type(), "text/rfc822-headers")
        self.assertRegex(a.log(), r"the sender ghost@example\.test is unknown here: its bounce goes "
                                  r"to the postmaster")
        self.wait_queue_empty(a)


if __name__ == "__main__":
    unittest.main()
