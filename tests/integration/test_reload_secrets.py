"""Hostile config files, reloads under load, and secrets in every output.

ConfigRobustness: fuzzed and truncated config files through the real
binary's --check-config: never a signal, exit 0 or 1 only, every stderr
line "FILE:LINE: KEY: message" or "FILE: message", bounded time.

ReloadUnderLoad: 50 SIGHUPs alternating two valid configs that share
targets (every sixth one a broken file), while 20 scrapers hammer the
agent and probes are in flight against a server that answers slowly:
no counter of a surviving target ever goes down or disappears, a removed
target's series disappear and come back at 0, a broken file keeps the old
targets and sets smtp_agent_config_last_reload_successful to 0, and the
agent exits 0 on SIGTERM at the end.

Secrets: known passwords (Postfix good and wrong, aiosmtpd) must not
appear, raw or in any base64 form, in the debug log, /metrics, the status
page, --once, --check-config errors (configs broken around the password)
or the log of a failed reload; SIGTERM exits 0. A password file readable by
others is warned about by --check-config and in the daemon's log.

This file never prints a secret: every text it puts into a failure message
goes through redact().
"""

import base64
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402
from slow_smtp import SlowSmtpServer  # noqa: E402

REPO = harness.REPO
SAMPLE_CONFIG = os.path.join(REPO, "config", "agent.ini")

# Known secrets, each distinctive enough that no other text contains it.
# The base64-significant characters (+ / =) are in them on purpose.
PF_PASSWORD = "Pf-good+S3cret/42"
WRONG_PASSWORD = "Wr0ng+Pw/never-ok"
AIO_PASSWORD = "Aio+S3cret/0xD1"
INLINE_PASSWORD = "Inl1ne+Pw/visible"


# --- secret forms ----------------------------------------------------------

def b64(data):
    return base64.b64encode(data).decode()


secret_forms = harness.secret_forms


# Grown by Secrets.setUpClass with the forms for the servers' user names;
# these cover the raw secrets and their base64 at any offset already.
ALL_FORMS = sorted(set(f for pw in (PF_PASSWORD, WRONG_PASSWORD,
                                    AIO_PASSWORD, INLINE_PASSWORD)
                       for f in secret_forms("u", pw)))


def redact(text):
    """The text with every known secret form replaced: safe to print."""
    if not isinstance(text, str):
        text = text.decode(errors="replace")
    for f in sorted(ALL_FORMS, key=len, reverse=True):
        text = text.replace(f, "[REDACTED]")
    return text


def found_forms(text):
    """Indexes (never the forms themselves) of the forms found in text."""
    return [i for i, f in enumerate(ALL_FORMS) if f in text]


# --- config robustness -----------------------------------------------------

# "FILE:LINE: KEY: message" or "FILE: message".
DIAG_LINE = re.compile(r"^(?P<file>[^:]+):"
                       r"(?:(?P<line>\d+): (?P<key>[^ ].*?):)?"
                       r" (?P<msg>\S.*)$")
CHECK_TIMEOUT = 20.0


def mutate(rng, text):
    """One random mutation of a config's bytes."""
    data = bytearray(text)
    lines = data.split(b"\n")
    kind = rng.randrange(10)
    if kind == 0 and data:  # flip bytes
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(data))
            data[i] = rng.randrange(256)
        return bytes(data)
    if kind == 1:  # insert random bytes, NUL and controls included
        i = rng.randrange(len(data) + 1)
        return bytes(data[:i] + bytes(rng.randrange(256)
                                      for _ in range(rng.randint(1, 40)))
                     + data[i:])
    if kind == 2 and len(lines) > 1:  # delete lines
        for _ in range(rng.randint(1, 5)):
            if len(lines) > 1:
                del lines[rng.randrange(len(lines))]
        return b"\n".join(lines)
    if kind == 3:  # duplicate a line (duplicate keys and sections)
        i = rng.randrange(len(lines))
        lines.insert(rng.randrange(len(lines) + 1), lines[i])
        return b"\n".join(lines)
    if kind == 4:  # a very long line
        i = rng.randrange(len(lines) + 1)
        lines.insert(i, b"host = " + b"a" * rng.choice((198, 199, 200, 4096,
                                                        70000)))
        return b"\n".join(lines)
    if kind == 5:  # swap two lines (keys outside their section)
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    if kind == 6:  # indent a line (a continuation)
        i = rng.randrange(len(lines))
        lines[i] = b"  " + lines[i]
        return b"\n".join(lines)
    if kind == 7:  # CRLF, CR, or a BOM
        return rng.choice((bytes(data).replace(b"\n", b"\r\n"),
                           bytes(data).replace(b"\n", b"\r"),
                           b"\xef\xbb\xbf" + bytes(data)))
    if kind == 8:  # odd values for a key
        i = rng.randrange(len(lines))
        if b"=" in lines[i]:
            key = lines[i].split(b"=", 1)[0]
            lines[i] = key + b"= " + rng.choice(
                (b"", b"-1", b"99999999999999999999", b"0", b"\"x\"",
                 b"1d", b"[::1]", b"%s%s%n", b"\xff\xfe", b"a b ; c",
                 b"PLAIN PLAIN", b"/dev/zero", b"/proc/self/environ",
                 b"/", b"."))
        return b"\n".join(lines)
    # new sections
    i = rng.randrange(len(lines) + 1)
    lines.insert(i, rng.choice((b"[target \"x\"]", b"[target]", b"[agent",
                                b"[target \"" + b"n" * 65 + b"\"]",
                                b"[other]", b"[target \"a\"] junk",
                                b"[ target \"mx1\" ]")))
    return b"\n".join(lines)


class ConfigRobustness(unittest.TestCase):
    """--check-config on truncated and fuzzed files: exit 0/1, clean
    diagnostics, bounded time."""

    @classmethod
    def setUpClass(cls):
        cls.binary = harness.agent_binary()
        cls.dir = cls.enterClassContext(
            tempfile.TemporaryDirectory(prefix="cfg-fuzz-"))
        seed = os.environ.get("CONFIG_FUZZ_SEED")
        cls.seed = int(seed) if seed else random.randrange(1 << 30)
        with open(SAMPLE_CONFIG, "rb") as f:
            cls.sample = f.read()
        # A second base with every kind of secret and a real password file.
        cls.secret_file = os.path.join(cls.dir, "pw.secret")
        harness.write_secret(cls.secret_file, PF_PASSWORD)
        cls.secret_base = (
            "[agent]\ninterval = 30s\ntimeout = 5s\nlog_level = debug\n"
            "[target \"inline\"]\nhost = 127.0.0.1\nmechanisms = PLAIN\n"
            "username = u\npassword = %s\n"
            "[target \"file\"]\nhost = ::1\ntls = implicit\n"
            "mechanisms = LOGIN CRAM-MD5\nusername = u\n"
            "password_file = pw.secret\n"
            "[target \"env\"]\nhost = mx.example.com\ntls = none\n"
            "allow_plaintext_auth = yes\nmechanisms = XOAUTH2\n"
            "username = u\npassword_env = CFG_FUZZ_PW\n"
            % INLINE_PASSWORD).encode()
        cls.env = dict(os.environ, CFG_FUZZ_PW=AIO_PASSWORD)
        cls.runs = 0
        cls.elapsed_max = 0.0

    @classmethod
    def tearDownClass(cls):
        print("config robustness: %d --check-config runs (seed %d), the "
              "slowest %.2f s" % (cls.runs, cls.seed, cls.elapsed_max),
              file=sys.stderr)

    def check(self, data, label):
        """Runs --check-config on data; asserts the contract."""
        path = os.path.join(self.dir, "agent.ini")
        with open(path, "wb") as f:
            f.write(data)
        t0 = time.monotonic()
        try:
            r = subprocess.run([self.binary, "-c", path, "--check-config"],
                               stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=CHECK_TIMEOUT,
                               env=self.env, cwd=self.dir)
        except subprocess.TimeoutExpired:
            self.fail_with(data, label, "no exit within %.0f s"
                           % CHECK_TIMEOUT)
        elapsed = time.monotonic() - t0
        type(self).runs += 1
        type(self).elapsed_max = max(self.elapsed_max, elapsed)
        err = r.stderr.decode(errors="replace")
        if r.returncode not in (0, 1):
            self.fail_with(data, label, "exit %d (negative: a signal)\n%s"
                           % (r.returncode, redact(err[-2000:])))
        if r.stdout:
            self.fail_with(data, label, "output on stdout")
        n_lines = data.count(b"\n") + 1
        lines = err.split("\n")
        if lines[-1] != "":
            self.fail_with(data, label, "stderr does not end in a newline")
        if not lines[:-1]:
            self.fail_with(data, label, "nothing on stderr")
        for line in lines[:-1]:
            m = DIAG_LINE.match(line)
            if not m or m.group("file") != path:
                self.fail_with(data, label, "bad diagnostic line: %r"
                               % redact(line))
            if m.group("line") is not None and not (
                    1 <= int(m.group("line")) <= n_lines):
                self.fail_with(data, label, "line number out of range: %r"
                               % redact(line))
        if r.returncode == 0 and not re.search(
                r"ok, \d+ targets?(, \d+ modules?)?\n$", err):
            self.fail_with(data, label, "exit 0 without 'ok, N targets'")
        if r.returncode == 1 and not re.search(r": \d+ errors?\n$", err):
            self.fail_with(data, label, "exit 1 without 'N errors'")
        # The inline password, when it only sits on password lines, and
        # the env and file secrets are never printed.
        text = data.decode(errors="replace")
        only_pw_lines = all(
            re.match(r"\s*password\s*=", ln)
            for ln in re.split(r"[\r\n]", text) if INLINE_PASSWORD in ln)
        for secret, applies in ((INLINE_PASSWORD, only_pw_lines),
                                (AIO_PASSWORD, AIO_PASSWORD not in text),
                                (PF_PASSWORD, PF_PASSWORD not in text)):
            if applies and secret in err:
                self.fail_with(data, label, "a secret is in the output")
        return r.returncode

    def fail_with(self, data, label, why):
        keep = os.path.join(tempfile.gettempdir(),
                            "smtp-health-agent-bad-config-%d.ini"
                            % os.getpid())
        with open(keep, "wb") as f:
            f.write(data)
        self.fail("%s (seed %d): %s; input kept in %s"
                  % (label, self.seed, why, keep))

    def test_truncated_configs(self):
        """Prefixes of the sample config and of one with every kind of
        secret: cut right before and after every line end, and at 60
        random lengths."""
        for base_name, base in (("sample", self.sample),
                                ("secrets", self.secret_base)):
            cuts = set()
            for i, c in enumerate(base):
                if c == 0x0a:
                    cuts.update((i, i + 1))
            rng = random.Random(self.seed)
            cuts.update(rng.sample(range(len(base) + 1),
                                   min(60, len(base) + 1)))
            cuts = sorted(c for c in cuts if 0 <= c <= len(base))
            codes = set()
            for n in cuts:
                codes.add(self.check(base[:n], "%s[:%d]" % (base_name, n)))
            # The whole file is valid (sample: exit 1 only for its missing
            # password file), the empty one is not.
            self.assertEqual(self.check(b"", "empty"), 1)
            if base_name == "secrets":
                self.assertEqual(self.check(base, "secrets whole"), 0)
            self.assertIn(1, codes)

    def test_fuzzed_configs(self):
        """Random bytes, and random mutations (stacked) of both bases."""
        rng = random.Random(self.seed)
        for i in range(40):
            n = rng.choice((1, 10, 100, 1000, 5000))
            self.check(bytes(rng.randrange(256) for _ in range(n)),
                       "random bytes #%d" % i)
        codes = []
        for i in range(240):
            data = rng.choice((self.sample, self.secret_base))
            for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
                data = mutate(rng, data)
            codes.append(self.check(data, "mutation #%d" % i))
        # Some mutations keep the file valid: the valid path ran too.
        self.assertIn(0, codes)
        self.assertIn(1, codes)


# --- reloads under load ----------------------------------------------------

RELOADS = 50
SCRAPERS = 20

# Shared by both configs: pf, aio-cram, slow, stuck. Only in A: slow-x,
# refused-a. Only in B: aio-b. B also changes [agent] and some intervals.
RELOAD_HEAD = """
[agent]
interval = %(interval)s
timeout = 1500ms
max_per_host = 32
log_level = info
; A re-added target's counters all start again at 0, failures included.
extra_metrics = zero_series

[target "pf"]
host = 127.0.0.1
port = %(pf)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN
username = %(pf_user)s
password_file = @PASSWORD_FILE@
interval = %(pf_interval)s
timeout = 1s

[target "aio-cram"]
host = 127.0.0.1
port = %(aio)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = CRAM-MD5
username = %(aio_user)s
password_env = AIO_PASSWORD

; answers after 0.3 s each: probes of ~0.9 s, often in flight
[target "slow"]
host = 127.0.0.1
port = %(slow)d
tls = none

; answers after 30 s: every probe times out, one is always in flight
[target "stuck"]
host = 127.0.0.1
port = %(stuck)d
tls = none
timeout = 1s
"""

RELOAD_A = """
; answers after 0.8 s each: a probe takes at least 1.6 s (2.4 s with
; the reply to QUIT)
[target "slow-x"]
host = 127.0.0.1
port = %(slow_x)d
tls = none
interval = 3s
timeout = 3s

[target "refused-a"]
host = 127.0.0.1
port = %(refused)d
tls = none
"""

RELOAD_B = """
[target "aio-b"]
host = 127.0.0.1
port = %(aio)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN LOGIN
username = %(aio_user)s
password_env = AIO_PASSWORD
"""

BROKEN = (
    "[agent]\ninterval = nope\n",
    "[target \"pf\"]\nhost = 127.0.0.1\nmechanisms = PLAIN\nusername = u\n"
    "password_env = SURELY_NOT_SET_ANYWHERE\n",
    "",
    "[agent]\n[target \"x\"]\nhost = 127.0.0.1\nbogus line\n",
)
SURVIVORS = ("pf", "aio-cram", "slow", "stuck")
ONLY_A = ("slow-x", "refused-a")
ONLY_B = ("aio-b",)
SLOW_X_DELAY_S = 0.8
# A probe of slow-x that starts after a reload cannot end sooner: the
# greeting and the EHLO reply each come SLOW_X_DELAY_S late.
SLOW_X_MIN_PROBE_S = 2 * SLOW_X_DELAY_S


def counter_names(text):
    """Sample names whose values may only grow: counters, and histogram
    buckets, counts and sums (durations are never negative)."""
    names = set()
    for fam, meta in harness.parse_metadata(text).items():
        if meta.get("type") == "counter":
            names.add(fam)
        elif meta.get("type") == "histogram":
            names.update((fam + "_bucket", fam + "_count", fam + "_sum"))
    return names


class MonotonicChecker:
    """Follows one scraper's sequential scrapes: no counter of a surviving
    target (or of the agent itself) goes down or disappears."""

    def __init__(self, watched):
        self.watched = set(watched)
        self.last = {}
        self.counters = None
        self.problems = []

    def feed(self, text, samples):
        if self.counters is None:
            self.counters = counter_names(text)
        for key in list(self.last):
            if key not in samples:
                self.problems.append("%s%s disappeared"
                                     % (key[0], sorted(key[1])))
                del self.last[key]
        for key, value in samples.items():
            name, labels = key
            if name not in self.counters:
                continue
            target = dict(labels).get("target")
            if target is not None and target not in self.watched:
                continue
            old = self.last.get(key)
            if old is not None and value < old:
                self.problems.append("%s%s went down: %s -> %s"
                                     % (name, sorted(labels), old, value))
            self.last[key] = value


def targets_of(samples):
    return {dict(lbl)["target"] for lbl in
            harness.series(samples, "smtp_target_info")}


def series_of_target(samples, target):
    return [k for k in samples if dict(k[1]).get("target") == target]


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class ReloadUnderLoad(unittest.TestCase):

    def test_reloads_under_scrape_storm_with_probes_in_flight(self):
        pf = self.enterContext(harness.postfix_server())
        aio = self.enterContext(harness.aiosmtpd(
            tls="starttls", mechanisms=("PLAIN", "LOGIN")))
        slow = self.enterContext(SlowSmtpServer(0.3))
        slow_x = self.enterContext(SlowSmtpServer(SLOW_X_DELAY_S))
        stuck = self.enterContext(SlowSmtpServer(30))
        params = dict(pf=pf.ports.starttls, pf_user=pf.username,
                      aio=aio.port, aio_user=aio.user, slow=slow.port,
                      slow_x=slow_x.port, stuck=stuck.port,
                      refused=harness.free_port())
        config_a = (RELOAD_HEAD % dict(params, interval="2s",
                                       pf_interval="1s")
                    + RELOAD_A % params)
        config_b = (RELOAD_HEAD % dict(params, interval="3s",
                                       pf_interval="2s")
                    + RELOAD_B % params)
        env = dict(os.environ, AIO_PASSWORD=aio.password)
        agent = self.enterContext(harness.run_agent(
            harness.agent_binary(), config_a, password=pf.password, env=env,
            ready_timeout=30))
        expected = {"A": set(SURVIVORS + ONLY_A), "B": set(SURVIVORS + ONLY_B)}
        texts = {"A": agent._substitute(config_a),
                 "B": agent._substitute(config_b)}

        def scrape():
            return harness.scrape(agent.port)

        # Every survivor has probed once before the storm starts.
        harness.wait_for(lambda: all(
            (harness.metric(scrape()[1], "smtp_probes_total", target=t)
             or 0) >= 1 for t in SURVIVORS), 20,
            message="first probes of every target")

        stop = threading.Event()
        storm = {"scrapes": 0, "errors": [], "problems": []}
        lock = threading.Lock()

        def scraper(i):
            checker = MonotonicChecker(SURVIVORS)
            n = 0
            while not stop.is_set():
                try:
                    if i % 5 == 4 and n % 3 == 2:
                        status = harness.http_get(agent.port, "/")[0]
                        if status != 200:
                            raise AssertionError("status page %d" % status)
                    else:
                        text, samples = harness.scrape(
                            agent.port, accept_gzip=i % 2 == 1)
                        checker.feed(text, samples)
                    n += 1
                except Exception as e:  # noqa: BLE001 (collected)
                    with lock:
                        storm["errors"].append(repr(e)[:200])
                    time.sleep(0.05)
            with lock:
                storm["scrapes"] += n
                storm["problems"] += ["scraper %d: %s" % (i, p)
                                      for p in checker.problems]

        threads = [threading.Thread(target=scraper, args=(i,), daemon=True)
                   for i in range(SCRAPERS)]
        for t in threads:
            t.start()
        self.addCleanup(stop.set)

        main_checker = MonotonicChecker(SURVIVORS)
        current = "A"
        in_flight_at_reload = []
        zero_checks = 0
        restart_checks = 0
        broken_done = 0
        rng = random.Random()
        valid_next = "B"
        try:
            for i in range(RELOADS):
                text, samples = scrape()
                main_checker.feed(text, samples)
                in_flight_at_reload.append(harness.metric(
                    samples, "smtp_agent_probes_in_flight") or 0)
                # Between reloads: exactly the current targets' series.
                stray = {dict(k[1]).get("target") for k in samples} - \
                    expected[current] - {None}
                self.assertEqual(stray, set(), "series of removed targets")
                broken = i % 6 == 5
                if broken:
                    write_atomic(agent.config_path,
                                 BROKEN[broken_done % len(BROKEN)])
                    broken_done += 1
                else:
                    write_atomic(agent.config_path, texts[valid_next])
                sighup = time.monotonic()
                agent.signal(signal.SIGHUP)

                if broken:
                    def applied():
                        t, s = scrape()
                        main_checker.feed(t, s)
                        ok = harness.metric(
                            s, "smtp_agent_config_last_reload_successful")
                        return (t, s) if ok == 0 else None
                    text, samples = harness.wait_for(
                        applied, 15, message="broken reload #%d seen" % i)
                    self.assertEqual(targets_of(samples), expected[current],
                                     "a broken file changed the targets")
                else:
                    want = expected[valid_next]

                    def applied():
                        t, s = scrape()
                        main_checker.feed(t, s)
                        ok = harness.metric(
                            s, "smtp_agent_config_last_reload_successful")
                        if ok == 1 and targets_of(s) == want:
                            return t, s
                        return None
                    text, samples = harness.wait_for(
                        applied, 15, message="reload #%d applied" % i)
                    gone = expected[current] - want
                    added = want - expected[current]
                    for t in gone:
                        self.assertEqual(series_of_target(samples, t), [],
                                         "%s's series stayed" % t)
                    for t in added:
                        # Back with its pre-initialised series.
                        self.assertIsNotNone(harness.metric(
                            samples, "smtp_probes_total", target=t), t)
                        self.assertIsNotNone(harness.metric(
                            samples, "smtp_probe_failures_total", target=t,
                            stage="connect"), t)
                        restart_checks += 1
                    current = valid_next
                    valid_next = "A" if valid_next == "B" else "B"
                    # A probe of the re-added slow-x starts after the
                    # SIGHUP and cannot end within SLOW_X_MIN_PROBE_S: a
                    # scrape received before then must read 0 for every
                    # counter of it, whatever probe of its previous life
                    # was still running at the reload.
                    if "slow-x" in added:
                        while True:
                            t, s = scrape()
                            received = time.monotonic()
                            main_checker.feed(t, s)
                            if received - sighup >= SLOW_X_MIN_PROBE_S - 0.1:
                                break
                            for key in series_of_target(s, "slow-x"):
                                if key[0] not in main_checker.counters:
                                    continue
                                self.assertEqual(
                                    s[key], 0,
                                    "re-added slow-x: %s%s = %s %.2f s "
                                    "after SIGHUP (a probe of its own "
                                    "takes %.1f s at least)"
                                    % (key[0], sorted(key[1]), s[key],
                                       received - sighup,
                                       SLOW_X_MIN_PROBE_S))
                            zero_checks += 1
                            time.sleep(0.1)
                # Let probes run (and some finish) before the next one.
                time.sleep(rng.uniform(0.1, 0.6))
                self.assertIsNone(agent.proc.poll(), "the agent died")
        finally:
            stop.set()
            for t in threads:
                t.join(30)

        self.assertEqual(main_checker.problems, [])
        self.assertEqual(storm["problems"], [])
        self.assertEqual(storm["errors"], [])
        self.assertGreater(storm["scrapes"], RELOADS * 5)
        self.assertGreater(zero_checks, 0)
        self.assertGreater(restart_checks, 0)
        # Probes were running during most reloads, not by luck once.
        self.assertGreater(sum(1 for n in in_flight_at_reload if n > 0),
                           RELOADS // 2, in_flight_at_reload)
        log = agent.stderr()
        self.assertGreaterEqual(log.count("reload failed"), broken_done)
        self.assertGreaterEqual(log.count("config reloaded"),
                                RELOADS - broken_done)
        # Survivors kept probing throughout, the stuck one timing out.
        s = scrape()[1]
        self.assertGreater(harness.metric(s, "smtp_probe_errors_total",
                                          target="stuck", error="timeout"),
                           3)
        self.assertGreater(slow.connections, 5)
        print("reloads: %d (%d broken), storm scrapes: %d, in flight at "
              "reload: %s, zero checks of re-added slow-x: %d"
              % (RELOADS, broken_done, storm["scrapes"], in_flight_at_reload,
                 zero_checks), file=sys.stderr)
        # SIGTERM and exit 0: run_agent's __exit__.


# --- secrets ---------------------------------------------------------------

SECRETS_CONFIG = """
[agent]
interval = 3s
timeout = 3s
log_level = debug

[target "pf-good"]
host = 127.0.0.1
port = %(pf)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN LOGIN CRAM-MD5 XOAUTH2
username = %(pf_user)s
password_file = @PASSWORD_FILE@

[target "pf-wrong"]
host = 127.0.0.1
port = %(pf)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN LOGIN
username = %(pf_user)s
password_env = WRONG_PASSWORD

[target "pf-implicit-inline"]
host = 127.0.0.1
port = %(pf_implicit)d
tls = implicit
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN
username = %(pf_user)s
password = %(inline)s

[target "aio"]
host = 127.0.0.1
port = %(aio)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN LOGIN CRAM-MD5 XOAUTH2
username = %(aio_user)s
password_env = AIO_PASSWORD

[target "aio-wrong-user"]
host = 127.0.0.1
port = %(aio)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN
username = nobody@example.test
password_env = AIO_PASSWORD
"""

# Configs broken around a password line: (name, the target's lines).
# Each goes into a target section of an otherwise valid file.
BROKEN_AROUND = (
    ("env var unset", "password_env = NOT_SET_%(rand)s\n"),
    ("bad line after", "password = %(pw)s\nthis is not a key\n"),
    ("duplicate", "password = %(pw)s\npassword = %(pw)s\n"),
    ("two sources", "password = %(pw)s\npassword_env = WRONG_PASSWORD\n"),
    ("pasted into password_env", "password_env = %(pw)s\n"),
    ("continuation", "password = %(pw)s\n   %(pw)s\n"),
    ("control character", "password = %(pw)s\x01\n"),
    ("too long", "password = %(pw)s" + "x" * 300 + "\n"),
    ("in [agent]", None),
    ("empty file", "password_file = @EMPTY@\n"),
)


class Secrets(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.binary = harness.agent_binary()
        # Class cleanups stop the servers, also when this fails halfway.
        cls.pf = cls.enterClassContext(
            harness.postfix_server(password=PF_PASSWORD))
        cls.aio = cls.enterClassContext(harness.aiosmtpd(
            tls="starttls", password=AIO_PASSWORD,
            mechanisms=("PLAIN", "LOGIN")))
        ALL_FORMS[:] = sorted(set(
            ALL_FORMS
            + secret_forms(cls.pf.username, PF_PASSWORD)
            + secret_forms(cls.pf.short_username, PF_PASSWORD)
            + secret_forms(cls.pf.username, WRONG_PASSWORD)
            + secret_forms(cls.pf.username, INLINE_PASSWORD)
            + secret_forms(cls.aio.user, AIO_PASSWORD)
            + secret_forms("nobody@example.test", AIO_PASSWORD)))
        cls.env = dict(os.environ, WRONG_PASSWORD=WRONG_PASSWORD,
                       AIO_PASSWORD=AIO_PASSWORD)
        cls.params = dict(pf=cls.pf.ports.starttls,
                          pf_implicit=cls.pf.ports.implicit,
                          pf_user=cls.pf.username, aio=cls.aio.port,
                          aio_user=cls.aio.user, inline=INLINE_PASSWORD)

    # assertIn and the like print the whole text they searched when they
    # fail: these print it redacted.
    def assert_in(self, needle, text):
        if needle not in text:
            self.fail("%r not found in:\n%s" % (needle, redact(text)))

    def assert_not_in(self, needle, text):
        if needle in text:
            self.fail("%r found in:\n%s" % (needle, redact(text)))

    def assert_regex(self, text, pattern):
        if not re.search(pattern, text):
            self.fail("%r does not match:\n%s" % (pattern, redact(text)))

    def assert_no_secret(self, outputs):
        for where, text in outputs.items():
            hits = found_forms(text)
            self.assertEqual(hits, [], "secret forms %s found in %s"
                             % (hits, where))

    def test_every_output_path(self):
        cfg = SECRETS_CONFIG % self.params
        agent = self.enterContext(harness.run_agent(
            self.binary, cfg, password=PF_PASSWORD, env=self.env))

        def auth(target, mech, cls_):
            return harness.metric(harness.scrape(agent.port)[1],
                                  "smtp_auth_results_total", target=target,
                                  mechanism=mech, **{"class": cls_}) or 0
        # Every kind of outcome at least once: 235, 535, 504.
        harness.wait_for(lambda: auth("pf-good", "PLAIN", "success") >= 1
                         and auth("pf-good", "CRAM-MD5", "success") >= 1
                         and auth("pf-good", "XOAUTH2", "auth_failed") >= 1
                         and auth("pf-wrong", "LOGIN", "auth_failed") >= 1
                         and auth("pf-implicit-inline", "PLAIN",
                                  "auth_failed") >= 1
                         and auth("aio", "LOGIN", "success") >= 1
                         and auth("aio", "CRAM-MD5",
                                  "unsupported_parameter") >= 1
                         and auth("aio", "XOAUTH2",
                                  "unsupported_parameter") >= 1
                         and auth("aio-wrong-user", "PLAIN",
                                  "auth_failed") >= 1, 30,
                         message="every AUTH outcome")

        outputs = {}
        outputs["metrics"] = harness.scrape(agent.port)[0]
        outputs["metrics gzip"] = harness.scrape(agent.port,
                                                 accept_gzip=True)[0]
        for path in ("/", "/-/healthy", "/-/ready", "/nope",
                     "/?target=pf-good"):
            outputs["GET " + path] = harness.http_get(
                agent.port, path)[2].decode(errors="replace")

        once = harness.run_agent_once(
            self.binary, ["-c", agent.config_path, "--once", "--log-level",
                          "debug"], env=self.env)
        self.assertEqual(once.returncode, 1, redact(once.stderr[-2000:]))
        self.assert_in("pf-good", once.stdout)
        self.assert_in("535", once.stdout)
        outputs["--once stdout"] = once.stdout
        outputs["--once stderr"] = once.stderr

        check = harness.run_agent_once(
            self.binary, ["-c", agent.config_path, "--check-config"],
            env=self.env)
        self.assertEqual(check.returncode, 0, redact(check.stderr))
        # The inline password is warned about, not printed.
        self.assert_in("password: warning: password in the config file",
                       check.stderr)
        outputs["--check-config"] = check.stdout + check.stderr

        # A failed reload logs its errors: broken around the passwords.
        with open(agent.config_path) as f:
            good = f.read()
        broken = good.replace(
            "password_env = WRONG_PASSWORD",
            "password_env = UNSET_VAR_%d\nbogus line" % os.getpid()).replace(
            "password = %s" % INLINE_PASSWORD,
            "password = %s\npassword = %s" % (INLINE_PASSWORD,
                                              INLINE_PASSWORD))
        write_atomic(agent.config_path, broken)
        agent.signal(signal.SIGHUP)
        harness.wait_for(lambda: "reload failed" in agent.stderr(), 10)
        self.assert_in("duplicate key", agent.stderr())
        write_atomic(agent.config_path, good)
        agent.signal(signal.SIGHUP)
        harness.wait_for(lambda: agent.stderr().count("config reloaded") >= 1,
                         10)

        rc = agent.stop()
        self.assertEqual(rc, 0, "SIGTERM: exit %s" % rc)
        log = agent.stderr()
        self.assert_in("level=debug", log)  # the loudest level ran
        self.assert_in("AUTH", log)
        outputs["daemon log"] = log
        self.assert_no_secret(outputs)

    def broken_config(self, lines, tmpdir):
        """A valid file with one target's secret lines replaced."""
        empty = os.path.join(tmpdir, "empty.secret")
        harness.write_secret(empty, "")
        with open(empty, "w"):
            pass
        head = ("[agent]\ninterval = 30s\ntimeout = 5s\n"
                "[target \"ok\"]\nhost = 127.0.0.1\nport = %d\n"
                "mechanisms = PLAIN\nusername = %s\n"
                "password_env = WRONG_PASSWORD\n"
                % (self.pf.ports.starttls, self.pf.username))
        if lines is None:  # the password in [agent]
            return ("[agent]\npassword = %s\ninterval = 30s\n"
                    "[target \"x\"]\nhost = 127.0.0.1\n" % PF_PASSWORD)
        body = lines % dict(pw=PF_PASSWORD, rand=os.getpid())
        body = body.replace("@EMPTY@", empty)
        return head + ("[target \"broken\"]\nhost = 127.0.0.1\n"
                       "mechanisms = PLAIN LOGIN\nusername = u\n" + body +
                       "port = 25x\n")

    def test_check_config_errors_around_the_password(self):
        tmpdir = self.enterContext(tempfile.TemporaryDirectory())
        path = os.path.join(tmpdir, "agent.ini")
        for name, lines in BROKEN_AROUND:
            with self.subTest(name):
                with open(path, "w") as f:
                    f.write(self.broken_config(lines, tmpdir))
                for args in (["--check-config"], ["--once"], []):
                    r = harness.run_agent_once(
                        self.binary, ["-c", path] + args, timeout=30,
                        env=self.env)
                    # A bad config: 1, or 2 for --once.
                    self.assertEqual(r.returncode,
                                     2 if args == ["--once"] else 1,
                                     redact(r.stderr))
                    self.assert_regex(r.stderr, r"agent\.ini:\d+: ")
                    self.assert_no_secret({"%s %s" % (name, args):
                                           r.stdout + r.stderr})

    def test_password_file_readable_by_others_is_warned_about(self):
        cfg = ("[agent]\ninterval = 30s\ntimeout = 5s\n"
               "[target \"pf\"]\nhost = 127.0.0.1\nport = %d\n"
               "server_name = localhost\nca_file = @CA_FILE@\n"
               "mechanisms = PLAIN\nusername = %s\n"
               "password_file = @PASSWORD_FILE@\n"
               % (self.pf.ports.starttls, self.pf.username))
        ag = harness.AgentProcess(self.binary, cfg, password=PF_PASSWORD)
        self.addCleanup(ag.cleanup)
        os.chmod(ag.password_file, 0o644)
        r = harness.run_agent_once(self.binary, ["-c", ag.config_path,
                                                 "--check-config"])
        self.assertEqual(r.returncode, 0, redact(r.stderr))
        warning = ("%s:%d: password_file: warning: %s is readable by others "
                   "(mode 0644)" % (ag.config_path,
                                    cfg.count("\n", 0, cfg.index(
                                        "password_file")) + 1,
                                    ag.password_file))
        self.assert_in(warning, r.stderr)
        self.assert_no_secret({"--check-config": r.stdout + r.stderr})

        # The daemon says it at start, and the probe still runs.
        ag.start()
        try:
            harness.wait_for(lambda: (harness.metric(
                harness.scrape(ag.port)[1], "smtp_auth_results_total",
                target="pf", mechanism="PLAIN", **{"class": "success"})
                or 0) >= 1, 30)
        finally:
            rc = ag.stop()
        self.assertEqual(rc, 0)
        log = ag.stderr()
        self.assert_in("readable by others (mode 0644)", log)
        self.assert_no_secret({"daemon log": log})

        # 0640 is readable by the group: warned about too when the group
        # is not the agent's own (here: nogroup, as root can give it);
        # the agent's own group reading it is the packaged setup, no
        # warning. 0600 is not warned about.
        os.chmod(ag.password_file, 0o640)
        if os.geteuid() == 0:
            os.chown(ag.password_file, -1,
                     65534 if os.getegid() != 65534 else 0)
            r = harness.run_agent_once(self.binary, ["-c", ag.config_path,
                                                     "--check-config"])
            self.assert_in("is readable by its group (mode 0640)", r.stderr)
            os.chown(ag.password_file, -1, os.getegid())
        r = harness.run_agent_once(self.binary, ["-c", ag.config_path,
                                                 "--check-config"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_not_in("readable", r.stderr)
        os.chmod(ag.password_file, 0o600)
        r = harness.run_agent_once(self.binary, ["-c", ag.config_path,
                                                 "--check-config"])
        self.assert_not_in("readable", r.stderr)

    def test_forms_are_what_the_wire_carries(self):
        """The forms really cover what a probe sends: the password's base64
        at any offset is found inside base64 of any longer message."""
        forms = secret_forms("u", "abcdefghijklmnop")
        for prefix in (b"", b"x", b"xy", b"xyz", b"\0u\0"):
            wire = b64(prefix + b"abcdefghijklmnop" + b"tail")
            self.assertTrue(any(f in wire for f in forms), prefix)


if __name__ == "__main__":
    unittest.main(verbosity=2)
