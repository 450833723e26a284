#!/usr/bin/python3
"""Reload at size: SIGHUP to an agent with 10,000 targets that removes
1,000 and adds 1,000.

Same listeners and targets as scale.py (60% STARTTLS+AUTH on Postfix, 40%
EHLO-only on aiosmtpd, interval 60 s, limits 256). The agent runs one
interval and a bit, so every target has counted; then its config file is
rewritten without t00001-t01000 and with t10001-t11000, and it gets
SIGHUP. Measured:

  reload      from SIGHUP until /metrics shows a new target (an upper
              bound: it includes one scrape's wait)
  counters    every kept target's smtp_probes_total, before and after:
              none may go down (a reload that rebuilt the store would
              reset them), the removed ones are gone, the new ones there
  probing     start delay (p50/p99, starts over 100 ms and 1 s late) and
              skips from just before the SIGHUP to 30 s after it: a
              reload that stalled the loop makes the due probes late

Not part of ctest; needs root (Postfix) and tests/bench/setup.sh:
    /usr/bin/python3 tests/bench/reload_scale.py
Exit status 1 when a counter went down or a probe failed.
"""

import argparse
import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import scale  # noqa: E402 (its listeners, config and scrape helpers)
import harness  # noqa: E402 (on the path once scale has imported bench)

log = scale.log
PROBES_RE = re.compile(r'^smtp_probes_total\{target="([^"]+)"[^}]*\} (\S+)$',
                       re.M)


def probes_by_target(text):
    out = {}
    for name, value in PROBES_RE.findall(text):
        out[name] = out.get(name, 0.0) + float(value)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", type=int, default=10000)
    ap.add_argument("--replace", type=int, default=1000)
    ap.add_argument("--agent", help="agent binary (default: "
                    "$SMTP_HEALTH_AGENT or build/smtp-health-agent)")
    ap.add_argument("--settle", type=float, default=70.0,
                    help="seconds before the SIGHUP (default 70)")
    ap.add_argument("--after", type=float, default=30.0)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("reload_scale.py needs root (it runs its own Postfix)")
    binary = args.agent or harness.agent_binary()
    n, k = args.targets, args.replace
    bad = []
    with scale.Listeners(4, 4) as lst:
        plan = scale.target_plan(n + k, 0.6, lst.postfix_ports,
                                 lst.aiosmtpd_ports)
        before_plan, after_plan = plan[:n], plan[k:]
        conf = scale.agent_config(before_plan, lst.pf.username, "60s", "10s",
                                  256, None)
        agent = harness.AgentProcess(binary, conf, password=lst.pf.password,
                                     ready_timeout=600)
        agent.start()
        try:
            log("%d targets, waiting %.0f s" % (n, args.settle))
            time.sleep(args.settle)
            s0, _, _, text0 = scale.scrape_at(agent)
            c0 = probes_by_target(text0)
            new_conf = agent._substitute(scale.agent_config(
                after_plan, lst.pf.username, "60s", "10s", 256, None))
            tmp = agent.config_path + ".new"
            with open(tmp, "w") as f:
                f.write(new_conf)
            os.replace(tmp, agent.config_path)
            first_new = after_plan[-1][0]
            t0 = time.monotonic()
            agent.proc.send_signal(signal.SIGHUP)
            seen = None
            while time.monotonic() - t0 < 30:
                _, body, enc = scale.fetch(agent.port, "/metrics", True)
                if ('target="%s"' % first_new).encode() in \
                        scale.decoded(body, enc):
                    seen = time.monotonic() - t0
                    break
            time.sleep(max(0.0, args.after - (time.monotonic() - t0)))
            s1, _, _, text1 = scale.scrape_at(agent)
            c1 = probes_by_target(text1)
            kept = [name for name, _, _ in after_plan[:n - k]]
            removed = [name for name, _, _ in before_plan[:k]]
            added = [name for name, _, _ in after_plan[n - k:]]
            down = [t for t in kept if c1.get(t, 0.0) < c0.get(t, 0.0)]
            gone = sum(1 for t in removed if t not in c1)
            there = sum(1 for t in added if t in c1)
            delay = scale.quantiles_ms(s0, s1)
            skipped = s1.skipped_total() - s0.skipped_total()
            failed = s1.failures
            print("reload of %d targets, %d removed and %d added:" % (n, k, k))
            print("  SIGHUP -> a new target in /metrics: %s"
                  % ("%.3f s" % seen if seen is not None else "not seen"))
            print("  kept targets whose smtp_probes_total went down: %d of "
                  "%d (probes of the kept ones before %d, after %d)"
                  % (len(down), len(kept), sum(c0.get(t, 0) for t in kept),
                     sum(c1.get(t, 0) for t in kept)))
            print("  removed gone: %d of %d; added present: %d of %d"
                  % (gone, k, there, k))
            print("  from the scrape before the SIGHUP to %.0f s after it: "
                  "start delay p50 %s ms, p99 %s ms, over 100 ms %s, over "
                  "1 s %s; skipped %d; failures over the run %d"
                  % (args.after, delay.get("p50"), delay.get("p99"),
                     delay.get("over_100ms"), delay.get("over_1s"),
                     skipped, failed))
            if down or gone != k or there != k or seen is None or failed:
                bad.append("reload lost something")
        finally:
            agent.stop(timeout=60)
            agent.cleanup()
    if bad:
        print("FAILED: " + "; ".join(bad))
        sys.exit(1)


if __name__ == "__main__":
    main()
