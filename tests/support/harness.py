"""Helpers for the integration tests (unittest): servers, the agent, scrapes.

Everything here talks to 127.0.0.1 only and every wait has a deadline, so a
broken agent fails a test instead of hanging CI.

Typical use (Python 3.11's TestCase.enterContext does the cleanup):

    class T(unittest.TestCase):
        def test_postfix_plain(self):
            pf = self.enterContext(harness.postfix_server())
            agent = self.enterContext(harness.run_agent(
                harness.agent_binary(), CONFIG % pf.ports.starttls,
                password=pf.password))
            harness.wait_for(lambda: harness.metric(
                harness.scrape(agent.port)[1], "smtp_probes_total",
                target="pf") == 1, 10)

Config text given to run_agent may use @PASSWORD_FILE@, @DIR@, @CA_FILE@
(the test CA) and @LISTEN@; they are replaced before the file is written.
"""

import base64
import contextlib
import gzip
import http.client
import math
import os
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import aiosmtpd_server  # noqa: E402
import certs  # noqa: E402
import postfix  # noqa: E402

AiosmtpdProcess = aiosmtpd_server.AiosmtpdProcess
PostfixInstance = postfix.PostfixInstance

LOOPBACK = "127.0.0.1"
LOOPBACK6 = "::1"
AGENT_STOP_TIMEOUT = 5.0
AGENT_READY_TIMEOUT = 15.0
HTTP_TIMEOUT = 5.0

# A fixture password for aiosmtpd servers started by the tests.
AIOSMTPD_PASSWORD = "fixture-aiosmtpd-pw"


# --- waiting ---------------------------------------------------------------

def wait_for(predicate, timeout, interval=0.05, message=None):
    """Poll predicate until it returns something truthy; return that.

    Raises AssertionError (a test failure, not an error) at the deadline,
    with `message` or the predicate's name. Exceptions from the predicate
    count as "not yet" until the deadline, then the last one is chained.
    """
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_exc = None
        except Exception as e:  # noqa: BLE001 (retry any failure)
            last_exc = e
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", "condition")
            raise AssertionError("timed out after %.1f s waiting for %s"
                                 % (timeout, what)) from last_exc
        time.sleep(interval)


# --- ports -----------------------------------------------------------------

_issued_ports = set()


def free_port():
    """A loopback TCP port that was free a moment ago.

    The kernel picks it (bind to port 0); ports already handed out by this
    process are skipped, so two servers of one test never get the same one.
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        if port not in _issued_ports:
            _issued_ports.add(port)
            return port
    raise RuntimeError("no free loopback port")


def free_dual_port():
    """A port free on both 127.0.0.1 and ::1 a moment ago, for a server on
    each that a name resolving to both reaches on one port."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind((LOOPBACK6, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port free on both 127.0.0.1 and ::1")


def port_open(port, host=LOOPBACK):
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_port(port, timeout=10.0, host=LOOPBACK):
    """Wait until something accepts TCP connections on host:port."""
    return wait_for(lambda: port_open(port, host), timeout,
                    message="port %d to accept connections" % port)


# --- files -----------------------------------------------------------------

def write_secret(path, value):
    """Write a secret file with mode 0600 from the start (never readable by
    others, not even between create and chmod)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)
    return path


def tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)


_pki = None


def shared_pki():
    """The test PKI (certs.Pki), made once per machine and user.

    Kept in a fixed temp path: certs.ensure() is idempotent and locked, so
    parallel test processes share it and only the first one pays.
    """
    global _pki
    if _pki is None:
        path = os.path.join(tempfile.gettempdir(),
                            "smtp-health-agent-test-pki-%d" % os.getuid())
        _pki = certs.ensure(path)
    return _pki


# --- servers ---------------------------------------------------------------

@contextlib.contextmanager
def postfix_server(pair=None, **kwargs):
    """A running PostfixInstance on three free ports in a fresh temp dir.

    pair: the certs.Pair to serve (default: the CA-signed localhost cert).
    Other keyword arguments go to PostfixInstance.
    """
    pair = pair or shared_pki().server
    workdir = tempfile.mkdtemp(prefix="pf-test-")
    ports = postfix.PostfixPorts(free_port(), free_port(), free_port())
    inst = postfix.PostfixInstance(workdir, ports, pair, **kwargs)
    try:
        with inst:
            yield inst
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def aiosmtpd(tls="starttls", pair=None, password=AIOSMTPD_PASSWORD,
             port=None, **kwargs):
    """A running aiosmtpd server (AiosmtpdProcess) on a free port (or on
    `port`; host="::1" listens there instead of 127.0.0.1).

    The password is written to a 0600 file for it; the object gets
    .password so tests can build the agent's own secret file.
    """
    pair = pair or shared_pki().server
    workdir = tempfile.mkdtemp(prefix="aiosmtpd-test-")
    secret = write_secret(os.path.join(workdir, "server.secret"), password)
    proc = AiosmtpdProcess(port or free_port(), secret, tls=tls,
                           cert=pair.cert, key=pair.key, workdir=workdir,
                           **kwargs)
    proc.password = password
    try:
        with proc:
            yield proc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- HTTP and metrics ------------------------------------------------------

def http_get(port, path, headers=None, method="GET", host=LOOPBACK):
    """(status, headers dict with lower-case names, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=HTTP_TIMEOUT)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, hdrs, body
    finally:
        conn.close()


_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_SAMPLE_RE = re.compile(r"(%s)(\{)?" % _NAME)
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class ParseError(ValueError):
    pass


def _parse_labels(line, pos, lineno):
    """Parse `name="value",...}` from pos; return (labels, pos after '}')."""
    labels = {}
    label_re = re.compile(r"\s*(%s)\s*=\s*\"" % _LABEL_NAME)
    while True:
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if pos < len(line) and line[pos] == "}":
            return labels, pos + 1
        m = label_re.match(line, pos)
        if not m:
            raise ParseError("line %d: bad label at column %d: %r"
                             % (lineno, pos + 1, line))
        name, pos = m.group(1), m.end()
        value = []
        while True:
            if pos >= len(line):
                raise ParseError("line %d: unterminated label value"
                                 % lineno)
            c = line[pos]
            if c == "\\":
                esc = line[pos + 1:pos + 2]
                if esc not in _ESCAPES:
                    raise ParseError("line %d: bad escape \\%s"
                                     % (lineno, esc))
                value.append(_ESCAPES[esc])
                pos += 2
            elif c == '"':
                pos += 1
                break
            else:
                value.append(c)
                pos += 1
        if name in labels:
            raise ParseError("line %d: duplicate label %s" % (lineno, name))
        labels[name] = "".join(value)
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if pos < len(line) and line[pos] == ",":
            pos += 1
        elif pos < len(line) and line[pos] == "}":
            return labels, pos + 1
        else:
            raise ParseError("line %d: expected ',' or '}' at column %d"
                             % (lineno, pos + 1))


def _parse_value(text, lineno):
    special = {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
    if text in special:
        return special[text]
    try:
        return float(text)
    except ValueError:
        raise ParseError("line %d: bad value %r" % (lineno, text)) from None


def parse_metrics(text):
    """Parse Prometheus text format 0.0.4 strictly.

    Returns {(name, frozenset(labels.items())): float}. Raises ParseError
    (with the line number) on anything malformed or on a duplicate series,
    because a sloppy exposition is a bug the tests should catch.
    """
    samples = {}
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            raise ParseError("line %d: bad metric name: %r" % (lineno, line))
        labels, pos = {}, m.end()
        if m.group(2):
            labels, pos = _parse_labels(line, pos, lineno)
        rest = line[pos:].split()
        if len(rest) not in (1, 2) or (pos < len(line)
                                       and line[pos] not in " \t"):
            raise ParseError("line %d: expected value [timestamp]: %r"
                             % (lineno, line))
        key = (m.group(1), frozenset(labels.items()))
        if key in samples:
            raise ParseError("line %d: duplicate series %s" % (lineno, line))
        if len(rest) == 2 and not re.fullmatch(r"-?[0-9]+", rest[1]):
            raise ParseError("line %d: bad timestamp %r" % (lineno, rest[1]))
        samples[key] = _parse_value(rest[0], lineno)
    return samples


def sample_labels(text):
    """[(name, [(label, value), ...]), ...]: every sample's labels in the
    order they are written (parse_metrics() keeps sets, which cannot tell
    `{a,b}` from `{b,a}`). Parses as strictly as parse_metrics()."""
    parse_metrics(text)
    out = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        labels = {}
        if m.group(2):
            labels, _ = _parse_labels(line, m.end(), lineno)
        out.append((m.group(1), list(labels.items())))
    return out


def _unescape_help(m):
    return {"n": "\n", "\\": "\\"}.get(m.group(1), "\\" + m.group(1))


def parse_metadata(text):
    """{metric family: {"type": ..., "help": ...}} from # TYPE / # HELP."""
    meta = {}
    for line in text.split("\n"):
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[0] == "#" and parts[1] in ("TYPE",
                                                                "HELP"):
            entry = meta.setdefault(parts[2], {})
            value = parts[3] if len(parts) > 3 else ""
            if parts[1] == "HELP":
                value = re.sub(r"\\(.)", _unescape_help, value)
            entry[parts[1].lower()] = value
    return meta


def metric(samples, name, **labels):
    """The value of the series with exactly these labels, or None."""
    return samples.get((name, frozenset(labels.items())))


def series(samples, name, **labels):
    """{labels dict as frozenset: value} of every series of `name` whose
    labels include the given ones."""
    want = set(labels.items())
    return {lbl: v for (n, lbl), v in samples.items()
            if n == name and want <= set(lbl)}


# The labels a /probe family writes of its own, after the user's: on
# /probe as on /metrics a sample reads {user labels, family's labels},
# only without the target label (Prometheus' instance says which).
PROBE_FAMILY_LABELS = {
    "probe_success": [], "probe_duration_seconds": [],
    "smtp_probe_phase_duration_seconds": ["phase"],
    "smtp_last_reply_code": ["stage", "class"],
    "smtp_auth_reply_code": ["mechanism", "class"],
    "smtp_probe_error": ["stage", "error"],
    "smtp_auth_mechanism_advertised": ["mechanism"],
    "smtp_max_message_size_bytes": [],
    "smtp_tls_info": ["version", "cipher"],
    "smtp_tls_cert_expiry_timestamp_seconds": [],
    "smtp_tls_verified_chain_expiry_timestamp_seconds": [],
    "smtp_tls_leaf_cert_not_after_timestamp_seconds": [],
    "smtp_tls_leaf_cert_not_before_timestamp_seconds": [],
    "smtp_tls_cert_info": ["fingerprint_sha256", "subject", "issuer",
                           "serial"],
    "smtp_tls_cert_valid": [],
    "smtp_target_info": ["host", "port", "tls", "tls_verify"],
}


def assert_probe_labels(test, text, user):
    """Every sample of a /probe answer carries exactly the labels `user`
    ([(name, value), ...], in order) first, then its family's own
    (PROBE_FAMILY_LABELS)."""
    samples = sample_labels(text)
    test.assertTrue(samples, text)
    for name, labels in samples:
        test.assertIn(name, PROBE_FAMILY_LABELS, name)
        test.assertEqual(labels[:len(user)], list(user), (name, labels))
        test.assertEqual([k for k, _ in labels[len(user):]],
                         PROBE_FAMILY_LABELS[name], (name, labels))


def scrape(port, path="/metrics", accept_gzip=False):
    """GET /metrics; return (text, parse_metrics(text)).

    Asserts the status is 200. With accept_gzip the request asks for gzip
    and the body is decompressed if the agent used it.
    """
    headers = {"Accept-Encoding": "gzip"} if accept_gzip else {}
    status, hdrs, body = http_get(port, path, headers)
    if status != 200:
        raise AssertionError("GET %s: HTTP %d: %r" % (path, status,
                                                      body[:200]))
    if hdrs.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    text = body.decode("utf-8")
    return text, parse_metrics(text)


def promtool_check(text):
    """`promtool check metrics` on a scrape: (exit code, its output)."""
    proc = subprocess.run(["promtool", "check", "metrics"], input=text,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=30)
    return proc.returncode, proc.stdout


# --- the agent -------------------------------------------------------------

def agent_binary():
    """Path of the agent under test: $SMTP_HEALTH_AGENT, else build/."""
    path = os.path.abspath(os.environ.get("SMTP_HEALTH_AGENT") or
                           os.path.join(REPO, "build", "smtp-health-agent"))
    if not os.access(path, os.X_OK):
        raise FileNotFoundError("agent binary not found: %s (set "
                                "SMTP_HEALTH_AGENT)" % path)
    return path


def sanitized(binary):
    """True when the binary was built with AddressSanitizer: its runtime
    symbols are in it, statically or as a dependency."""
    with open(binary, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"libasan.so" in data


def vm_status(pid):
    """{"VmHWM": bytes, "VmRSS": bytes} of a process, from /proc: its peak
    and current resident memory."""
    found = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                found[key] = int(value.split()[0]) * 1024
    return found


class AgentProcess:
    """The agent running as a subprocess with its own temp dir.

    .port is its HTTP port, .config_path and .stderr_path its files,
    .returncode is set once stopped.
    """

    def __init__(self, binary, config_text, password=None, port=None,
                 extra_args=(), env=None, ready_timeout=AGENT_READY_TIMEOUT,
                 wait_ready=True):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="agent-test-")
        self.port = port or free_port()
        self.listen = "%s:%d" % (LOOPBACK, self.port)
        self.password_file = os.path.join(self.dir, "password.secret")
        if password is not None:
            write_secret(self.password_file, password)
        self.config_path = os.path.join(self.dir, "agent.ini")
        self.stderr_path = os.path.join(self.dir, "agent.stderr")
        self.config_text = self._substitute(config_text)
        with open(self.config_path, "w") as f:
            f.write(self.config_text)
        self.extra_args = list(extra_args)
        self.env = env
        self.ready_timeout = ready_timeout
        self.wait_ready = wait_ready
        self.proc = None
        self.returncode = None

    def _substitute(self, text):
        for key, value in (("@PASSWORD_FILE@", self.password_file),
                           ("@DIR@", self.dir),
                           ("@CA_FILE@", shared_pki().ca.cert),
                           ("@LISTEN@", self.listen)):
            text = text.replace(key, value)
        return text

    def argv(self):
        return [self.binary, "-c", self.config_path, "--listen",
                self.listen] + self.extra_args

    def start(self):
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=err, env=self.env,
                                         cwd=self.dir)
        if self.wait_ready:
            self._wait_ready()
        return self

    def _wait_ready(self):
        """Poll /-/ready until 200; fail at once if the agent exits."""
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer"
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                self.returncode = rc
                raise AssertionError("agent exited with %d before ready:\n%s"
                                     % (rc, self.stderr()))
            try:
                status, _, body = http_get(self.port, "/-/ready")
                if status == 200:
                    return
                last = "HTTP %d %r" % (status, body[:100])
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            if time.monotonic() >= deadline:
                self.kill()
                raise AssertionError("agent not ready after %.0f s (%s); "
                                     "stderr:\n%s"
                                     % (self.ready_timeout, last,
                                        self.stderr()))
            time.sleep(0.05)

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, timeout=AGENT_STOP_TIMEOUT):
        """SIGTERM and assert the agent exits within `timeout`; return rc.

        A hang is killed (nothing is left behind) and reported as a test
        failure with the stderr tail.
        """
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("agent did not exit within %.0f s of "
                                     "SIGTERM:\n%s"
                                     % (timeout, tail(self.stderr_path)))
        self.returncode = self.proc.returncode
        self.proc = None
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc is not None:
            self.returncode = self.proc.returncode
        self.proc = None

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.kill()
            self.cleanup()  # __exit__ will not run
            raise

    def __exit__(self, exc_type, exc, tb):
        """Stop; when the test body passed, also require exit status 0."""
        try:
            rc = self.stop()
            if exc_type is None and rc != 0:
                raise AssertionError("agent exited with %s after SIGTERM:\n%s"
                                     % (rc, tail(self.stderr_path)))
        finally:
            self.cleanup()
        return False


def target_ini(name, port, tls="starttls", **keys):
    """The config text of a [target] on 127.0.0.1:`port` that verifies the
    test CA's certificate for localhost; `keys` become "key = value"
    lines, in their order (mechanisms=..., password_env=...)."""
    lines = ['[target "%s"]' % name, "host = 127.0.0.1", "port = %d" % port,
             "server_name = localhost", "ca_file = @CA_FILE@",
             "tls = %s" % tls]
    lines += ["%s = %s" % kv for kv in keys.items()]
    return "\n" + "\n".join(lines) + "\n"


def run_agent(binary, config_text, **kwargs):
    """An AgentProcess (a context manager: start on enter, SIGTERM on exit).

    Keyword arguments: password (written to @PASSWORD_FILE@, mode 0600),
    port, extra_args, env, ready_timeout, wait_ready.
    """
    return AgentProcess(binary, config_text, **kwargs)


def run_agent_once(binary, args, timeout=60, env=None):
    """Run the agent to completion (--check-config, --once, --explain):
    a CompletedProcess with text stdout/stderr, bounded by `timeout`;
    `env` replaces the environment (for password_env targets)."""
    return subprocess.run([binary] + list(args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, env=env)


# --- secrets ---------------------------------------------------------------

def _b64(data):
    return base64.b64encode(data).decode()


def _aligned_b64_middles(secret):
    """The base64 characters that depend only on the secret's bytes, for
    each of the 3 positions it can take inside a longer base64 string
    (preceded by 0, 1 or 2 bytes mod 3). Character i covers bits 6i..6i+5;
    the secret's bits run from 8k to 8(k+n)."""
    out = []
    for k in range(3):
        enc = _b64(b"\0" * k + secret + b"\0\0")
        first = -(-8 * k // 6)  # ceil
        last = 8 * (k + len(secret)) // 6  # exclusive
        out.append(enc[first:last])
    return out


def secret_forms(user, password):
    """Every string that would betray the password: itself, base64 of it
    and of the PLAIN and XOAUTH2 messages, and its base64 at any offset
    (so inside any longer base64 text, "user:password" included)."""
    p = password.encode()
    u = user.encode()
    forms = {password, _b64(p), _b64(b"\0" + u + b"\0" + p),
             _b64(u + b"\0" + u + b"\0" + p),
             _b64(b"user=" + u + b"\x01auth=Bearer " + p + b"\x01\x01")}
    forms.update(_aligned_b64_middles(p))
    # Never a short form: it could match by chance.
    assert all(len(f) >= 12 for f in forms), "password too short"
    return sorted(forms)


def token_forms(user, token, host="localhost", port=None):
    """secret_forms() of a bearer token, plus its OAUTHBEARER initial
    response (with the GS2 header's host and port) in base64."""
    forms = set(secret_forms(user, token))
    t = token.encode()
    ir = (b"n,a=" + user.encode() + b",\x01host=" + host.encode() +
          b"\x01port=" + str(port or 0).encode() + b"\x01auth=Bearer " + t +
          b"\x01\x01")
    forms.add(_b64(ir))
    return sorted(forms)


def assert_no_secret(test, forms, outputs):
    """Fails `test` when any of `forms` is in any value of `outputs` (a
    dict: where -> text); the message names the form's index and where,
    never the form or the text."""
    for where, text in outputs.items():
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        for i, form in enumerate(forms):
            test.assertFalse(form in text,
                             "secret form %d found in %s" % (i, where))


# --- small in-process servers ------------------------------------------------

@contextlib.contextmanager
def tcp_server(handler):
    """A threaded TCP server on 127.0.0.1 running `handler` (a
    socketserver.StreamRequestHandler class) per connection; yields its
    port and shuts it down on exit."""
    srv = socketserver.ThreadingTCPServer((LOOPBACK, 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


def greeting_server(greeting):
    """tcp_server() of a server that greets with the one line `greeting`
    (without CRLF) and answers every command after it with 503."""
    line = greeting.encode() + b"\r\n"

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            self.wfile.write(line)
            for _ in self.rfile:
                self.wfile.write(b"503 5.5.1 No service\r\n")
    return tcp_server(Handler)


# --- leftovers -------------------------------------------------------------

def live_processes(pattern):
    """[(pid, cmdline)] of non-zombie processes whose command line matches
    the regular expression (like `pgrep -af`, minus zombies and us)."""
    found = []
    rx = re.compile(pattern)
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/stat" % entry) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and cmd and rx.search(cmd):
            found.append((int(entry), cmd.strip()))
    return found
