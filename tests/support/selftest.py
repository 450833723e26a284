#!/usr/bin/python3
"""Self-test of the test servers, and the record of what they answer.

Starts the private Postfix (three ports) and aiosmtpd in its variants,
talks to them with Python's smtplib and checks every reply line exactly.
The EXPECT tables below are the documentation: the agent's integration
tests and its class explanations rely on these answers. Also checks the
metrics parser, and that no server process is left behind.

Run as root:  /usr/bin/python3 tests/support/selftest.py [-v]
Ends with "N passed, N failed"; exit status 0 only if nothing failed.
"""

import base64
import hmac
import os
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aiosmtpd_server  # noqa: E402
import harness  # noqa: E402
import postfix  # noqa: E402

OK = "235 2.7.0 Authentication successful"
PF_BAD = "535 5.7.8 Error: authentication failed: authentication failure"
PF_NOMECH = "535 5.7.8 Error: authentication failed: no mechanism available"
PF_NOTLS = "503 5.5.1 Error: authentication not enabled"
PF_BAD64 = "535 5.7.8 Error: authentication failed: bad protocol / cancel"
AIO_BAD = "535 5.7.8 Authentication credentials invalid"
AIO_NOMECH = "504 5.5.4 Unrecognized authentication type"
AIO_NOTLS = ("538 5.7.11 Encryption required for requested authentication"
             " mechanism")
AIO_BAD64 = "501 5.5.2 Can't decode base64"

GOOD, WRONG = "good", "wrong"
WRONG_PASSWORD = "not-the-password"

# (transport, mechanism, credentials, expected final reply line)
# transport: "starttls" (AUTH after STARTTLS), "clear" (AUTH without TLS),
# "implicit" (TLS from the first byte). "bad64" sends AUTH PLAIN with
# invalid base64.
POSTFIX_EXPECT = {
    "starttls": [
        ("clear", "PLAIN", GOOD, PF_NOTLS),
        ("clear", "CRAM-MD5", GOOD, PF_NOTLS),
        ("starttls", "PLAIN", GOOD, OK),
        ("starttls", "LOGIN", GOOD, OK),
        ("starttls", "CRAM-MD5", GOOD, OK),
        ("starttls", "PLAIN", WRONG, PF_BAD),
        ("starttls", "LOGIN", WRONG, PF_BAD),
        ("starttls", "CRAM-MD5", WRONG, PF_BAD),
        ("starttls", "XOAUTH2", GOOD, PF_NOMECH),
        ("starttls", "DIGEST-MD5", GOOD, PF_NOMECH),
        ("starttls", "bad64", GOOD, PF_BAD64),
    ],
    "implicit": [
        ("implicit", "PLAIN", GOOD, OK),
        ("implicit", "LOGIN", GOOD, OK),
        ("implicit", "CRAM-MD5", GOOD, OK),
        ("implicit", "PLAIN", WRONG, PF_BAD),
        ("implicit", "XOAUTH2", GOOD, PF_NOMECH),
    ],
    "clear": [
        ("clear", "PLAIN", GOOD, OK),
        ("clear", "LOGIN", GOOD, OK),
        ("clear", "CRAM-MD5", GOOD, OK),
        ("clear", "PLAIN", WRONG, PF_BAD),
        ("starttls", "PLAIN", GOOD, OK),
    ],
}

# aiosmtpd variants: (tls, mechanisms, auth_require_tls) -> cases.
AIOSMTPD_EXPECT = [
    (("starttls", ("LOGIN", "PLAIN"), True), [
        ("clear", "PLAIN", GOOD, AIO_NOTLS),
        ("starttls", "PLAIN", GOOD, OK),
        ("starttls", "LOGIN", GOOD, OK),
        ("starttls", "PLAIN", WRONG, AIO_BAD),
        ("starttls", "LOGIN", WRONG, AIO_BAD),
        ("starttls", "CRAM-MD5", GOOD, AIO_NOMECH),
        ("starttls", "XOAUTH2", GOOD, AIO_NOMECH),
        ("starttls", "bad64", GOOD, AIO_BAD64),
    ]),
    (("implicit", ("PLAIN", "CRAM-MD5", "XOAUTH2"), True), [
        ("implicit", "PLAIN", GOOD, OK),
        ("implicit", "LOGIN", GOOD, AIO_NOMECH),
        ("implicit", "CRAM-MD5", GOOD, OK),
        ("implicit", "CRAM-MD5", WRONG, AIO_BAD),
        ("implicit", "XOAUTH2", GOOD, OK),
        ("implicit", "XOAUTH2", WRONG, AIO_BAD),
    ]),
    (("none", ("LOGIN", "PLAIN"), False), [
        ("clear", "PLAIN", GOOD, OK),
        ("clear", "LOGIN", WRONG, AIO_BAD),
        ("clear", "CRAM-MD5", GOOD, AIO_NOMECH),
    ]),
]

# Metrics parser: (exposition text, expected samples or an exception).
PARSER_CASES = [
    ('a 1\n', {("a", frozenset()): 1.0}),
    ('a{x="y",z="w"} 2.5 1700000000000\n',
     {("a", frozenset({("x", "y"), ("z", "w")})): 2.5}),
    ('a{x="q\\"b\\\\s\\nn"} +Inf\n',
     {("a", frozenset({("x", 'q"b\\s\nn')})): float("inf")}),
    ('# HELP a x\n# TYPE a counter\na{x="1",} -Inf\n',
     {("a", frozenset({("x", "1")})): float("-inf")}),
    ('a{} 3e2\n', {("a", frozenset()): 300.0}),
    ('a{x="y"} 1\na{x="y"} 2\n', harness.ParseError),
    ('a{x="y} 1\n', harness.ParseError),
    ('a{x="\\t"} 1\n', harness.ParseError),
    ('a{x=y} 1\n', harness.ParseError),
    ('a{x="y"}1\n', harness.ParseError),
    ('a one\n', harness.ParseError),
    ('1a 1\n', harness.ParseError),
]


class Results:
    """Counts checks and prints one line per check."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print("%s %s%s" % ("ok  " if ok else "FAIL", what,
                           (" -> " + detail) if detail else ""), flush=True)
        return ok


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def reply_line(code, text):
    """smtplib gives (code, bytes with \\n between lines): the last line."""
    last = text.decode(errors="replace").split("\n")[-1]
    return "%d %s" % (code, last)


def client_context(verify=True):
    ctx = ssl.create_default_context(cafile=harness.shared_pki().ca.cert)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connect(port, transport, verify=True):
    """smtplib session after EHLO (and STARTTLS + EHLO when asked).

    Connecting to "127.0.0.1" makes smtplib verify the IP SAN of the test
    certificate, so this also checks the certificate and its CA.
    """
    if transport == "implicit":
        s = smtplib.SMTP_SSL("127.0.0.1", port, timeout=10,
                             context=client_context(verify))
    else:
        s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    s.ehlo("selftest.localhost")
    if transport == "starttls":
        s.starttls(context=client_context(verify))
        s.ehlo("selftest.localhost")
    return s


def auth(s, mech, user, password):
    """Run one AUTH exchange by hand; return the final reply line.

    By hand (docmd) rather than smtplib's auth(), so that any mechanism can
    be sent whether or not it was advertised, and the raw reply is seen.
    """
    if mech == "bad64":
        return reply_line(*s.docmd("AUTH", "PLAIN !!!not-base64"))
    if mech == "PLAIN":
        code, text = s.docmd("AUTH", "PLAIN " + b64("\0%s\0%s"
                                                    % (user, password)))
    elif mech == "LOGIN":
        code, text = s.docmd("AUTH", "LOGIN")
        if code == 334:
            code, text = s.docmd(b64(user))
        if code == 334:
            code, text = s.docmd(b64(password))
    elif mech == "CRAM-MD5":
        code, text = s.docmd("AUTH", "CRAM-MD5")
        if code == 334:
            challenge = base64.b64decode(text)
            digest = hmac.new(password.encode(), challenge, "md5").hexdigest()
            code, text = s.docmd(b64("%s %s" % (user, digest)))
    elif mech == "XOAUTH2":
        blob = "user=%s\x01auth=Bearer %s\x01\x01" % (user, password)
        code, text = s.docmd("AUTH", "XOAUTH2 " + b64(blob))
        if code == 334:  # the error challenge; RFC 7628 wants an empty line
            code, text = s.docmd("")
    else:  # a mechanism we cannot speak: the server should refuse it first
        code, text = s.docmd("AUTH", mech)
        if code == 334:
            code, text = s.docmd("*")
    return reply_line(code, text)


def run_case(results, label, port, case, user, password):
    transport, mech, creds, expect = case
    pw = password if creds == GOOD else WRONG_PASSWORD
    what = "%s %s %s %s" % (label, transport, mech, creds)
    try:
        s = connect(port, transport)
        try:
            got = auth(s, mech, user, pw)
        finally:
            s.close()
    except (OSError, smtplib.SMTPException, ssl.SSLError) as e:
        return results.check(False, what, "exception %r" % e)
    return results.check(got == expect, what,
                         got if got == expect else "%r != %r" % (got, expect))


def check_ehlo(results, label, port, transport, want_auth):
    s = connect(port, transport)
    try:
        has = s.has_extn("auth")
        mechs = s.esmtp_features.get("auth", "")
    finally:
        s.close()
    results.check(has == want_auth, "%s %s EHLO AUTH advertised=%s"
                  % (label, transport, want_auth), mechs or "(no AUTH)")


# What this self-test started, and only that, is looked for at the end:
# a Postfix or aiosmtpd of the host (or of a test running beside us) is
# none of its business.
STARTED = {"postfix_dirs": [], "pids": []}


def check_postfix(results):
    with harness.postfix_server() as pf:
        STARTED["postfix_dirs"].append(pf.config_dir)
        label = "postfix"
        results.check(pf.is_running(), "postfix started",
                      "ports %s" % (pf.ports,))
        check_ehlo(results, label + "/starttls", pf.ports.starttls, "clear",
                   False)
        check_ehlo(results, label + "/starttls", pf.ports.starttls,
                   "starttls", True)
        check_ehlo(results, label + "/clear", pf.ports.clear, "clear", True)
        for service, cases in POSTFIX_EXPECT.items():
            port = getattr(pf.ports, service)
            for case in cases:
                run_case(results, "%s/%s" % (label, service), port, case,
                         pf.username, pf.password)
        # Cyrus adds the realm to a bare name: both forms log in.
        run_case(results, "postfix/starttls short-user", pf.ports.starttls,
                 ("starttls", "PLAIN", GOOD, OK), pf.short_username,
                 pf.password)
        config_dir = pf.config_dir
        # Restart works on the same directory.
        pf.stop()
        results.check(not postfix.instance_pids(config_dir),
                      "postfix stop leaves no process")
        pf.start()
        run_case(results, "postfix/starttls after restart",
                 pf.ports.starttls, ("starttls", "PLAIN", GOOD, OK),
                 pf.username, pf.password)
    results.check(not postfix.instance_pids(config_dir),
                  "postfix context exit leaves no process")


def check_aiosmtpd(results):
    for (tls, mechs, require_tls), cases in AIOSMTPD_EXPECT:
        label = "aiosmtpd/%s[%s]" % (tls, ",".join(mechs))
        with harness.aiosmtpd(tls=tls, mechanisms=mechs,
                              auth_require_tls=require_tls) as srv:
            STARTED["pids"].append(srv.proc.pid)
            for case in cases:
                run_case(results, label, srv.port, case, srv.user,
                         srv.password)
            rc = srv.stop()
            log = srv.log()
        results.check(rc == 0, label + " SIGTERM exit 0", "rc %s" % rc)
        results.check(srv.password not in log
                      and b64(srv.password) not in log,
                      label + " log holds no password")


def check_demo(results):
    """--demo: STARTTLS, self-signed, demo user; password file created."""
    tmp = tempfile.mkdtemp(prefix="demo-selftest-")
    secret = os.path.join(tmp, "demo.secret")
    ready = os.path.join(tmp, "ready")
    port = harness.free_port()
    user = aiosmtpd_server.DEMO_USER
    password = aiosmtpd_server.DEMO_PASSWORD
    out_path = os.path.join(tmp, "out")
    with open(out_path, "w") as out:
        proc = subprocess.Popen(
            [aiosmtpd_server.PYTHON, aiosmtpd_server.__file__, "--demo",
             "--port", str(port), "--password-file", secret,
             "--ready-file", ready],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        STARTED["pids"].append(proc.pid)
    try:
        harness.wait_for(lambda: os.path.exists(ready), 10,
                         message="demo server ready")
        mode = os.stat(secret).st_mode & 0o777
        results.check(mode == 0o600, "demo password file mode 0600",
                      oct(mode))
        for mech, expect in (("PLAIN", OK), ("LOGIN", OK),
                             ("CRAM-MD5", AIO_NOMECH)):
            s = connect(port, "starttls", verify=False)
            try:
                got = auth(s, mech, user, password)
            finally:
                s.close()
            results.check(got == expect, "demo starttls %s" % mech, got)
        try:
            connect(port, "starttls", verify=True).close()
            results.check(False, "demo cert is self-signed (verify fails)")
        except ssl.SSLCertVerificationError as e:
            results.check(True, "demo cert is self-signed (verify fails)",
                          e.verify_message)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        with open(out_path) as f:
            out = f.read()
        results.check(proc.returncode == 0, "demo SIGTERM exit 0",
                      "rc %s" % proc.returncode)
        results.check(password not in out, "demo output holds no password")
        shutil.rmtree(tmp, ignore_errors=True)


def check_parser(results):
    for text, expect in PARSER_CASES:
        try:
            got = harness.parse_metrics(text)
        except harness.ParseError as e:
            got = e.__class__
            detail = str(e)
        else:
            detail = ""
        results.check(got == expect, "parse_metrics %r" % text,
                      detail or None)
    meta = harness.parse_metadata('# HELP a x\\ny \\\\z\n# TYPE a gauge\n')
    results.check(meta == {"a": {"help": "x\ny \\z", "type": "gauge"}},
                  "parse_metadata unescapes HELP", repr(meta))


def check_certs(results):
    pki = harness.shared_pki()
    import certs
    results.check(certs.not_after(pki.server.cert)
                  == certs.SERVER_NOT_AFTER_TS, "server cert notAfter",
                  str(certs.not_after(pki.server.cert)))
    results.check(certs.not_after(pki.expired.cert)
                  == certs.EXPIRED_NOT_AFTER_TS, "expired cert notAfter",
                  str(certs.not_after(pki.expired.cert)))
    for name, err in (("selfsigned", "self-signed"),
                      ("expired", "expired"),
                      ("wronghost", "mismatch")):
        proc = subprocess.run(
            ["openssl", "verify", "-CAfile", pki.ca.cert,
             "-verify_hostname", "localhost", getattr(pki, name).cert],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=10)
        results.check(proc.returncode != 0 and err in proc.stdout,
                      "cert %s fails verification (%s)" % (name, err))


def leftovers():
    """[(pid, cmdline)] alive of what this self-test started: the
    processes of its Postfix instances (MAIL_CONFIG names their directory)
    and its aiosmtpd servers (by pid)."""
    pids = set()
    for config_dir in STARTED["postfix_dirs"]:
        pids.update(postfix.instance_pids(config_dir))
    pids.update(STARTED["pids"])
    alive = dict(harness.live_processes(r"."))
    return sorted((pid, alive[pid]) for pid in pids if pid in alive)


def check_leftovers(results):
    # Postfix's master is reparented to init on start; give init a moment
    # to reap the zombies, then look for anything still alive.
    results.check(bool(STARTED["postfix_dirs"]) and bool(STARTED["pids"]),
                  "the servers started were recorded", repr(STARTED))
    try:
        harness.wait_for(lambda: not leftovers(), 5)
        results.check(True, "no master or aiosmtpd process left")
    except AssertionError:
        results.check(False, "no master or aiosmtpd process left",
                      repr(leftovers()))


def main():
    if os.geteuid() != 0:
        print("selftest: needs root (Postfix)", file=sys.stderr)
        return 2
    start = time.monotonic()
    results = Results()
    check_certs(results)
    check_parser(results)
    check_postfix(results)
    check_aiosmtpd(results)
    check_demo(results)
    check_leftovers(results)
    print("selftest took %.1f s" % (time.monotonic() - start))
    print("%d passed, %d failed" % (results.passed, results.failed))
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
