#!/usr/bin/python3
"""Benchmark: the agent's CPU and memory per probe against its peers.

Runs on loopback against a private Postfix (tests/support harness), all
probes STARTTLS + AUTH PLAIN with the good password and a verified
certificate (the test CA):

  agent     smtp-health-agent, many targets on the same port, capped at
            --concurrency probes in flight (its own max_concurrent_probes)
  blackbox  prometheus-blackbox-exporter 0.23, a tcp module doing the same
            dialogue with query_response and starttls, driven by
            --concurrency Python threads calling /probe in a loop
  check_smtp (optional) monitoring-plugins' check_smtp -S -A LOGIN, one
            process per check, --concurrency at a time

Agent and blackbox alternate (agent, blackbox, agent, ...) for --rounds
rounds; each round starts a fresh process, warms up, then measures a fixed
window from /proc: CPU (utime+stime) per completed probe, probes/s, peak
(VmHWM) and final (VmRSS) memory, and the CPU that Postfix spent per
session in the same window (a check that both did the same work). Every
probe must succeed: a benchmark of failing probes is worthless, so any
failure makes the exit status 1.

Also measured: the agent's RSS with 20 targets at a low rate, and the
latency of sequential probes (one target), phase by phase, to see the
bimodal ~3 ms / ~44 ms pattern around STARTTLS.

Not part of ctest. Needs root (Postfix) and tests/bench/setup.sh.
Run: /usr/bin/python3 tests/bench/bench.py --out /tmp/bench.json
"""

import argparse
import base64
import datetime
import http.client
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))

import harness  # noqa: E402

BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
CHECK_SMTP = "/usr/lib/nagios/plugins/check_smtp"
EHLO_NAME = "bench.localhost"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024.0 * 1024.0

# duration_buckets: the per-target le buckets that latency_buckets and
# histogram_buckets read (by default the agent exports only le="+Inf").
AGENT_HEAD = """\
[agent]
log_level = warn
extra_metrics = duration_buckets
interval = {interval}
timeout = {interval}
max_concurrent_probes = {max_concurrent}
max_per_host = {max_concurrent}
"""

# host is the address: the certificate has IP:127.0.0.1, so the name check
# is a real one (no SNI for an address, same as blackbox).
AGENT_TARGET = """\
[target "t{i}"]
host = 127.0.0.1
port = {port}
tls = starttls
tls_verify = true
ca_file = @CA_FILE@
ehlo_name = {ehlo}
mechanisms = PLAIN
username = {user}
password_file = @PASSWORD_FILE@
"""

# The dialogue of PEERS.md. Every send ends in \r (blackbox adds \n) and is
# one write. "^250 " waits for the last line of a multiline EHLO reply.
BLACKBOX_YML = """\
modules:
  smtp_auth:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      tls_config:
        ca_file: {ca}
        insecure_skip_verify: false
      query_response:
        - expect: "^220 "
        - send: "EHLO {ehlo}\\r"
        - expect: "^250-STARTTLS"
        - send: "STARTTLS\\r"
        - expect: "^220 "
        - starttls: true
        - send: "EHLO {ehlo}\\r"
        - expect: "^250 "
        - send: "AUTH PLAIN {auth}\\r"
        - expect: "^235 "
        - send: "QUIT\\r"
        - expect: "^221 "
"""


class BenchError(RuntimeError):
    pass


class Redactor:
    """Removes the secrets from any text before it is printed."""

    def __init__(self):
        self.secrets = []

    def add(self, secret):
        if secret:
            self.secrets.append(secret)

    def __call__(self, text):
        for s in self.secrets:
            text = text.replace(s, "<redacted>")
        return text


redact = Redactor()


def log(msg):
    print(redact(msg), file=sys.stderr, flush=True)


# --- /proc ---------------------------------------------------------------

def proc_stat(pid):
    """(utime+stime, cutime+cstime, ppid) in seconds from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (stat field 3): utime is field 14.
    own = (int(fields[11]) + int(fields[12])) / CLK_TCK
    children = (int(fields[13]) + int(fields[14])) / CLK_TCK
    return own, children, int(fields[1])


def proc_cpu(pid):
    return proc_stat(pid)[0]


proc_mem = harness.vm_status  # {"VmRSS": bytes, "VmHWM": bytes}


def postfix_cpu(master):
    """CPU seconds of a Postfix instance so far.

    master's own time, the time of the children it has reaped (cutime),
    and the time of the children still running (smtpd, tlsmgr, anvil,
    postlogd, ...: all direct children of master). A child that exits
    moves from the last term to the second, so deltas stay continuous.
    """
    own, reaped, _ = proc_stat(master)
    total = own + reaped
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            c_own, c_reaped, ppid = proc_stat(int(entry))
        except (OSError, IndexError, ValueError):
            continue
        if ppid == master:
            total += c_own + c_reaped
    return total


def machine_info():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {"cores": os.cpu_count(), "cpu_model": model,
            "kernel": platform.release(), "loadavg_at_start": load}


def tool_version(argv):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=10)
        return p.stdout.strip().splitlines()[0] if p.stdout.strip() else ""
    except (OSError, subprocess.TimeoutExpired):
        return ""


# --- metrics helpers -----------------------------------------------------

def total(samples, name, **labels):
    return sum(harness.series(samples, name, **labels).values())


def buckets(samples, name):
    """{le: cumulative count summed over every target}."""
    out = {}
    for lbl, v in harness.series(samples, name).items():
        le = dict(lbl).get("le")
        if le is not None:
            out[le] = out.get(le, 0.0) + v
    return out


def bucket_shares(b0, b1):
    """Share of probes per histogram bucket (non-cumulative) in a window."""
    keys = sorted(b1, key=lambda k: float(k))
    counts, prev = {}, 0.0
    for k in keys:
        cum = b1[k] - b0.get(k, 0.0)
        counts[k] = cum - prev
        prev = cum
    n = prev
    return {k: (round(c / n, 4) if n else None) for k, c in counts.items()
            if c > 0}


# --- the agent -----------------------------------------------------------

def agent_config(port, user, targets, interval, max_concurrent):
    text = AGENT_HEAD.format(interval=interval, max_concurrent=max_concurrent)
    for i in range(targets):
        text += "\n" + AGENT_TARGET.format(i=i, port=port, user=user,
                                           ehlo=EHLO_NAME)
    return text


def agent_snapshot(agent):
    pid = agent.proc.pid
    cpu = proc_cpu(pid)
    t = time.monotonic()
    _, s = harness.scrape(agent.port)
    return t, cpu, s


def agent_window(pf, binary, targets, interval, max_concurrent, warmup,
                 duration):
    """One agent run: start, warm up, measure `duration`, stop."""
    conf = agent_config(pf.ports.starttls, pf.username, targets, interval,
                        max_concurrent)
    master = pf.master_pid()
    with harness.run_agent(binary, conf, password=pf.password) as agent:
        time.sleep(warmup)
        pf0 = postfix_cpu(master)
        t0, c0, s0 = agent_snapshot(agent)
        time.sleep(duration)
        t1, c1, s1 = agent_snapshot(agent)
        pf1 = postfix_cpu(master)
        mem = proc_mem(agent.proc.pid)

        def d(name, **kw):
            return total(s1, name, **kw) - total(s0, name, **kw)

        probes = d("smtp_probes_total")
        ok = d("smtp_auth_results_total", **{"class": "success"})
        quit_ok = d("smtp_replies_total", stage="quit", code="221")
        failures = d("smtp_probe_failures_total")
        errors = {dict(lbl)["error"]: v - total(s0, "smtp_probe_errors_total",
                                                 **dict(lbl))
                  for lbl, v in harness.series(
                      s1, "smtp_probe_errors_total").items()}
        errors = {k: v for k, v in errors.items() if v}
        lat_sum = d("smtp_probe_duration_seconds_sum")
        lat_n = d("smtp_probe_duration_seconds_count")
        phases = {}
        for lbl, v in harness.series(
                s1, "smtp_probe_phase_duration_seconds").items():
            phases.setdefault(dict(lbl)["phase"], []).append(v)
        valid = harness.series(s1, "smtp_tls_cert_valid")
        last_ok = harness.series(s1, "smtp_probe_success")
        if probes <= 0:
            raise BenchError("agent completed no probe:\n%s"
                             % harness.tail(agent.stderr_path))
        # All succeeded: every probe got 235 to AUTH and 221 to QUIT, none
        # failed, and every target's last probe verified the certificate.
        all_ok = (failures == 0 and ok == probes and quit_ok == probes
                  and all(v == 1 for v in valid.values())
                  and all(v == 1 for v in last_ok.values()))
        return {
            "tool": "agent",
            "targets": targets,
            "interval": interval,
            "max_concurrent": max_concurrent,
            "seconds": round(t1 - t0, 3),
            "probes": int(probes),
            "succeeded": int(ok),
            "failed": int(failures),
            "errors": errors,
            "skipped": int(d("smtp_agent_probes_skipped_total")),
            "all_succeeded": all_ok,
            "success_ratio": round(ok / probes, 5),
            "probes_per_s": round(probes / (t1 - t0), 1),
            "cpu_s": round(c1 - c0, 3),
            "cpu_ms_per_probe": round((c1 - c0) / probes * 1000, 4),
            "rss_peak_mib": round(mem["VmHWM"] / MIB, 2),
            "rss_final_mib": round(mem["VmRSS"] / MIB, 2),
            "postfix_cpu_ms_per_session": round((pf1 - pf0) / probes * 1000,
                                                4),
            "latency_mean_ms": round(lat_sum / lat_n * 1000, 2)
            if lat_n else None,
            "latency_buckets": bucket_shares(
                buckets(s0, "smtp_probe_duration_seconds_bucket"),
                buckets(s1, "smtp_probe_duration_seconds_bucket")),
            "last_phase_mean_ms": {k: round(statistics.mean(v) * 1000, 3)
                                   for k, v in phases.items()},
        }


def agent_idle(pf, binary, targets, interval, settle):
    """RSS of the agent with `targets` targets at a low rate.

    Right after /-/ready (config loaded, nothing probed yet) and after
    `settle` seconds, by when every target has been probed once (first
    probes are spread over one interval).
    """
    conf = agent_config(pf.ports.starttls, pf.username, targets, interval,
                        256)
    with harness.run_agent(binary, conf, password=pf.password) as agent:
        pid = agent.proc.pid
        at_ready = proc_mem(pid)
        time.sleep(settle)
        after = proc_mem(pid)
        cpu = proc_cpu(pid)
        _, s = harness.scrape(agent.port)
        probes = total(s, "smtp_probes_total")
        ok = total(s, "smtp_auth_results_total", **{"class": "success"})
        return {
            "targets": targets,
            "interval": interval,
            "seconds": settle,
            "probes": int(probes),
            "succeeded": int(ok),
            "rss_at_ready_mib": round(at_ready["VmRSS"] / MIB, 2),
            "rss_after_mib": round(after["VmRSS"] / MIB, 2),
            "rss_peak_mib": round(after["VmHWM"] / MIB, 2),
            "cpu_s_total": round(cpu, 3),
        }


def agent_sequential(pf, binary, interval, duration):
    """One target, one probe at a time, in two halves of `duration` each.

    First nothing but two scrapes: the histogram and CPU of an undisturbed
    window (polling /metrics fast changes the timing, and with it how
    often the ~40 ms stall appears). Then /metrics is polled every 25 ms;
    each time smtp_probes_total has moved by exactly one, the phase gauges
    belong to that one probe: the phases of fast and slow probes.
    """
    conf = agent_config(pf.ports.starttls, pf.username, 1, interval, 1)
    records = []
    with harness.run_agent(binary, conf, password=pf.password) as agent:
        time.sleep(0.5)
        t0, c0, s0 = agent_snapshot(agent)
        time.sleep(duration)
        t1, c1, s1 = agent_snapshot(agent)
        last = None
        end = time.monotonic() + duration
        while time.monotonic() < end:
            _, s = harness.scrape(agent.port)
            n = total(s, "smtp_probes_total")
            if last is not None and n == last + 1:
                ph = {dict(lbl)["phase"]: v * 1000 for lbl, v in
                      harness.series(s, "smtp_probe_phase_duration_seconds")
                      .items()}
                ok = harness.metric(s, "smtp_probe_success", target="t0")
                records.append({"ok": ok == 1, "phases_ms": ph,
                                "total_ms": sum(ph.values())})
            last = n
            time.sleep(0.025)

    def d(name):
        return total(s1, name) - total(s0, name)

    probes = d("smtp_probes_total")
    ok = total(s1, "smtp_auth_results_total", **{"class": "success"}) - \
        total(s0, "smtp_auth_results_total", **{"class": "success"})
    hist_n = d("smtp_probe_duration_seconds_count")
    hist_sum = d("smtp_probe_duration_seconds_sum")
    totals = sorted(r["total_ms"] for r in records)
    slow = [r for r in records if r["total_ms"] > 20]
    fast = [r for r in records if r["total_ms"] <= 20]

    def phase_median(rs):
        if not rs:
            return {}
        keys = rs[0]["phases_ms"].keys()
        return {k: round(statistics.median(r["phases_ms"].get(k, 0)
                                           for r in rs), 3) for k in keys}

    shares = bucket_shares(buckets(s0, "smtp_probe_duration_seconds_bucket"),
                           buckets(s1, "smtp_probe_duration_seconds_bucket"))
    return {
        "interval": interval,
        "seconds": round(t1 - t0, 3),
        "probes": int(probes),
        "all_succeeded": (probes > 0 and ok == probes and bool(records)
                          and all(r["ok"] for r in records)),
        "cpu_ms_per_probe": round((c1 - c0) / probes * 1000, 3)
        if probes else None,
        "histogram_mean_ms": round(hist_sum / hist_n * 1000, 2)
        if hist_n else None,
        "histogram_buckets": shares,
        "share_over_25ms": round(sum(v for k, v in shares.items()
                                     if float(k) > 0.025), 3),
        "polled_probes": len(records),
        "polled_total_ms_quantiles": {
            "min": round(totals[0], 2),
            "p25": round(totals[len(totals) // 4], 2),
            "median": round(statistics.median(totals), 2),
            "p75": round(totals[3 * len(totals) // 4], 2),
            "max": round(totals[-1], 2)} if totals else {},
        "polled_share_over_20ms": round(len(slow) / len(records), 3)
        if records else None,
        "fast_phase_median_ms": phase_median(fast),
        "slow_phase_median_ms": phase_median(slow),
    }


# --- blackbox ------------------------------------------------------------

class Blackbox:
    """prometheus-blackbox-exporter on a loopback port, config in a 0600
    file inside a 0700 temp dir (it holds the AUTH PLAIN line)."""

    def __init__(self, pf, ca):
        self.dir = tempfile.mkdtemp(prefix="bench-blackbox-")
        os.chmod(self.dir, 0o700)
        self.config = os.path.join(self.dir, "blackbox.yml")
        blob = base64.b64encode(("\0%s\0%s" % (pf.username, pf.password))
                                .encode()).decode()
        redact.add(blob)
        harness.write_secret(self.config, BLACKBOX_YML.format(
            ca=ca, ehlo=EHLO_NAME, auth=blob))
        self.port = harness.free_port()
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.proc = None

    def __enter__(self):
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [BLACKBOX, "--config.file=" + self.config,
                 "--web.listen-address=127.0.0.1:%d" % self.port,
                 "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err)
        try:
            harness.wait_for(lambda: self._healthy(), 15,
                             message="blackbox exporter to answer")
        except AssertionError:
            self.__exit__()
            raise BenchError("blackbox did not start:\n"
                             + redact(harness.tail(self.stderr_path)))
        return self

    def _healthy(self):
        if self.proc.poll() is not None:
            raise BenchError("blackbox exited with %d:\n%s"
                             % (self.proc.returncode,
                                redact(harness.tail(self.stderr_path))))
        return harness.http_get(self.port, "/-/healthy")[0] == 200

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def parse_probe_body(body):
    success, duration = None, None
    for line in body.splitlines():
        if line.startswith("probe_success "):
            success = float(line.split()[1]) == 1
        elif line.startswith("probe_duration_seconds "):
            duration = float(line.split()[1])
    return success, duration


class LoadThreads:
    """`n` threads each calling `work()` in a loop until stopped; each call
    returns (success, duration_s or None) and is recorded with its end
    time, so a window's results can be picked out afterwards."""

    def __init__(self, n, make_work):
        self.stop = threading.Event()
        self.records = []
        self.errors = []
        self.threads = [threading.Thread(target=self._run,
                                         args=(make_work(),), daemon=True)
                        for _ in range(n)]

    def _run(self, work):
        try:
            while not self.stop.is_set():
                ok, dur = work()
                self.records.append((time.monotonic(), ok, dur))
        except Exception as e:  # noqa: BLE001 (reported after the window)
            self.errors.append(redact(repr(e)))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        return False

    def window(self, t0, t1):
        return [r for r in self.records if t0 <= r[0] < t1]


def blackbox_worker(port, target):
    conn = [None]
    path = "/probe?module=smtp_auth&target=" + target

    def work():
        if conn[0] is None:
            conn[0] = http.client.HTTPConnection("127.0.0.1", port,
                                                 timeout=30)
        try:
            conn[0].request("GET", path)
            resp = conn[0].getresponse()
            body = resp.read().decode()
        except (OSError, http.client.HTTPException):
            conn[0].close()
            conn[0] = None
            return False, None
        if resp.status != 200:
            return False, None
        return parse_probe_body(body)

    return work


def summarize_records(recs):
    durs = sorted(r[2] for r in recs if r[2] is not None)
    out = {}
    if durs:
        out["latency_mean_ms"] = round(statistics.mean(durs) * 1000, 2)
        out["latency_median_ms"] = round(statistics.median(durs) * 1000, 2)
        out["latency_p90_ms"] = round(durs[int(len(durs) * 0.9)] * 1000, 2)
        out["latency_share_over_20ms"] = round(
            sum(1 for d in durs if d > 0.020) / len(durs), 3)
    return out


def blackbox_window(pf, ca, concurrency, warmup, duration):
    master = pf.master_pid()
    target = "127.0.0.1:%d" % pf.ports.starttls
    with Blackbox(pf, ca) as bb:
        pid = bb.proc.pid
        with LoadThreads(concurrency,
                         lambda: blackbox_worker(bb.port, target)) as load:
            time.sleep(warmup)
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            pf0 = postfix_cpu(master)
            c0, t0 = proc_cpu(pid), time.monotonic()
            time.sleep(duration)
            c1, t1 = proc_cpu(pid), time.monotonic()
            pf1 = postfix_cpu(master)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            mem = proc_mem(pid)
        if load.errors:
            raise BenchError("load thread failed: %s" % load.errors[0])
        recs = load.window(t0, t1)
        ok = sum(1 for r in recs if r[1])
        n = len(recs)
        if n == 0:
            raise BenchError("blackbox completed no probe:\n"
                             + redact(harness.tail(bb.stderr_path)))
        client = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        out = {
            "tool": "blackbox",
            "concurrency": concurrency,
            "seconds": round(t1 - t0, 3),
            "probes": n,
            "succeeded": ok,
            "failed": n - ok,
            "all_succeeded": ok == n,
            "success_ratio": round(ok / n, 5),
            "probes_per_s": round(n / (t1 - t0), 1),
            "cpu_s": round(c1 - c0, 3),
            "cpu_ms_per_probe": round((c1 - c0) / n * 1000, 4),
            "rss_peak_mib": round(mem["VmHWM"] / MIB, 2),
            "rss_final_mib": round(mem["VmRSS"] / MIB, 2),
            "postfix_cpu_ms_per_session": round((pf1 - pf0) / n * 1000, 4),
            "load_client_cpu_ms_per_probe": round(client / n * 1000, 4),
        }
        out.update(summarize_records(recs))
        return out


# --- check_smtp ----------------------------------------------------------

def check_smtp_window(pf, concurrency, warmup, duration):
    """check_smtp -S -A LOGIN, `concurrency` processes at a time.

    The password goes in through --extra-opts from a 0600 file, never on
    the command line. CPU per check is RUSAGE_CHILDREN: the whole process,
    exec and dynamic linking included.
    """
    workdir = tempfile.mkdtemp(prefix="bench-check-smtp-")
    os.chmod(workdir, 0o700)
    opts = os.path.join(workdir, "check_smtp.ini")
    harness.write_secret(opts, "[bench]\nauthpass=%s" % pf.password)
    argv = [CHECK_SMTP, "--extra-opts=bench@" + opts, "-H", "127.0.0.1",
            "-p", str(pf.ports.starttls), "-S", "-A", "LOGIN", "-U",
            pf.username, "-F", EHLO_NAME, "-t", "10"]
    outputs = []

    def make_work():
        def work():
            t = time.monotonic()
            p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            if p.returncode != 0 and len(outputs) < 3:
                outputs.append(redact(p.stdout.strip()))
            return p.returncode == 0, time.monotonic() - t
        return work

    master = pf.master_pid()
    try:
        with LoadThreads(concurrency, make_work) as load:
            time.sleep(warmup)
            pf0 = postfix_cpu(master)
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            time.sleep(duration)
            t1 = time.monotonic()
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            pf1 = postfix_cpu(master)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if load.errors:
        raise BenchError("check_smtp thread failed: %s" % load.errors[0])
    recs = load.window(t0, t1)
    n = len(recs)
    ok = sum(1 for r in recs if r[1])
    if n == 0:
        raise BenchError("check_smtp completed no check")
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    out = {
        "tool": "check_smtp",
        "concurrency": concurrency,
        "seconds": round(t1 - t0, 3),
        "probes": n,
        "succeeded": ok,
        "failed": n - ok,
        "all_succeeded": ok == n,
        "failure_output": outputs,
        "success_ratio": round(ok / n, 5),
        "probes_per_s": round(n / (t1 - t0), 1),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_probe": round(cpu / n * 1000, 4),
        "postfix_cpu_ms_per_session": round((pf1 - pf0) / n * 1000, 4),
    }
    out.update(summarize_records(recs))
    return out


# --- report --------------------------------------------------------------

def med_range(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": round(statistics.median(values), 4),
            "min": round(min(values), 4), "max": round(max(values), 4),
            "n": len(values)}


def summarize(runs):
    keys = ("cpu_ms_per_probe", "probes_per_s", "rss_peak_mib",
            "rss_final_mib", "postfix_cpu_ms_per_session", "latency_mean_ms",
            "success_ratio", "load_client_cpu_ms_per_probe")
    out = {}
    for tool in ("agent", "blackbox", "check_smtp"):
        rs = [r for r in runs if r["tool"] == tool]
        if rs:
            out[tool] = {k: med_range([r.get(k) for r in rs]) for k in keys
                         if any(r.get(k) is not None for r in rs)}
    return out


def ratios(runs, a, b, key="cpu_ms_per_probe"):
    """Per-round ratio a/b (round i of a against round i of b)."""
    ra = [r[key] for r in runs if r["tool"] == a]
    rb = [r[key] for r in runs if r["tool"] == b]
    vals = [x / y for x, y in zip(ra, rb) if y]
    return med_range(vals)


def fmt(mr, digits=2):
    if not mr:
        return "-"
    if mr["n"] == 1:
        return "%.*f" % (digits, mr["median"])
    return "%.*f [%.*f-%.*f]" % (digits, mr["median"], digits, mr["min"],
                                 digits, mr["max"])


def print_table(result):
    summ = result["summary"]
    cols = [("CPU ms/probe", "cpu_ms_per_probe", 3),
            ("probes/s", "probes_per_s", 0),
            ("RSS peak MiB", "rss_peak_mib", 1),
            ("RSS final MiB", "rss_final_mib", 1),
            ("Postfix CPU ms/session", "postfix_cpu_ms_per_session", 2),
            ("mean latency ms", "latency_mean_ms", 1),
            ("success", "success_ratio", 4)]
    print("\nMedians over %d rounds [min-max], %s s windows, %d in flight"
          % (result["config"]["rounds"], result["config"]["duration_s"],
             result["config"]["concurrency"]))
    width = 24
    print("%-24s" % "" + "".join("%-*s" % (width, t) for t in summ))
    for title, key, digits in cols:
        print("%-24s" % title + "".join(
            "%-*s" % (width, fmt(summ[t].get(key), digits)) for t in summ))
    for name, r in result["ratios"].items():
        print("ratio %s: %s" % (name, fmt(r, 3)))
    idle = result.get("idle")
    if idle:
        print("agent idle, %d targets: RSS %.1f MiB at ready, %.1f MiB after "
              "%ss (%d probes), peak %.1f MiB"
              % (idle["targets"], idle["rss_at_ready_mib"],
                 idle["rss_after_mib"], idle["seconds"], idle["probes"],
                 idle["rss_peak_mib"]))
    seq = result.get("sequential")
    if seq:
        print("sequential probes (1 target, every %s, %.0f s): %d probes, "
              "mean %.1f ms, %.3f ms CPU/probe, histogram shares %s"
              % (seq["interval"], seq["seconds"], seq["probes"],
                 seq["histogram_mean_ms"] or 0, seq["cpu_ms_per_probe"] or 0,
                 seq["histogram_buckets"]))
        q = seq["polled_total_ms_quantiles"]
        if q:
            print("  polled every 25 ms: %d probes, min/p25/median/p75/max "
                  "%s ms, share > 20 ms %.2f"
                  % (seq["polled_probes"],
                     "/".join("%.1f" % q[k] for k in ("min", "p25", "median",
                                                        "p75", "max")),
                     seq["polled_share_over_20ms"] or 0))
        print("  fast probes, median phases ms: %s"
              % seq["fast_phase_median_ms"])
        print("  slow probes, median phases ms: %s"
              % seq["slow_phase_median_ms"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--agent", help="agent binary (default: "
                    "$SMTP_HEALTH_AGENT or build/smtp-health-agent)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=20.0,
                    help="measured seconds per run (default 20)")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--concurrency", type=int, default=20,
                    help="probes in flight for every tool (default 20)")
    ap.add_argument("--targets", type=int, default=100,
                    help="agent targets in the saturated runs (default 100)")
    ap.add_argument("--interval", default="250ms",
                    help="agent interval = timeout in the saturated runs")
    ap.add_argument("--idle-targets", type=int, default=20)
    ap.add_argument("--no-check-smtp", action="store_true")
    ap.add_argument("--check-smtp-duration", type=float, default=8.0)
    ap.add_argument("--sequential-duration", type=float, default=6.0)
    args = ap.parse_args()

    if os.geteuid() != 0:
        sys.exit("bench.py needs root (it runs its own Postfix)")
    binary = args.agent or harness.agent_binary()
    if not os.access(BLACKBOX, os.X_OK):
        sys.exit("%s missing: run tests/bench/setup.sh" % BLACKBOX)
    use_check_smtp = not args.no_check_smtp and os.access(CHECK_SMTP,
                                                          os.X_OK)
    started = time.monotonic()
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_info(),
        "versions": {
            "agent": tool_version([binary, "--version"]),
            "blackbox": tool_version([BLACKBOX, "--version"]),
            "check_smtp": tool_version([CHECK_SMTP, "-V"])
            if use_check_smtp else None,
            "postfix": tool_version(["/usr/sbin/postconf", "-d",
                                     "mail_version"]),
        },
        "config": {"rounds": args.rounds, "duration_s": args.duration,
                   "warmup_s": args.warmup,
                   "concurrency": args.concurrency,
                   "agent_targets": args.targets,
                   "agent_interval": args.interval,
                   "check_smtp_duration_s": args.check_smtp_duration},
        "argv": [os.path.basename(sys.argv[0])] + sys.argv[1:],
        "runs": [],
    }
    ca = harness.shared_pki().ca.cert
    failed = []
    with harness.postfix_server() as pf:
        redact.add(pf.password)
        log("postfix on 127.0.0.1:%d (STARTTLS); agent %s"
            % (pf.ports.starttls, binary))

        log("agent idle: %d targets, interval 10s" % args.idle_targets)
        result["idle"] = agent_idle(pf, binary, args.idle_targets, "10s",
                                    10.5)
        log("agent sequential latency: 1 target, 200ms, 2 x %.0f s"
            % args.sequential_duration)
        result["sequential"] = agent_sequential(pf, binary, "200ms",
                                                args.sequential_duration)
        if not result["sequential"]["all_succeeded"]:
            failed.append("agent sequential run")

        for rnd in range(1, args.rounds + 1):
            steps = [("agent", lambda: agent_window(
                pf, binary, args.targets, args.interval, args.concurrency,
                args.warmup, args.duration)),
                ("blackbox", lambda: blackbox_window(
                    pf, ca, args.concurrency, args.warmup, args.duration))]
            if use_check_smtp:
                steps.append(("check_smtp", lambda: check_smtp_window(
                    pf, args.concurrency, 1.0, args.check_smtp_duration)))
            for name, step in steps:
                r = step()
                r["round"] = rnd
                result["runs"].append(r)
                rss = ("  RSS peak %.1f MiB" % r["rss_peak_mib"]
                       if "rss_peak_mib" in r else "")
                log("round %d %-10s %6d probes %6.1f/s  %.3f ms CPU/probe"
                    "%s  ok %d/%d"
                    % (rnd, name, r["probes"], r["probes_per_s"],
                       r["cpu_ms_per_probe"], rss, r["succeeded"],
                       r["probes"]))
                if not r["all_succeeded"]:
                    failed.append("%s round %d" % (name, rnd))

    result["summary"] = summarize(result["runs"])
    result["ratios"] = {
        "agent/blackbox CPU per probe": ratios(result["runs"], "agent",
                                               "blackbox"),
        "agent/blackbox RSS peak": ratios(result["runs"], "agent",
                                          "blackbox", "rss_peak_mib"),
    }
    if use_check_smtp:
        result["ratios"]["agent/check_smtp CPU per probe"] = ratios(
            result["runs"], "agent", "check_smtp")
    result["failed_runs"] = failed
    result["wall_s"] = round(time.monotonic() - started, 1)
    print_table(result)
    print("wall time %.0f s" % result["wall_s"])
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
            f.write("\n")
        print("JSON: %s" % args.out)
    if failed:
        print("FAILED: probes failed in %s: the figures are not valid"
              % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(redact("bench: %s" % e), file=sys.stderr)
        sys.exit(1)
