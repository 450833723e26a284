"""The schedule against the real agent: reloads and concurrency limits.

Reschedule: a SIGHUP that lowers `interval` from 1 h to 1 s applies at
once: every target is probed within seconds, not when the old schedule
comes due (issue 9, item 5). A target that overrides `interval` keeps its
own.

HostLimit: 40 targets on one host with max_per_host = 4 and a server slow
enough that they queue for the host's slots: every target is probed (none
starves), the skipped rounds are counted with reason host_limit (none as
running) and logged as waiting for a slot on the host; the server never
sees more than 4 connections at once (issue 9, item 6).

RescheduleTimeout: a shorter `timeout` at reload ends a probe already
running at its new deadline.

TimeoutEqualsInterval: with timeout = interval, a probe that runs to its
deadline does not cost the next round: the next probe starts late instead
and no skip is counted (issue 9, item 11).

ManyTargetsReload: 1,000 targets and a reload that replaces 100 of them:
the others keep their counters, every target is probed again, and the
loop keeps up (issue 11).

Every server here listens on 127.0.0.1 only; every wait has a deadline.
"""

import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402
from slow_smtp import SlowSmtpServer  # noqa: E402


def plain_target(name, port, **keys):
    """A [target] without TLS or AUTH: one EHLO session."""
    lines = ['[target "%s"]' % name, "host = 127.0.0.1",
             "port = %d" % port, "tls = none"]
    lines += ["%s = %s" % kv for kv in keys.items()]
    return "\n" + "\n".join(lines) + "\n"


def probes_of(samples, names):
    return {n: harness.metric(samples, "smtp_probes_total", target=n) or 0
            for n in names}


def skipped(samples, **labels):
    """{(target, reason): value} of smtp_agent_probes_skipped_total."""
    out = {}
    for lbl, v in harness.series(samples, "smtp_agent_probes_skipped_total",
                                 **labels).items():
        d = dict(lbl)
        out[(d["target"], d.get("reason"))] = v
    return out


class Reschedule(unittest.TestCase):
    """Item 5: a shorter interval applies at reload, not after the old
    schedule's next round."""

    def test_interval_lowered_by_sighup_applies_at_once(self):
        srv = self.enterContext(SlowSmtpServer())
        names = ["r%d" % i for i in range(4)]
        # Spread over 1 h in config order: "own" is probed at start, r0..r3
        # only after 12 to 48 minutes. "own" keeps its 1 h through the
        # reload.
        targets = "".join(plain_target(n, srv.port) for n in names)
        own = plain_target("own", srv.port, interval="1h")
        before = "[agent]\ninterval = 1h\ntimeout = 5s\n"
        ag = self.enterContext(harness.run_agent(
            harness.agent_binary(), before + own + targets))
        scrape = lambda: harness.scrape(ag.port)[1]  # noqa: E731
        harness.wait_for(lambda: probes_of(scrape(), ["own"])["own"] == 1,
                         20, message="the first target's first probe")
        # Before the reload: that one probe; the others wait for their
        # place in the hour.
        first = probes_of(scrape(), names + ["own"])
        self.assertEqual(sum(first.values()), 1, first)

        with open(ag.config_path, "w") as f:
            f.write("[agent]\ninterval = 1s\ntimeout = 900ms\n" + own +
                    targets)
        ag.signal(signal.SIGHUP)
        harness.wait_for(lambda: "config reloaded" in ag.stderr(), 10,
                         message="the reload")
        # Every target follows the new 1 s interval within seconds: three
        # probes each takes three intervals, bounded generously.
        got = harness.wait_for(
            lambda: (lambda p: p if min(p.values()) >= 3 else None)(
                probes_of(scrape(), names)), 30,
            message="3 probes of every target after the reload")
        s = scrape()
        self.assertEqual(harness.metric(
            s, "smtp_agent_config_last_reload_successful"), 1)
        # The override keeps its own hour: probed once, at start.
        self.assertEqual(probes_of(s, ["own"])["own"], 1, got)
        # Nothing was skipped: the reload did not count the rounds of
        # the new interval that "passed" under the old one.
        self.assertEqual(sum(skipped(s).values()), 0, skipped(s))


class RescheduleTimeout(unittest.TestCase):
    """Item 5's sibling: a shorter timeout applies at reload to a probe
    already running, not only to the next one. Before, a probe that
    started with timeout = 1h against a silent server kept its deadline
    after a reload to 2s/1s: the target stayed unprobed for the hour."""

    def test_timeout_lowered_by_sighup_ends_the_running_probe(self):
        srv = self.enterContext(SlowSmtpServer(silent=True))
        ag = self.enterContext(harness.run_agent(
            harness.agent_binary(), "[agent]\ninterval = 1h\ntimeout = 1h\n"
            + plain_target("hang", srv.port)))
        scrape = lambda: harness.scrape(ag.port)[1]  # noqa: E731
        harness.wait_for(lambda: srv.connections >= 1, 10,
                         message="the first probe to connect")
        with open(ag.config_path, "w") as f:
            f.write("[agent]\ninterval = 2s\ntimeout = 1s\n"
                    + plain_target("hang", srv.port))
        ag.signal(signal.SIGHUP)
        # The running probe ends at its new deadline (plus curl's grace),
        # and the next ones follow every 2 s.
        s = harness.wait_for(
            lambda: (lambda s2: s2 if (harness.metric(
                s2, "smtp_probes_total", target="hang") or 0) >= 2
                else None)(scrape()), 15,
            message="2 probes within 15 s of the reload")
        self.assertGreaterEqual(harness.metric(
            s, "smtp_probe_errors_total", target="hang", error="timeout"), 2)


class HostLimit(unittest.TestCase):
    """Item 6: waiting for a per-host slot is its own reason, counted and
    logged as such, and no target starves."""

    N = 40
    # A probe takes ~3 x 0.4 s; 40 of them through 4 slots take ~12 s, more
    # than the 8 s interval, so targets queue and rounds are skipped. A
    # probe (1.2 s) is shorter than the 2 s tolerance for lateness, so no
    # probe is ever still running at its next round's deadline.
    DELAY = 0.4
    INTERVAL = 8

    def test_every_target_probed_and_skips_say_host_limit(self):
        srv = self.enterContext(SlowSmtpServer(self.DELAY))
        names = ["h%02d" % i for i in range(self.N)]
        cfg = ("[agent]\ninterval = %ds\ntimeout = 5s\nmax_per_host = 4\n"
               % self.INTERVAL +
               "".join(plain_target(n, srv.port) for n in names))
        ag = self.enterContext(harness.run_agent(harness.agent_binary(),
                                                 cfg))
        scrape = lambda: harness.scrape(ag.port)[1]  # noqa: E731

        def all_probed_and_skips():
            s = scrape()
            p = probes_of(s, names)
            hl = sum(v for (t, r), v in skipped(s).items()
                     if r == "host_limit")
            return s if min(p.values()) >= 1 and hl > 0 else None
        # One pass over 40 targets takes ~12 s; bounded generously.
        s = harness.wait_for(all_probed_and_skips, 120,
                             message="every target probed and host_limit "
                                     "skips counted")
        # Every target probed at least once more: nobody starves after
        # the first pass either.
        first = probes_of(s, names)
        s = harness.wait_for(
            lambda: (lambda s2: s2 if all(
                probes_of(s2, names)[n] > first[n] for n in names)
                else None)(scrape()), 120,
            message="a second probe of every target")

        sk = skipped(s)
        reasons = {r for (_, r) in sk}
        self.assertIn("host_limit", reasons, sk)
        self.assertNotIn(None, reasons, sk)  # every series has a reason
        # Probes end within their round: none skipped as still running,
        # and the global limit (256) never held one.
        for n in names:
            # By default the series appears with the first such skip.
            self.assertEqual(sk.get((n, "running"), 0), 0, (n, sk))
            self.assertFalse(sk.get((n, "global_limit")), (n, sk))
        # The host never saw more connections than max_per_host.
        self.assertLessEqual(srv.max_open, 4)
        self.assertGreaterEqual(srv.max_open, 1)

        err = ag.stderr()
        self.assertNotIn("the last one still runs", err)
        lines = [ln for ln in err.splitlines()
                 if "probe skipped: waiting for a slot on its host" in ln]
        self.assertTrue(lines, harness.tail(ag.stderr_path))
        for ln in lines:
            self.assertIn("host=127.0.0.1", ln)
            self.assertIn("max_per_host=4", ln)
            self.assertRegex(ln, r"\btarget=h\d\d\b")


class HostLimitFairness(unittest.TestCase):
    """Item 6: under a heavy overload (40 probes of ~0.6 s through 4 slots
    every 1.5 s: four times what the host's slots can do) the slots go
    round: first come, first served, so no target falls behind."""

    def test_no_target_falls_behind(self):
        srv = self.enterContext(SlowSmtpServer(0.2))
        names = ["f%02d" % i for i in range(40)]
        cfg = ("[agent]\ninterval = 1500ms\ntimeout = 1500ms\n"
               "max_per_host = 4\n" +
               "".join(plain_target(n, srv.port) for n in names))
        ag = self.enterContext(harness.run_agent(harness.agent_binary(),
                                                 cfg))

        def leader_at_5():
            s = harness.scrape(ag.port)[1]
            return s if max(probes_of(s, names).values()) >= 5 else None
        s = harness.wait_for(leader_at_5, 180,
                             message="5 probes of the most probed target")
        p = probes_of(s, names)
        # One scrape: when the leader has 5, a first-come-first-served
        # queue has given every other target at least 3 (in flight and
        # queued ones may be one or two behind).
        lag = {n: v for n, v in p.items() if v < max(p.values()) - 2}
        self.assertEqual(lag, {}, p)
        self.assertLessEqual(srv.max_open, 4)
        reasons = {r for (_, r) in skipped(s)}
        self.assertIn("host_limit", reasons)
        self.assertNotIn("global_limit", reasons)


class TimeoutEqualsInterval(unittest.TestCase):
    """Item 11: timeout = interval is valid (README: "at most interval");
    a probe that times out starts the next round late, not skipped."""

    def test_timed_out_probes_do_not_count_skips(self):
        srv = self.enterContext(SlowSmtpServer(silent=True))
        cfg = ("[agent]\ninterval = 1s\ntimeout = 1s\n" +
               plain_target("hang", srv.port))
        ag = self.enterContext(harness.run_agent(harness.agent_binary(),
                                                 cfg))
        scrape = lambda: harness.scrape(ag.port)[1]  # noqa: E731
        s = harness.wait_for(
            lambda: (lambda s2: s2 if harness.metric(
                s2, "smtp_probes_total", target="hang") >= 6 else None)(
                    scrape()), 60, message="6 timed-out probes")
        self.assertGreaterEqual(harness.metric(
            s, "smtp_probe_errors_total", target="hang", error="timeout"), 5)
        self.assertEqual(sum(skipped(s).values()), 0, skipped(s))
        self.assertNotIn("probe skipped", ag.stderr())
        # Every probe reached the server and waited there for its end.
        self.assertGreaterEqual(srv.connections, 6)


class ManyTargetsReload(unittest.TestCase):
    """Issue 11: 1,000 targets, and a SIGHUP that drops 100 of them and
    adds 100: the 900 others keep their counters, the dropped ones'
    series go, the new ones are probed within an interval or two, and the
    loop keeps up (nothing is skipped for want of a poll, nor held by the
    global limit)."""

    N = 1000
    REPLACED = 100
    INTERVAL = 10

    def config(self, port, names):
        return ("[agent]\ninterval = %ds\ntimeout = 5s\n"
                "max_per_host = 64\n" % self.INTERVAL +
                "".join(plain_target(n, port) for n in names))

    def test_reload_keeps_the_survivors_counters(self):
        srv = self.enterContext(SlowSmtpServer(0))
        before = ["m%04d" % i for i in range(self.N)]
        after = before[self.REPLACED:] + [
            "m%04d" % i for i in range(self.N, self.N + self.REPLACED)]
        ag = self.enterContext(harness.run_agent(
            harness.agent_binary(), self.config(srv.port, before)))
        scrape = lambda: harness.scrape(ag.port)[1]  # noqa: E731

        # Spread over the interval: every target once within about one.
        s = harness.wait_for(
            lambda: (lambda s2: s2 if min(probes_of(s2, before).values())
                     >= 1 else None)(scrape()), 6 * self.INTERVAL,
            message="a probe of each of the first %d targets" % self.N)
        first = probes_of(s, before)

        with open(ag.config_path, "w") as f:
            f.write(self.config(srv.port, after))
        ag.signal(signal.SIGHUP)
        harness.wait_for(lambda: "config reloaded" in ag.stderr(), 20,
                         message="the reload")
        s = scrape()
        self.assertEqual(harness.metric(
            s, "smtp_agent_config_last_reload_successful"), 1)
        self.assertEqual(harness.metric(s, "smtp_agent_targets"), self.N)
        # Counters survive: never below what they were before the reload.
        kept = probes_of(s, after[:self.N - self.REPLACED])
        low = {n: (v, first[n]) for n, v in kept.items() if v < first[n]}
        self.assertEqual(low, {})
        # The dropped targets' series are gone.
        for n in before[:self.REPLACED]:
            self.assertIsNone(harness.metric(s, "smtp_probes_total",
                                             target=n), n)
        # The new ones and the survivors: each probed again.
        s = harness.wait_for(
            lambda: (lambda s2: s2 if all(
                v > first.get(n, 0)
                for n, v in probes_of(s2, after).items()) else None)(
                    scrape()), 6 * self.INTERVAL,
            message="a probe of every target after the reload")
        reasons = {r for (_, r) in skipped(s)}
        self.assertNotIn("stalled", reasons, skipped(s))
        self.assertNotIn("global_limit", reasons, skipped(s))
        self.assertIn("targets=%d" % self.N, ag.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)
