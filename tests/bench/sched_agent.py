#!/usr/bin/python3
"""The agent's CPU per probe with many targets (issue 11): not in ctest.

Starts a local aiosmtpd (`python3 -m aiosmtpd -n`) on a loopback port and
the agent with N EHLO-only targets on it (interval 60 s, timeout 10 s,
max_concurrent_probes 256, max_per_host 64: about N / 60 probes a
second), waits a round, then measures a window: probes (from /metrics),
the agent's CPU (utime + stime from /proc), RSS; and records
`perf record` of the agent for part of the window (PERF_OPTS, default -g;
`--call-graph dwarf,16384` gives call chains through the inlined code).

  /usr/bin/python3 tests/bench/sched_agent.py AGENT TAG [N] [WINDOW]

prints one line and leaves the config, stderr and perf.data in
/tmp/sched_agent/TAG; read the profile with
  perf report -i /tmp/sched_agent/TAG/perf.data --no-children \\
      --sort symbol --stdio
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

WARM = 70  # a round of 60 s, and some
PERF_SECONDS = int(os.environ.get("PERF_SECONDS", "30"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path, n, http_port, smtp_port):
    with open(path, "w") as f:
        f.write("[agent]\nlisten = 127.0.0.1:%d\ninterval = 60s\n"
                "timeout = 10s\nmax_concurrent_probes = 256\n"
                "max_per_host = 64\nlog_level = warn\n" % http_port)
        for i in range(n):
            f.write('[target "t%05d"]\nhost = 127.0.0.1\nport = %d\n'
                    'tls = none\n' % (i, smtp_port))


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    return 0


def totals(http_port):
    """Sums of probes, errors and skips over every target."""
    url = "http://127.0.0.1:%d/metrics" % http_port
    body = urllib.request.urlopen(url, timeout=30).read().decode()

    def total(name):
        pat = r"^%s\{[^}]*\} (\S+)$" % name
        return sum(float(m.group(1)) for m in re.finditer(pat, body, re.M))
    return (total("smtp_probes_total"), total("smtp_probe_errors_total"),
            total("smtp_agent_probes_skipped_total"))


def measure(agent, http_port, window, out):
    p0, e0, s0 = totals(http_port)
    c0, t0 = cpu_seconds(agent.pid), time.monotonic()
    perf_cmd = (["perf", "record"] +
                os.environ.get("PERF_OPTS", "-g").split() +
                ["-o", os.path.join(out, "perf.data"), "-p", str(agent.pid),
                 "--", "sleep", str(min(PERF_SECONDS, window))])
    perf = subprocess.Popen(perf_cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(window)
    perf.wait()
    c1, t1 = cpu_seconds(agent.pid), time.monotonic()
    p1, e1, s1 = totals(http_port)
    probes, secs, cpu = p1 - p0, t1 - t0, c1 - c0
    return ("%d probes in %.1f s (%.1f/s), errors %d, skips %d; CPU %.2f s "
            "(%.1f%% of a core), %.1f us per probe; RSS %d KiB"
            % (probes, secs, probes / secs, e1 - e0, s1 - s0, cpu,
               100 * cpu / secs, 1e6 * cpu / max(probes, 1),
               rss_kib(agent.pid)))


def main():
    binary, tag = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    window = int(sys.argv[4]) if len(sys.argv) > 4 else 60
    out = os.path.join("/tmp/sched_agent", tag)
    os.makedirs(out, exist_ok=True)
    smtp_port, http_port = free_port(), free_port()
    server = subprocess.Popen(
        ["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l",
         "127.0.0.1:%d" % smtp_port],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    agent = None
    try:
        time.sleep(1.5)
        config = os.path.join(out, "agent.ini")
        write_config(config, n, http_port, smtp_port)
        with open(os.path.join(out, "stderr"), "wb") as err:
            agent = subprocess.Popen([binary, "-c", config],
                                     stdout=subprocess.DEVNULL, stderr=err)
        time.sleep(WARM)
        print("%s: %d targets: %s"
              % (tag, n, measure(agent, http_port, window, out)))
    finally:
        for proc in (agent, server):
            if proc is None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
