#!/usr/bin/python3
"""Scale benchmark: the agent with 100 to 10,000 targets at 60 s.

Starts its own listeners on loopback: one private Postfix + Cyrus SASL
(tests/support/postfix.py) with several STARTTLS ports, and several
aiosmtpd processes (tests/support/aiosmtpd_server.py) without TLS. The
targets (t00001, t00002, ...) are 60% STARTTLS + verified certificate
(test CA) + AUTH PLAIN against Postfix and 40% EHLO-only against aiosmtpd,
interleaved, spread over the ports in turn.

For every size (--targets 100,1000,10000) a fresh agent runs with
interval 60 s (--interval), max_concurrent_probes = max_per_host = 256:

  start     RSS at /-/ready ("right after start") and the time to ready
  steady    --minutes (3), /metrics scraped with gzip every 30 s like
            Prometheus; VmRSS/VmHWM sampled every 0.25 s. The measured
            window runs from --warmup (one interval) to the end: CPU per
            probe (utime + stime delta / smtp_probes_total delta),
            start-delay p50/p99 (smtp_agent_probe_start_delay_seconds
            buckets), skipped probes, RSS median and peak
  serve     /metrics plain and gzip, 5 of each, and the status page, 3:
            sizes and median times to the last byte; series count, per
            kind of target
  parallel  20 scrapers (gzip) in a loop for 60 s: latency, the agent's
            CPU, and what the probes felt (start delay, skips)

Then the ratio to a floor, for --ratio-targets (default: the largest
size): an agent with every target STARTTLS + AUTH, the same steady phase,
and tests/bench/floor.c (one bare libcurl multi handle doing the same
exchange at the same rate and concurrency, built here with cc); agent CPU
per probe / floor CPU per probe. Then the same pair at bench.py's
"saturated" setting (--saturated-targets, default 100): interval and
timeout 250 ms (400 probes/s due), 20 in flight at most
(--saturated-concurrency), 1 minute (--saturated-minutes).

Memory per target: the slope of the steady RSS between sizes.

Every failed probe makes the figures invalid and the exit status 1. The
password goes to the agent and the floor in 0600 files, never argv; no
output holds it or its base64. Table on stdout, progress on stderr, every
figure in --out JSON; --rounds N gives min/median/max over N rounds.

Not part of ctest: it runs for about (3 sizes x 4.5 + 6 + 3) minutes a round
and needs root (Postfix). Run tests/bench/setup.sh once, then:
    /usr/bin/python3 tests/bench/scale.py --out /tmp/scale.json
"""

import argparse
import datetime
import gzip
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench  # noqa: E402 (its helpers; it puts tests/support on the path)
import harness  # noqa: E402
import postfix  # noqa: E402

log = bench.log
redact = bench.redact
MIB = 1024.0 * 1024.0
EHLO_NAME = "bench.localhost"
FLOOR_SRC = os.path.join(HERE, "floor.c")
DELAY_METRIC = "smtp_agent_probe_start_delay_seconds"


class BenchError(bench.BenchError):
    pass


# --- listeners -------------------------------------------------------------

_EXTRA_SMTPD = """\
127.0.0.1:{port} inet n - n - - smtpd
  -o syslog_name=postfix/starttls{i}
  -o smtpd_tls_auth_only=yes
"""

# Raised limits: every smtpd serves one session at a time, so the process
# limit caps the sessions in flight; the agent allows 256. Sessions come
# from 127.0.0.1 (in mynetworks, so anvil's limits do not apply), but the
# limits are set anyway. max_use: fewer forks of smtpd under load.
POSTFIX_MAIN = {
    "default_process_limit": "600",
    "max_use": "1000",
    "smtpd_client_connection_count_limit": "0",
    "smtpd_client_connection_rate_limit": "0",
    "smtpd_client_message_rate_limit": "0",
    "smtpd_client_new_tls_session_rate_limit": "0",
    "smtpd_tls_loglevel": "0",
}


class ScalePostfix(postfix.PostfixInstance):
    """The harness's Postfix with more STARTTLS ports (same settings as
    its "starttls" service), added to master.cf."""

    def __init__(self, directory, ports, extra_ports, pair, **kwargs):
        super().__init__(directory, ports, pair, **kwargs)
        self.extra_ports = list(extra_ports)

    @property
    def starttls_ports(self):
        return [self.ports.starttls] + self.extra_ports

    def configure(self):
        super().configure()
        path = os.path.join(self.config_dir, "master.cf")
        with open(path) as f:
            text = f.read()
        for i, port in enumerate(self.extra_ports, 2):
            text += _EXTRA_SMTPD.format(port=port, i=i)
        self._write("master.cf", text)

    def start(self):
        super().start()
        for port in self.extra_ports:
            harness.wait_for(
                lambda p=port: postfix.greeting(p).startswith("220"), 15,
                message="Postfix port %d" % port)
        return self


class Listeners:
    """Postfix (n STARTTLS ports) and m aiosmtpd processes (no TLS)."""

    def __init__(self, postfix_ports, aiosmtpd_ports):
        self.n_pf = postfix_ports
        self.n_aio = aiosmtpd_ports
        self.dir = None
        self.pf = None
        self.aio = []

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="bench-scale-")
        os.chmod(self.dir, 0o755)
        try:
            pki = harness.shared_pki()
            ports = postfix.PostfixPorts(harness.free_port(),
                                         harness.free_port(),
                                         harness.free_port())
            extra = [harness.free_port() for _ in range(self.n_pf - 1)]
            self.pf = ScalePostfix(os.path.join(self.dir, "postfix"), ports,
                                   extra, pki.server, extra_main=POSTFIX_MAIN)
            self.pf.start()
            redact.add(self.pf.password)
            aio_dir = os.path.join(self.dir, "aiosmtpd")
            os.makedirs(aio_dir, mode=0o700)
            secret = harness.write_secret(os.path.join(aio_dir, "secret"),
                                          harness.AIOSMTPD_PASSWORD)
            for _ in range(self.n_aio):
                proc = harness.AiosmtpdProcess(harness.free_port(), secret,
                                               tls="none", workdir=aio_dir)
                proc.__enter__()
                self.aio.append(proc)
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def postfix_ports(self):
        return self.pf.starttls_ports

    @property
    def aiosmtpd_ports(self):
        return [a.port for a in self.aio]

    def aiosmtpd_pids(self):
        return [a.proc.pid for a in self.aio
                if getattr(a, "proc", None) is not None]

    def __exit__(self, *exc):
        for a in self.aio:
            try:
                a.__exit__(None, None, None)
            except Exception as e:  # noqa: BLE001 (clean up the rest)
                log("aiosmtpd stop: %s" % e)
        if self.pf is not None:
            self.pf.stop()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


# --- the agent's config ----------------------------------------------------

AGENT_HEAD = """\
[agent]
log_level = warn
interval = {interval}
timeout = {timeout}
max_concurrent_probes = {limit}
max_per_host = {limit}
ca_file = @CA_FILE@
"""
EXTRA_METRICS = "extra_metrics = {words}\n"

TARGET_AUTH = """
[target "{name}"]
host = 127.0.0.1
port = {port}
tls = starttls
tls_verify = true
ehlo_name = {ehlo}
mechanisms = PLAIN
username = {user}
password_file = @PASSWORD_FILE@
"""

TARGET_EHLO = """
[target "{name}"]
host = 127.0.0.1
port = {port}
tls = none
ehlo_name = {ehlo}
"""


def target_plan(n, auth_share, pf_ports, aio_ports):
    """[(name, kind, port)]: kinds interleaved (3 of 5 "auth" for 0.6),
    each kind over its ports in turn."""
    plan, n_auth, n_ehlo = [], 0, 0
    for i in range(n):
        # Bresenham: target i is "auth" when the running share says so.
        auth = int((i + 1) * auth_share) > int(i * auth_share)
        if auth:
            port = pf_ports[n_auth % len(pf_ports)]
            n_auth += 1
        else:
            port = aio_ports[n_ehlo % len(aio_ports)]
            n_ehlo += 1
        plan.append(("t%05d" % (i + 1), "auth" if auth else "ehlo", port))
    return plan


def agent_config(plan, user, interval, timeout, limit, extra_metrics):
    parts = [AGENT_HEAD.format(interval=interval, timeout=timeout,
                               limit=limit)]
    if extra_metrics:
        parts.append(EXTRA_METRICS.format(words=extra_metrics))
    for name, kind, port in plan:
        tmpl = TARGET_AUTH if kind == "auth" else TARGET_EHLO
        parts.append(tmpl.format(name=name, port=port, ehlo=EHLO_NAME,
                                 user=user))
    return "".join(parts)


# --- /metrics, fast ----------------------------------------------------------

_LE_RE = re.compile(r'le="([^"]*)"')
_ERR_RE = re.compile(r'error="([^"]*)"')
_REASON_RE = re.compile(r'reason="([^"]*)"')


class Scrape:
    """What the benchmark needs from one /metrics body, without a full
    parse (a full parse of 640,000 series takes seconds of this shared
    machine's CPU): sums of a few families and the series count."""

    def __init__(self, text, t, cpu):
        self.t = t
        self.cpu = cpu
        self.series = 0
        self.probes = 0.0
        self.failures = 0.0
        self.errors = {}
        self.skipped = {}
        self.resource_failures = 0.0
        self.auth_ok = 0.0
        self.quit_ok = 0.0
        self.success = {0: 0, 1: 0}
        self.delay = {}
        self.delay_sum = 0.0
        self.delay_count = 0.0
        self.duration = {}
        self.duration_sum = 0.0
        self.duration_count = 0.0
        self.in_flight = 0.0
        for line in text.split("\n"):
            if not line or line[0] == "#":
                continue
            self.series += 1
            if not line.startswith(("smtp_probes_total",
                                    "smtp_probe_failures_total",
                                    "smtp_probe_errors_total",
                                    "smtp_probe_success",
                                    "smtp_probe_duration_seconds_",
                                    "smtp_agent_", "smtp_auth_results_total",
                                    "smtp_replies_total")):
                continue
            brace = line.find("{")
            space = line.rfind(" ")
            name = line[:brace] if brace >= 0 else line[:space]
            value = float(line[space + 1:])
            if name == "smtp_probes_total":
                self.probes += value
            elif name == "smtp_probe_failures_total":
                self.failures += value
            elif name == "smtp_probe_errors_total":
                err = _ERR_RE.search(line).group(1)
                self.errors[err] = self.errors.get(err, 0.0) + value
            elif name == "smtp_probe_success":
                self.success[int(value)] = self.success.get(int(value), 0) + 1
            elif name == "smtp_agent_probes_skipped_total":
                why = _REASON_RE.search(line).group(1)
                self.skipped[why] = self.skipped.get(why, 0.0) + value
            elif name == "smtp_agent_resource_failures_total":
                self.resource_failures += value
            elif name == "smtp_auth_results_total":
                if 'class="success"' in line:
                    self.auth_ok += value
            elif name == "smtp_replies_total":
                if 'stage="quit"' in line and 'code="221"' in line:
                    self.quit_ok += value
            elif name == DELAY_METRIC + "_bucket":
                self.delay[_LE_RE.search(line).group(1)] = value
            elif name == "smtp_probe_duration_seconds_bucket":
                le = _LE_RE.search(line).group(1)
                self.duration[le] = self.duration.get(le, 0.0) + value
            elif name == "smtp_probe_duration_seconds_sum":
                self.duration_sum += value
            elif name == "smtp_probe_duration_seconds_count":
                self.duration_count += value
            elif name == DELAY_METRIC + "_sum":
                self.delay_sum = value
            elif name == DELAY_METRIC + "_count":
                self.delay_count = value
            elif name == "smtp_agent_probes_in_flight":
                self.in_flight = value

    def skipped_total(self):
        return sum(self.skipped.values())

    def error_total(self):
        return sum(self.errors.values())


def series_per_kind(text, kinds):
    """{kind: series per target of that kind, "agent": series without a
    target label}."""
    counts = {}
    for line in text.split("\n"):
        if not line or line[0] == "#":
            continue
        i = line.find('target="')
        if i < 0:
            counts["agent"] = counts.get("agent", 0) + 1
            continue
        j = line.find('"', i + 8)
        kind = kinds.get(line[i + 8:j], "unknown")
        counts[kind] = counts.get(kind, 0) + 1
    n_kind = {}
    for k in kinds.values():
        n_kind[k] = n_kind.get(k, 0) + 1
    out = {"agent": counts.get("agent", 0)}
    for k, n in n_kind.items():
        out[k] = round(counts.get(k, 0) / n, 2)
    return out


def delay_delta(s0, s1, attr="delay"):
    """Cumulative buckets of a histogram (the start delay, or the probes'
    durations summed over targets) between two scrapes, [(upper bound,
    count)] in order, +Inf last."""
    out = []
    b0 = getattr(s0, attr) if s0 else {}
    for le, v in getattr(s1, attr).items():
        bound = float("inf") if le == "+Inf" else float(le)
        out.append((bound, v - b0.get(le, 0.0)))
    out.sort()
    return out


def histogram_quantile(q, cum):
    """Prometheus' histogram_quantile over cumulative buckets: linear
    inside the bucket; in the +Inf bucket, the highest finite bound."""
    if not cum or cum[-1][1] <= 0:
        return None
    rank = q * cum[-1][1]
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in cum:
        if count >= rank:
            if bound == float("inf"):
                return prev_bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (
                (rank - prev_count) / (count - prev_count))
        prev_bound, prev_count = bound, count
    return prev_bound


# --- HTTP ----------------------------------------------------------------------

def fetch(port, path, accept_gzip=False, timeout=120):
    """GET on a fresh connection: (seconds to the last byte, body bytes as
    sent, encoding). Raises on anything but 200."""
    headers = {"Accept-Encoding": "gzip"} if accept_gzip else {}
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        dt = time.monotonic() - t0
        if resp.status != 200:
            raise BenchError("GET %s: HTTP %d" % (path, resp.status))
        return dt, body, resp.getheader("Content-Encoding") or ""
    finally:
        conn.close()


def decoded(body, encoding):
    return gzip.decompress(body) if encoding == "gzip" else body


# --- /proc -----------------------------------------------------------------------

def machine_busy():
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def cpu_of(pids):
    total = 0.0
    for pid in pids:
        try:
            total += bench.proc_cpu(pid)
        except (OSError, IndexError, ValueError):
            pass
    return total


class Sampler:
    """VmRSS, VmHWM and CPU of one process every `period` seconds."""

    def __init__(self, pid, period=0.25):
        self.pid = pid
        self.period = period
        self.samples = []  # (t, rss, hwm, cpu)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            try:
                m = harness.vm_status(self.pid)
                c = bench.proc_cpu(self.pid)
            except (OSError, IndexError, ValueError):
                return
            self.samples.append((time.monotonic(), m["VmRSS"], m["VmHWM"],
                                 c))
            self.stop.wait(self.period)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        return False

    def between(self, t0, t1):
        return [s for s in self.samples if t0 <= s[0] <= t1]


class Machine:
    """Who used the CPU between two marks: the machine, the agent (or the
    floor), Postfix, aiosmtpd, this script."""

    def __init__(self, lst, pid):
        self.lst = lst
        self.pid = pid

    def mark(self):
        busy, total = machine_busy()
        return {"t": time.monotonic(), "busy": busy, "total": total,
                "proc": bench.proc_cpu(self.pid),
                "postfix": bench.postfix_cpu(self.lst.pf.master_pid()),
                "aiosmtpd": cpu_of(self.lst.aiosmtpd_pids()),
                "self": sum(os.times()[:2]),
                "load": loadavg()}

    @staticmethod
    def delta(m0, m1):
        dt = m1["t"] - m0["t"]
        ncpu = os.cpu_count()
        busy = (m1["busy"] - m0["busy"]) / max(1, m1["total"] - m0["total"])
        return {
            "seconds": round(dt, 2),
            "machine_busy_cores": round(busy * ncpu, 3),
            "measured_cores": round((m1["proc"] - m0["proc"]) / dt, 3),
            "postfix_cores": round((m1["postfix"] - m0["postfix"]) / dt, 3),
            "aiosmtpd_cores": round((m1["aiosmtpd"] - m0["aiosmtpd"]) / dt,
                                    3),
            "script_cores": round((m1["self"] - m0["self"]) / dt, 3),
            "loadavg_start": m0["load"], "loadavg_end": m1["load"],
        }


# --- one agent run ---------------------------------------------------------------

def scrape_at(agent, accept_gzip=True):
    cpu = bench.proc_cpu(agent.proc.pid)
    t = time.monotonic()
    dt, body, enc = fetch(agent.port, "/metrics", accept_gzip)
    text = decoded(body, enc).decode()
    return Scrape(text, t, cpu), dt, len(body), text


def quantiles_ms(s0, s1, attr="delay"):
    """p50/p90/p99 in ms from a histogram's buckets between two scrapes,
    and how many were over 10 ms, 100 ms, 1 s. The durations' buckets
    are per target and, by default, only +Inf (extra_metrics =
    duration_buckets adds the rest): then only the mean."""
    cum = delay_delta(s0, s1, attr)
    out = {}
    if attr == "duration":
        n = s1.duration_count - (s0.duration_count if s0 else 0.0)
        total = s1.duration_sum - (s0.duration_sum if s0 else 0.0)
        out["mean"] = round(total / n * 1000, 2) if n else None
        if len(cum) < 2:
            out["probes"] = int(n)
            return out
    for q in (0.5, 0.9, 0.99):
        v = histogram_quantile(q, cum)
        out["p%d" % int(q * 100)] = round(v * 1000, 2) if v is not None \
            else None
    out["probes"] = int(cum[-1][1]) if cum else 0
    for bound, key in ((0.01, "over_10ms"), (0.1, "over_100ms"),
                       (1.0, "over_1s")):
        out[key] = int(cum[-1][1] - dict(cum).get(bound, 0)) if cum else 0
    return out


def steady_phase(agent, lst, args, sampler, tag):
    """Scrapes every --scrape-interval (and at warmup and end); returns
    the scrapes, their serve times and the window's marks."""
    steady_s = args.minutes * 60.0
    warmup = min(args.warmup_s, steady_s / 3.0)
    grid = sorted(set([round(k * args.scrape_interval, 3) for k in
                       range(int(steady_s // args.scrape_interval) + 1)]
                      + [warmup, steady_s]))
    t_start = time.monotonic()
    scrapes, times, sizes = [], [], []  # times: those in the window
    machine = Machine(lst, agent.proc.pid)
    m0 = m1 = None
    for at in grid:
        delay = t_start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if at == warmup:
            m0 = machine.mark()
        s, dt, size, _ = scrape_at(agent)
        if at == warmup:
            s_w0 = s
        scrapes.append(s)
        if at >= warmup:
            times.append(dt)
            sizes.append(size)
        if at == steady_s:
            m1 = machine.mark()
        log("  %s t=%4.0fs probes %7d  skipped %5d  failed %d  in flight "
            "%3d  RSS %.1f MiB  scrape %.2fs"
            % (tag, at, s.probes, s.skipped_total(), s.failures,
               s.in_flight, sampler.samples[-1][1] / MIB if sampler.samples
               else 0, dt))
    s_w1 = scrapes[-1]
    return {"scrapes": scrapes, "times": times, "sizes": sizes,
            "w0": s_w0, "w1": s_w1, "m0": m0, "m1": m1,
            "t_end": time.monotonic()}


def window_figures(st, sampler, first):
    w0, w1 = st["w0"], st["w1"]
    probes = w1.probes - w0.probes
    cpu = w1.cpu - w0.cpu
    rss = [s[1] for s in sampler.between(w0.t, w1.t)]
    hwm = max(s[2] for s in sampler.samples)
    machine = Machine.delta(st["m0"], st["m1"])
    return {
        "window_s": round(w1.t - w0.t, 2),
        "probes": int(probes),
        "probes_per_s": round(probes / (w1.t - w0.t), 2),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_probe": round(cpu / probes * 1000, 4) if probes else None,
        "agent_cores": round(cpu / (w1.t - w0.t), 4),
        "skipped": int(w1.skipped_total() - w0.skipped_total()),
        "skipped_by_reason": {k: int(v - w0.skipped.get(k, 0)) for k, v in
                              w1.skipped.items() if v - w0.skipped.get(k, 0)},
        "start_delay_ms": quantiles_ms(w0, w1),
        "start_delay_ms_whole_run": quantiles_ms(None, w1),
        "probe_duration_ms": quantiles_ms(w0, w1, "duration"),
        "rss_steady_mib": round(statistics.median(rss) / MIB, 2)
        if rss else None,
        "rss_steady_max_mib": round(max(rss) / MIB, 2) if rss else None,
        "rss_peak_mib": round(hwm / MIB, 2),
        "scrape_gzip_s_median": round(statistics.median(st["times"]), 4),
        "scrape_gzip_s_max": round(max(st["times"]), 4),
        "machine": machine,
        "postfix_cpu_ms_per_session": None,
        "first_scrape_probes": int(first.probes),
    }


def run_failures(last):
    """Failures over the whole run (counters start at 0), and the last
    state of every target."""
    return {
        "failed": int(last.failures),
        "errors": {k: int(v) for k, v in last.errors.items() if v},
        "resource_failures": int(last.resource_failures),
        "last_probe_failed_targets": int(last.success.get(0, 0)),
        "auth_ok": int(last.auth_ok),
        "quit_221": int(last.quit_ok),
        "probes_total": int(last.probes),
    }


def serve_phase(agent, args, kinds):
    out = {}
    plain_t, gzip_t = [], []
    text = None
    for _ in range(args.serve_repeats):
        dt, body, _ = fetch(agent.port, "/metrics", False)
        plain_t.append(dt)
        out["metrics_plain_bytes"] = len(body)
        text = body
        dt, body, enc = fetch(agent.port, "/metrics", True)
        gzip_t.append(dt)
        out["metrics_gzip_bytes"] = len(body)
        out["metrics_gzip_encoding"] = enc
    text = text.decode()
    out["series"] = sum(1 for line in text.split("\n")
                        if line and line[0] != "#")
    out["series_per_target"] = series_per_kind(text, kinds)
    out["metrics_plain_s"] = round(statistics.median(plain_t), 4)
    out["metrics_gzip_s"] = round(statistics.median(gzip_t), 4)
    out["metrics_plain_s_all"] = [round(x, 4) for x in plain_t]
    out["metrics_gzip_s_all"] = [round(x, 4) for x in gzip_t]
    page_t, page_gz_t = [], []
    for _ in range(args.page_repeats):
        dt, body, _ = fetch(agent.port, "/", False)
        page_t.append(dt)
        out["page_bytes"] = len(body)
        dt, body, enc = fetch(agent.port, "/", True)
        page_gz_t.append(dt)
        out["page_gzip_bytes"] = len(body)
        out["page_gzip_encoding"] = enc
    out["page_s"] = round(statistics.median(page_t), 4)
    out["page_gzip_s"] = round(statistics.median(page_gz_t), 4)
    out["page_s_all"] = [round(x, 4) for x in page_t]
    return out


def parallel_phase(agent, args):
    """args.parallel_scrapers threads scraping /metrics (gzip, the body
    read, not decoded) for args.parallel_seconds."""
    stop = threading.Event()
    lat, errors = [], []

    def worker():
        while not stop.is_set():
            try:
                dt, _, _ = fetch(agent.port, "/metrics", True)
                lat.append(dt)
            except Exception as e:  # noqa: BLE001 (counted and reported)
                errors.append(repr(e))

    s0, _, _, _ = scrape_at(agent)
    hwm0 = harness.vm_status(agent.proc.pid)["VmHWM"]
    threads = [threading.Thread(target=worker, daemon=True)
               for _ in range(args.parallel_scrapers)]
    c0, t0 = bench.proc_cpu(agent.proc.pid), time.monotonic()
    for t in threads:
        t.start()
    time.sleep(args.parallel_seconds)
    stop.set()
    for t in threads:
        t.join(180)
    c1, t1 = bench.proc_cpu(agent.proc.pid), time.monotonic()
    s1, _, _, _ = scrape_at(agent)
    mem = harness.vm_status(agent.proc.pid)
    lat.sort()
    return {
        "scrapers": args.parallel_scrapers,
        "seconds": round(t1 - t0, 2),
        "scrapes": len(lat),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "latency_s_median": round(statistics.median(lat), 4) if lat else None,
        "latency_s_p90": round(lat[int(len(lat) * 0.9)], 4) if lat else None,
        "latency_s_max": round(lat[-1], 4) if lat else None,
        "agent_cores": round((c1 - c0) / (t1 - t0), 3),
        "rss_mib_end": round(mem["VmRSS"] / MIB, 2),
        "rss_peak_mib_before": round(hwm0 / MIB, 2),
        "rss_peak_mib": round(mem["VmHWM"] / MIB, 2),
        "probes": int(s1.probes - s0.probes),
        "failed": int(s1.failures - s0.failures),
        "skipped": int(s1.skipped_total() - s0.skipped_total()),
        "start_delay_ms": quantiles_ms(s0, s1),
        "probe_duration_ms": quantiles_ms(s0, s1, "duration"),
    }


def agent_run(lst, binary, args, n, auth_share, tag, full=True):
    """One fresh agent with n targets; full adds the serve and parallel
    phases (the all-STARTTLS ratio runs skip them)."""
    plan = target_plan(n, auth_share, lst.postfix_ports, lst.aiosmtpd_ports)
    kinds = {name: kind for name, kind, _ in plan}
    conf = agent_config(plan, lst.pf.username, args.interval, args.timeout,
                        args.max_concurrent, args.extra_metrics)
    agent = harness.AgentProcess(binary, conf, password=lst.pf.password,
                                 ready_timeout=args.ready_timeout)
    t_launch = time.monotonic()
    agent.start()
    try:
        t_ready = time.monotonic() - t_launch
        at_ready = harness.vm_status(agent.proc.pid)
        log("%s: ready after %.1f s, RSS %.1f MiB"
            % (tag, t_ready, at_ready["VmRSS"] / MIB))
        with Sampler(agent.proc.pid) as sampler:
            pf0 = bench.postfix_cpu(lst.pf.master_pid())
            st = steady_phase(agent, lst, args, sampler, tag)
            pf1 = bench.postfix_cpu(lst.pf.master_pid())
            r = window_figures(st, sampler, st["scrapes"][0])
            if r["probes"]:
                # Postfix also served the probes outside the window: the
                # CPU of the whole steady phase over its sessions.
                sessions = st["scrapes"][-1].auth_ok
                r["postfix_cpu_ms_per_session"] = round(
                    (pf1 - pf0) / sessions * 1000, 4) if sessions else None
            r.update({"targets": n, "auth_share": auth_share,
                      "ready_s": round(t_ready, 2),
                      "rss_start_mib": round(at_ready["VmRSS"] / MIB, 2)})
            if full:
                log("%s: serve times (/metrics x%d plain+gzip, / x%d)"
                    % (tag, args.serve_repeats, args.page_repeats))
                r["serve"] = serve_phase(agent, args, kinds)
                log("%s: %d parallel scrapers for %.0f s"
                    % (tag, args.parallel_scrapers, args.parallel_seconds))
                r["parallel"] = parallel_phase(agent, args)
                r["rss_peak_all_mib"] = r["parallel"]["rss_peak_mib"]
            last, _, _, _ = scrape_at(agent)
        r["health"] = run_failures(last)
        n_auth = sum(1 for k in kinds.values() if k == "auth")
        h = r["health"]
        # Valid only when nothing failed: no failure or error counted, no
        # resource failure, every target's last probe succeeded, and every
        # AUTH got 235 and every session 221 (EHLO-only: QUIT only). A
        # render takes the store's lock a chunk of one family at a time,
        # so a probe that ends meanwhile can be in one family's sums and
        # not yet in another's: the sums may differ by the probes in
        # flight at most.
        slack = args.max_concurrent
        h["valid"] = (h["failed"] == 0 and not h["errors"]
                      and h["resource_failures"] == 0
                      and h["last_probe_failed_targets"] == 0
                      and abs(h["quit_221"] - h["probes_total"]) <= slack
                      and (n_auth == 0 or h["auth_ok"] > 0)
                      and (n_auth < n or
                           abs(h["auth_ok"] - h["probes_total"]) <= slack))
        warnings = [line for line in agent.stderr().splitlines()
                    if "level=warn" in line or "level=error" in line]
        r["agent_log_lines"] = len(warnings)
        r["agent_log_tail"] = [redact(x) for x in warnings[-5:]]
    finally:
        try:
            agent.stop(timeout=60)
        finally:
            agent.cleanup()
    return r


# --- the floor ---------------------------------------------------------------------

def build_floor(workdir):
    exe = os.path.join(workdir, "floor")
    argv = [os.environ.get("CC", "cc"), "-std=c11", "-O2", "-g", "-Wall",
            "-Wextra", "-o", exe, FLOOR_SRC, "-lcurl"]
    p = subprocess.run(argv, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise BenchError("building the floor failed:\n" + p.stdout)
    return exe


def floor_run(lst, exe, args, n, workdir, tag):
    """floor.c at the agent's rate (n / interval) and concurrency, for
    the agent's window."""
    secret = harness.write_secret(os.path.join(workdir, "floor.secret"),
                                  lst.pf.password)
    interval_s = parse_seconds(args.interval)
    rate = n / interval_s
    duration = args.minutes * 60.0 - min(args.warmup_s,
                                         args.minutes * 60.0 / 3.0)
    argv = [exe, "--ports", ",".join(str(p) for p in lst.postfix_ports),
            "--ca", harness.shared_pki().ca.cert, "--user",
            lst.pf.username, "--password-file", secret,
            "--rate", "%.4f" % rate, "--concurrency", str(args.max_concurrent),
            "--warmup", "%.1f" % args.floor_warmup,
            "--duration", "%.1f" % duration,
            "--ehlo", EHLO_NAME, "--timeout", str(parse_seconds(args.timeout))]
    log("%s: floor at %.2f probes/s, %d in flight at most, %.0f s"
        % (tag, rate, args.max_concurrent, duration))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    machine = Machine(lst, proc.pid)
    time.sleep(args.floor_warmup)
    m0 = machine.mark()
    pf0 = bench.postfix_cpu(lst.pf.master_pid())
    time.sleep(max(0.0, duration - 0.5))
    m1 = machine.mark()
    pf1 = bench.postfix_cpu(lst.pf.master_pid())
    out, err = proc.communicate(timeout=duration + 120)
    os.unlink(secret)
    try:
        r = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError("floor said nothing usable (exit %d): %s"
                         % (proc.returncode, redact(err.strip()[-500:])))
    r["exit"] = proc.returncode
    r["targets"] = n
    r["machine"] = Machine.delta(m0, m1)
    r["postfix_cpu_ms_per_session"] = round(
        (pf1 - pf0) / r["probes"] * 1000, 4) if r["probes"] else None
    r["valid"] = proc.returncode == 0 and r["failed_total"] == 0
    return r


def saturated_args(args):
    """The saturated runs (bench.py's agent setting): every target
    STARTTLS+AUTH, 100 targets every 250 ms = 400 probes/s due, at most
    --saturated-concurrency (20) in flight: the cost per probe at a high
    rate. When bench.py chose it, 20 sessions could not carry 400/s; on
    a quiet machine they now can, and few are in flight. A shorter
    interval saturates, but its timeout (at most the interval) then
    fails probes. A short warm-up: there is no first round to wait for."""
    sat = argparse.Namespace(**vars(args))
    sat.interval = args.saturated_interval
    sat.timeout = args.saturated_interval
    sat.max_concurrent = args.saturated_concurrency
    sat.minutes = args.saturated_minutes
    sat.warmup_s = min(15.0, args.saturated_minutes * 20.0)
    sat.scrape_interval = min(args.scrape_interval,
                              args.saturated_minutes * 30.0)
    return sat


def floor_pair(lst, binary, floor_exe, run_args, n, rnd, workdir, result,
               invalid, saturated):
    """An all-STARTTLS+AUTH agent, then the floor at its rate and cap:
    the ratio runs (kinds all_auth/floor) or the saturated ones."""
    what = "saturated" if saturated else "all STARTTLS+AUTH"
    tag = "round %d, %d targets %s" % (rnd, n, what)
    r = agent_run(lst, binary, run_args, n, 1.0, tag, full=False)
    r.update({"kind": "saturated_agent" if saturated else "all_auth",
              "round": rnd})
    result["runs"].append(r)
    log("%s: %.3f ms CPU/probe, %.1f probes/s"
        % (tag, r["cpu_ms_per_probe"] or 0, r.get("probes_per_s") or 0))
    if not r["health"]["valid"]:
        invalid.append(tag)
    save(run_args.out, result)
    tag = "round %d, %d floor%s" % (rnd, n, " saturated" if saturated
                                     else "")
    f = floor_run(lst, floor_exe, run_args, n, workdir, tag)
    f.update({"kind": "saturated_floor" if saturated else "floor",
              "round": rnd})
    result["runs"].append(f)
    log("%s: %.3f ms CPU/probe, %d probes, failed %d"
        % (tag, f["cpu_ms_per_probe"], f["probes"], f["failed_total"]))
    if not f["valid"]:
        invalid.append(tag)
    save(run_args.out, result)


# --- summary and table -------------------------------------------------------------

def parse_seconds(text):
    m = re.fullmatch(r"([0-9.]+)\s*(ms|s|m|h)?", text.strip())
    if not m:
        raise ValueError("bad duration %r" % text)
    mult = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return float(m.group(1)) * mult


def pick(r, path):
    for key in path.split("."):
        if r is None:
            return None
        r = r.get(key) if isinstance(r, dict) else None
    return r


ROWS = [
    ("ready s", "ready_s", 1, 1),
    ("RSS at start MiB", "rss_start_mib", 1, 1),
    ("RSS steady (median) MiB", "rss_steady_mib", 1, 1),
    ("RSS peak, steady MiB", "rss_peak_mib", 1, 1),
    ("RSS peak, +20 scrapers MiB", "rss_peak_all_mib", 1, 1),
    ("series in /metrics", "serve.series", 0, 1),
    ("  per STARTTLS+AUTH target", "serve.series_per_target.auth", 1, 1),
    ("  per EHLO-only target", "serve.series_per_target.ehlo", 1, 1),
    ("/metrics plain MB", "serve.metrics_plain_bytes", 2, 1e-6),
    ("/metrics gzip MB", "serve.metrics_gzip_bytes", 3, 1e-6),
    ("serve /metrics plain s", "serve.metrics_plain_s", 3, 1),
    ("serve /metrics gzip s", "serve.metrics_gzip_s", 3, 1),
    ("30 s scrapes (gzip) median s", "scrape_gzip_s_median", 3, 1),
    ("status page / MB", "serve.page_bytes", 3, 1e-6),
    ("status page / s", "serve.page_s", 3, 1),
    ("status page / gzip MB", "serve.page_gzip_bytes", 3, 1e-6),
    ("status page / gzip s", "serve.page_gzip_s", 3, 1),
    ("start delay p50 ms", "start_delay_ms.p50", 2, 1),
    ("start delay p99 ms", "start_delay_ms.p99", 2, 1),
    ("starts > 100 ms late", "start_delay_ms.over_100ms", 0, 1),
    ("probe duration mean ms", "probe_duration_ms.mean", 1, 1),
    ("probes in window", "probes", 0, 1),
    ("probes/s", "probes_per_s", 1, 1),
    ("skipped in window", "skipped", 0, 1),
    ("failed (whole run)", "health.failed", 0, 1),
    ("CPU ms per probe", "cpu_ms_per_probe", 3, 1),
    ("agent CPU, cores", "agent_cores", 3, 1),
    ("machine busy, cores (of %d)" % os.cpu_count(),
     "machine.machine_busy_cores", 2, 1),
    ("20 scrapers: scrapes", "parallel.scrapes", 0, 1),
    ("20 scrapers: median s", "parallel.latency_s_median", 2, 1),
    ("20 scrapers: max s", "parallel.latency_s_max", 2, 1),
    ("20 scrapers: agent cores", "parallel.agent_cores", 2, 1),
    ("20 scrapers: delay p50 ms", "parallel.start_delay_ms.p50", 2, 1),
    ("20 scrapers: delay p99 ms", "parallel.start_delay_ms.p99", 2, 1),
    ("20 scrapers: duration mean ms", "parallel.probe_duration_ms.mean", 1,
     1),
    ("20 scrapers: skipped", "parallel.skipped", 0, 1),
]


def mr(values):
    return bench.med_range([v for v in values if v is not None])


def fmt(m, digits):
    if not m:
        return "-"
    lo, hi = "%.*f" % (digits, m["min"]), "%.*f" % (digits, m["max"])
    if m["n"] == 1 or lo == hi:
        return "%.*f" % (digits, m["median"])
    return "%.*f [%.*f-%.*f]" % (digits, m["median"], digits, m["min"],
                                 digits, m["max"])


def ratio_summary(result, n, agent_kind, floor_kind):
    """Agent vs floor at n targets; the rounds alternate them."""
    agent = [r for r in result["runs"] if r["kind"] == agent_kind
             and r["targets"] == n]
    floor = [r for r in result["runs"] if r["kind"] == floor_kind
             and r["targets"] == n]
    ratios = [a["cpu_ms_per_probe"] / f["cpu_ms_per_probe"]
              for a, f in zip(agent, floor)
              if a.get("cpu_ms_per_probe") and f.get("cpu_ms_per_probe")]
    return {
        "agent_cpu_ms_per_probe": mr([a.get("cpu_ms_per_probe")
                                      for a in agent]),
        "floor_cpu_ms_per_probe": mr([f.get("cpu_ms_per_probe")
                                      for f in floor]),
        "ratio": mr(ratios),
        "agent_probes_per_s": mr([a.get("probes_per_s") for a in agent]),
        "floor_probes_per_s": mr([f["probes"] / f["seconds"]
                                  for f in floor if f.get("seconds")]),
        "agent_postfix_ms_per_session": mr(
            [a.get("postfix_cpu_ms_per_session") for a in agent]),
        "floor_postfix_ms_per_session": mr(
            [f.get("postfix_cpu_ms_per_session") for f in floor]),
        "agent_rss_steady_mib": mr([a.get("rss_steady_mib")
                                    for a in agent]),
        "agent_start_delay_p99_ms": mr([pick(a, "start_delay_ms.p99")
                                        for a in agent]),
    }


def summarize(result):
    summ = {"sizes": {}, "ratio": {}, "slopes": {}}
    for n in result["config"]["targets"]:
        runs = [r for r in result["runs"] if r["kind"] == "mixed"
                and r["targets"] == n]
        summ["sizes"][str(n)] = {
            path: mr([(pick(r, path) * scale)
                      if pick(r, path) is not None else None for r in runs])
            for _, path, _, scale in ROWS}
    for n in result["config"]["ratio_targets"]:
        summ["ratio"][str(n)] = ratio_summary(result, n, "all_auth", "floor")
    for n in result["config"].get("saturated_targets", []):
        summ.setdefault("saturated", {})[str(n)] = ratio_summary(
            result, n, "saturated_agent", "saturated_floor")
    # Memory per target: steady RSS slope between consecutive sizes, per
    # round, in KiB.
    sizes = sorted(result["config"]["targets"])
    for a, b in zip(sizes, sizes[1:]):
        vals = []
        for rnd in range(1, result["config"]["rounds"] + 1):
            ra = [r for r in result["runs"] if r["kind"] == "mixed"
                  and r["targets"] == a and r["round"] == rnd]
            rb = [r for r in result["runs"] if r["kind"] == "mixed"
                  and r["targets"] == b and r["round"] == rnd]
            if ra and rb:
                for key in ("rss_steady_mib", "rss_start_mib",
                            "rss_peak_mib"):
                    if ra[0].get(key) is not None and rb[0].get(key) is not None:
                        vals.append((key, (rb[0][key] - ra[0][key]) * 1024.0
                                     / (b - a)))
        for key in ("rss_steady_mib", "rss_start_mib", "rss_peak_mib"):
            summ["slopes"]["%s %d->%d KiB/target" % (key, a, b)] = mr(
                [v for k, v in vals if k == key])
    return summ


def print_table(result):
    summ = result["summary"]
    sizes = [str(n) for n in result["config"]["targets"]]
    cfg = result["config"]
    print("\nsmtp-health-agent %s, %s; %d round(s), %s min per run, "
          "interval %s, limits %d"
          % (result["versions"]["agent"], result.get("commit", "?"),
             cfg["rounds"], cfg["minutes"], cfg["interval"],
             cfg["max_concurrent"]))
    print("mix: %.0f%% STARTTLS+AUTH (Postfix, %d ports), %.0f%% EHLO-only "
          "(aiosmtpd, %d ports); median [min-max] over rounds"
          % (cfg["auth_share"] * 100, cfg["postfix_ports"],
             (1 - cfg["auth_share"]) * 100, cfg["aiosmtpd_ports"]))
    w0 = 30
    # --targets "" runs only the ratio: no column to print.
    w = max([22] + [len(fmt(summ["sizes"][s].get(p), d)) + 2
                    for s in sizes for _, p, d, _ in ROWS])
    if sizes:
        print("%-*s" % (w0, "targets") + "".join("%-*s" % (w, s)
                                                 for s in sizes))
    for title, path, digits, _ in ROWS if sizes else ():
        print("%-*s" % (w0, title) + "".join(
            "%-*s" % (w, fmt(summ["sizes"][s].get(path), digits))
            for s in sizes))
    for k, v in summ["slopes"].items():
        print("memory per target, %s: %s" % (k, fmt(v, 1)))
    lines = [("all STARTTLS+AUTH, %s targets" % n, r)
             for n, r in summ["ratio"].items()]
    lines += [("saturated, %s targets, %d in flight, interval %s"
               % (n, cfg["saturated_concurrency"], cfg["saturated_interval"]),
               r) for n, r in summ.get("saturated", {}).items()]
    for what, r in lines:
        print("%s: agent %s ms/probe, floor %s "
              "ms/probe, ratio %s (agent %s probes/s, floor %s; Postfix "
              "ms/session %s vs %s)"
              % (what, fmt(r["agent_cpu_ms_per_probe"], 3),
                 fmt(r["floor_cpu_ms_per_probe"], 3), fmt(r["ratio"], 2),
                 fmt(r["agent_probes_per_s"], 1),
                 fmt(r["floor_probes_per_s"], 1),
                 fmt(r["agent_postfix_ms_per_session"], 2),
                 fmt(r["floor_postfix_ms_per_session"], 2)))


def git_commit(binary):
    """The commit of the tree the binary was built from, if it is in one."""
    d = os.path.dirname(os.path.abspath(binary))
    while d != "/":
        if os.path.exists(os.path.join(d, ".git")):
            try:
                out = subprocess.run(["git", "-C", d, "describe", "--always",
                                      "--dirty", "--abbrev=12"],
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True,
                                     timeout=10).stdout.strip()
                return out or None
            except (OSError, subprocess.TimeoutExpired):
                return None
        d = os.path.dirname(d)
    return None


def save(path, result):
    """Writes the JSON (also after every run: a long run that breaks off
    keeps what it measured)."""
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(redact(json.dumps(result, indent=2, sort_keys=True)))
        f.write("\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="write every figure as JSON here")
    ap.add_argument("--agent", help="agent binary (default: "
                    "$SMTP_HEALTH_AGENT or build/smtp-health-agent)")
    ap.add_argument("--targets", default="100,1000,10000",
                    help="sizes, comma separated (default 100,1000,10000)")
    ap.add_argument("--ratio-targets",
                    help="sizes of the all-STARTTLS+AUTH agent vs floor "
                    "runs (default: the largest of --targets; 0 = none)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=3.0,
                    help="steady phase per run (default 3)")
    ap.add_argument("--interval", default="60s")
    ap.add_argument("--timeout", help="probe timeout (default: 10s, at "
                    "most the interval)")
    ap.add_argument("--max-concurrent", type=int, default=256,
                    help="max_concurrent_probes = max_per_host (256)")
    ap.add_argument("--auth-share", type=float, default=0.6,
                    help="share of STARTTLS+AUTH targets (default 0.6)")
    ap.add_argument("--extra-metrics", help="[agent] extra_metrics (e.g. "
                    "duration_buckets,ehlo_extensions,last_reply_codes,"
                    "zero_series); default: not set")
    ap.add_argument("--warmup", help="start of the measured window "
                    "(default: one interval, at most a third of the run)")
    ap.add_argument("--scrape-interval", type=float, default=30.0)
    ap.add_argument("--serve-repeats", type=int, default=5)
    ap.add_argument("--page-repeats", type=int, default=3)
    ap.add_argument("--parallel-scrapers", type=int, default=20)
    ap.add_argument("--parallel-seconds", type=float, default=60.0)
    ap.add_argument("--postfix-ports", type=int, default=4)
    ap.add_argument("--aiosmtpd-ports", type=int, default=4)
    ap.add_argument("--floor-warmup", type=float, default=5.0)
    ap.add_argument("--saturated-targets", default="100",
                    help="sizes of the saturated agent vs floor runs "
                    "(default 100; 0 = none)")
    ap.add_argument("--saturated-concurrency", type=int, default=20)
    ap.add_argument("--saturated-interval", default="250ms")
    ap.add_argument("--saturated-minutes", type=float, default=1.0)
    ap.add_argument("--ready-timeout", type=float, default=600.0)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("scale.py needs root (it runs its own Postfix)")
    sizes = [int(x) for x in args.targets.split(",") if x.strip()]
    if args.ratio_targets is None:
        ratio_sizes = [max(sizes)]
    else:
        ratio_sizes = [int(x) for x in args.ratio_targets.split(",")
                       if x.strip() and int(x) > 0]
    sat_sizes = [int(x) for x in args.saturated_targets.split(",")
                 if x.strip() and int(x) > 0]
    args.warmup_s = parse_seconds(args.warmup or args.interval)
    if args.timeout is None:
        args.timeout = "%gs" % min(10.0, parse_seconds(args.interval))
    binary = args.agent or harness.agent_binary()
    commit = os.environ.get("SCALE_COMMIT") or git_commit(binary)

    started = time.monotonic()
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": bench.machine_info(),
        "commit": commit,
        "versions": {
            "agent": bench.tool_version([binary, "--version"]),
            "postfix": bench.tool_version(["/usr/sbin/postconf", "-d",
                                           "mail_version"]),
            "curl": bench.tool_version(["curl-config", "--version"]),
        },
        "config": {"targets": sizes, "ratio_targets": ratio_sizes,
                   "saturated_targets": sat_sizes,
                   "saturated_concurrency": args.saturated_concurrency,
                   "saturated_interval": args.saturated_interval,
                   "saturated_minutes": args.saturated_minutes,
                   "rounds": args.rounds, "minutes": args.minutes,
                   "interval": args.interval, "timeout": args.timeout,
                   "warmup_s": args.warmup_s,
                   "max_concurrent": args.max_concurrent,
                   "auth_share": args.auth_share,
                   "extra_metrics": args.extra_metrics,
                   "scrape_interval_s": args.scrape_interval,
                   "parallel_scrapers": args.parallel_scrapers,
                   "parallel_seconds": args.parallel_seconds,
                   "postfix_ports": args.postfix_ports,
                   "aiosmtpd_ports": args.aiosmtpd_ports,
                   "postfix_main": POSTFIX_MAIN},
        "argv": [os.path.basename(sys.argv[0])] + sys.argv[1:],
        "runs": [],
    }
    invalid = []
    workdir = tempfile.mkdtemp(prefix="bench-scale-floor-")
    os.chmod(workdir, 0o700)
    try:
        floor_exe = (build_floor(workdir) if ratio_sizes or sat_sizes
                     else None)
        with Listeners(args.postfix_ports, args.aiosmtpd_ports) as lst:
            log("Postfix STARTTLS ports %s, aiosmtpd ports %s; agent %s (%s)"
                % (lst.postfix_ports, lst.aiosmtpd_ports, binary, commit))
            for rnd in range(1, args.rounds + 1):
                for n in sizes:
                    tag = "round %d, %d targets" % (rnd, n)
                    r = agent_run(lst, binary, args, n, args.auth_share, tag)
                    r.update({"kind": "mixed", "round": rnd})
                    result["runs"].append(r)
                    log("%s: %.3f ms CPU/probe, RSS steady %.1f peak %.1f "
                        "MiB, failed %d, skipped %d"
                        % (tag, r["cpu_ms_per_probe"] or 0,
                           r["rss_steady_mib"] or 0, r["rss_peak_all_mib"],
                           r["health"]["failed"], r["skipped"]))
                    if not r["health"]["valid"]:
                        invalid.append(tag)
                    save(args.out, result)
                for n in ratio_sizes:
                    floor_pair(lst, binary, floor_exe, args, n, rnd, workdir,
                               result, invalid, False)
                for n in sat_sizes:
                    floor_pair(lst, binary, floor_exe, saturated_args(args),
                               n, rnd, workdir, result, invalid, True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    result["summary"] = summarize(result)
    result["invalid_runs"] = invalid
    result["machine"]["loadavg_at_end"] = [str(x) for x in loadavg()]
    result["wall_s"] = round(time.monotonic() - started, 1)
    print_table(result)
    print("load average at start %s, at end %s; wall time %.0f s"
          % (" ".join(result["machine"]["loadavg_at_start"]),
             " ".join(result["machine"]["loadavg_at_end"]),
             result["wall_s"]))
    if args.out:
        save(args.out, result)
        print("JSON: %s" % args.out)
    if invalid:
        print("FAILED: probes failed in %s: the figures are not valid"
              % ", ".join(invalid))
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, bench.BenchError, postfix.PostfixError,
            AssertionError) as e:  # AssertionError: harness' waits
        print(redact("scale: %s" % e), file=sys.stderr)
        sys.exit(1)
