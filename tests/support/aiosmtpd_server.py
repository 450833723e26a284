#!/usr/bin/python3
"""A small aiosmtpd SMTP server with AUTH, for tests and the README demo.

Why aiosmtpd next to Postfix: it answers like the RFCs say (504 for an
unknown mechanism, 538 for AUTH before TLS) where Postfix answers 535/503,
so the agent is tested against both behaviours. Needs Debian's
python3-aiosmtpd: run it with /usr/bin/python3.

    aiosmtpd_server.py --port 2525 --tls starttls --cert C --key K \\
        --user probe@example.test --password-file F [--mechanisms PLAIN]
    aiosmtpd_server.py --demo --port 2525 [--password-file F]

With --token-file F, XOAUTH2 and OAUTHBEARER accept only the token that F
holds at the moment of AUTH (the test rotates it by rewriting F), not the
password file's content; OAUTHBEARER also checks the host and port of its
GS2 header against --oauth-host and the bound port.

The password is only ever read from a file. The server logs at INFO, where
aiosmtpd 1.4 masks the argument of AUTH commands and does not log the 334
continuation lines (its DEBUG level would log AUTH data: never enable it).
--ready-file F is written (atomically, containing the bound port) once the
server accepts connections; --port 0 binds a free port. SIGTERM or SIGINT
stop it cleanly (exit 0).

Observed replies (aiosmtpd 1.4.3): good credentials `235 2.7.0
Authentication successful`; bad `535 5.7.8 Authentication credentials
invalid`; a mechanism not offered `504 5.5.4 Unrecognized authentication
type`; AUTH in clear with --auth-require-tls yes `538 5.7.11 Encryption
required for requested authentication mechanism`; bad base64 `501 5.5.2
Can't decode base64`.
"""

import argparse
import base64
import hmac
import logging
import os
import shutil
import signal
import ssl
import sys
import tempfile
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

import script_server

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
BUILTIN_MECHANISMS = ("LOGIN", "PLAIN")
EXTRA_MECHANISMS = ("CRAM-MD5", "XOAUTH2", "OAUTHBEARER")
ALL_MECHANISMS = BUILTIN_MECHANISMS + EXTRA_MECHANISMS
SERVER_HOSTNAME = "aiosmtpd.localhost"

# Demo credentials are not secrets (the README prints them), but they are
# still only passed through files, like real ones.
DEMO_USER = "demo@example.com"
DEMO_PASSWORD = "demo-password"

log = logging.getLogger("aiosmtpd_server")


def read_secret(path):
    """The first line of a secret file, without its line end."""
    with open(path, "rb") as f:
        return f.readline().rstrip(b"\r\n")


class Handler:
    """Accepts and discards mail; checks credentials for every mechanism.

    aiosmtpd turns every attribute named auth_* of the handler into a
    mechanism, so the CRAM-MD5 and XOAUTH2 methods live in subclasses that
    make_handler() picks only when those mechanisms are asked for.
    """

    def __init__(self, user, password, token_file=None, oauth_host=None):
        self.user = user
        self.password = password
        self.token_file = token_file
        self.oauth_host = oauth_host

    def current_token(self):
        """The bearer token accepted now: --token-file's content at this
        moment, else the password."""
        if self.token_file:
            return read_secret(self.token_file)
        return self.password

    def check(self, login, password):
        return (hmac.compare_digest(login, self.user)
                and hmac.compare_digest(password, self.password))

    def authenticator(self, server, session, envelope, mechanism, data):
        """aiosmtpd's authenticator hook, used by its PLAIN and LOGIN."""
        ok = isinstance(data, LoginPassword) and self.check(data.login,
                                                            data.password)
        return AuthResult(success=ok, handled=False, auth_data=data)

    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 OK: discarded"


class CramMd5Mixin:
    """CRAM-MD5 (RFC 2195), which aiosmtpd does not ship."""

    async def auth_CRAM__MD5(self, server, args):
        if len(args) != 1:
            await server.push("501 5.5.4 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = "<%d.%d@%s>" % (os.getpid(), time.time_ns(),
                                    SERVER_HOSTNAME)
        response = await server.challenge_auth(challenge)
        if not isinstance(response, bytes):
            return AuthResult(success=False, handled=True)
        login, _, digest = response.rpartition(b" ")
        expect = hmac.new(self.password, challenge.encode(), "md5")
        ok = (hmac.compare_digest(login, self.user)
              and hmac.compare_digest(digest, expect.hexdigest().encode()))
        return AuthResult(success=ok, handled=False)


class XOAuth2Mixin:
    """XOAUTH2 with the password file's content as the bearer token.

    A wrong token gets what Gmail sends: a 334 with a base64 JSON error,
    then, after the client's empty line, 535.
    """

    async def auth_XOAUTH2(self, server, args):
        if len(args) == 2:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except ValueError:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            blob = await server.challenge_auth("")
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)
        fields = dict(part.split(b"=", 1) for part in blob.split(b"\x01")
                      if b"=" in part)
        token = fields.get(b"auth", b"")
        ok = (hmac.compare_digest(fields.get(b"user", b""), self.user)
              and hmac.compare_digest(token,
                                      b"Bearer " + self.current_token()))
        if ok:
            return AuthResult(success=True, handled=False)
        error = b'{"status":"401","schemes":"bearer"}'
        if not isinstance(await server.challenge_auth(error), bytes):
            return AuthResult(success=False, handled=True)  # "*": 501 sent
        return AuthResult(success=False, handled=False)


class OAuthBearerMixin:
    """OAUTHBEARER (RFC 7628): the GS2 header's authzid must be the user,
    host and port those the client was told to use, and the token the
    current one. A failure is RFC 7628 3.2.2's: a 334 with a base64 JSON
    error (status invalid_token), then, after the client's %x01, 535."""

    async def auth_OAUTHBEARER(self, server, args):
        if len(args) != 2:
            await server.push("501 5.5.4 OAUTHBEARER needs an initial "
                              "response")
            return AuthResult(success=False, handled=True)
        try:
            blob = base64.b64decode(args[1], validate=True)
        except ValueError:
            await server.push("501 5.5.2 Can't decode base64")
            return AuthResult(success=False, handled=True)
        gs2, _, rest = blob.partition(b"\x01")
        parts = gs2.split(b",")
        authzid = parts[1][2:] if len(parts) >= 2 and \
            parts[1].startswith(b"a=") else b""
        authzid = authzid.replace(b"=2C", b",").replace(b"=3D", b"=")
        fields = dict(part.split(b"=", 1) for part in rest.split(b"\x01")
                      if b"=" in part)
        port = str(server.transport.get_extra_info("sockname")[1]).encode()
        ok = (parts[0] == b"n"
              and hmac.compare_digest(authzid, self.user)
              and fields.get(b"port") == port
              and (self.oauth_host is None
                   or fields.get(b"host") == self.oauth_host.encode())
              and hmac.compare_digest(fields.get(b"auth", b""),
                                      b"Bearer " + self.current_token()))
        if ok:
            return AuthResult(success=True, handled=False)
        error = (b'{"status":"invalid_token","scope":"smtp",'
                 b'"openid-configuration":"https://localhost/.well-known/'
                 b'openid-configuration"}')
        answer = await server.challenge_auth(error)
        if answer != b"\x01":
            # RFC 7628 3.2.3: anything but %x01 is a protocol error.
            if isinstance(answer, bytes):
                await server.push("501 5.5.2 expected %x01")
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False)


def make_handler(user, password, mechanisms, token_file=None,
                 oauth_host=None):
    """A Handler with exactly the auth_* methods the mechanisms need."""
    bases = []
    if "CRAM-MD5" in mechanisms:
        bases.append(CramMd5Mixin)
    if "XOAUTH2" in mechanisms:
        bases.append(XOAuth2Mixin)
    if "OAUTHBEARER" in mechanisms:
        bases.append(OAuthBearerMixin)
    cls = type("TestHandler", tuple(bases) + (Handler,), {})
    return cls(user.encode(), password, token_file, oauth_host)


def tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


class _Controller(Controller):
    """Controller that also works with port 0.

    Controller.start() makes a test connection to self.port; with port 0
    that must be the port the kernel picked, known only after binding.
    """

    def _trigger_server(self):
        if self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def make_controller(port, tls, cert, key, user, password, mechanisms,
                    auth_require_tls=True, host="127.0.0.1", token_file=None,
                    oauth_host=None):
    """Build (not start) an aiosmtpd Controller with the given behaviour.

    Implicit TLS forces auth_require_tls off: aiosmtpd only knows about TLS
    it negotiated through STARTTLS, so it would refuse AUTH with 538 on a
    connection that is encrypted from the first byte.
    """
    mechanisms = [m.upper() for m in mechanisms]
    unknown = set(mechanisms) - set(ALL_MECHANISMS)
    if unknown:
        raise ValueError("unsupported mechanisms: %s" % sorted(unknown))
    handler = make_handler(user, password, mechanisms, token_file,
                           oauth_host)
    kwargs = dict(
        hostname=host,
        port=port,
        server_hostname=SERVER_HOSTNAME,
        authenticator=handler.authenticator,
        auth_exclude_mechanism=[m for m in BUILTIN_MECHANISMS
                                if m not in mechanisms],
        auth_require_tls=auth_require_tls,
        timeout=30,
        ready_timeout=10,
    )
    if tls == "starttls":
        kwargs["tls_context"] = tls_context(cert, key)
    elif tls == "implicit":
        kwargs["ssl_context"] = tls_context(cert, key)
        kwargs["auth_require_tls"] = False
    elif tls != "none":
        raise ValueError("tls must be none, starttls or implicit")
    return _Controller(handler, **kwargs)


def bound_port(controller):
    return controller.server.sockets[0].getsockname()[1]


def write_ready(path, port):
    """Write the port to path atomically: readers never see half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True,
                   help="0 picks a free port (see --ready-file)")
    p.add_argument("--tls", choices=("none", "starttls", "implicit"),
                   default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user", default="probe@example.test")
    p.add_argument("--password-file")
    p.add_argument("--auth-require-tls", choices=("yes", "no"),
                   default="yes")
    p.add_argument("--mechanisms", default="LOGIN PLAIN",
                   help="space or comma separated; of %s"
                   % " ".join(ALL_MECHANISMS))
    p.add_argument("--token-file",
                   help="XOAUTH2/OAUTHBEARER accept only its content, read "
                   "at each AUTH")
    p.add_argument("--oauth-host",
                   help="the host OAUTHBEARER's GS2 header must name")
    p.add_argument("--ready-file")
    p.add_argument("--demo", action="store_true",
                   help="STARTTLS, self-signed cert, user %s" % DEMO_USER)
    args = p.parse_args(argv)
    args.mechanisms = args.mechanisms.replace(",", " ").split()
    if not args.demo:
        if not args.password_file:
            p.error("--password-file is required (except with --demo)")
        if args.tls != "none" and not (args.cert and args.key):
            p.error("--tls %s needs --cert and --key" % args.tls)
    return args


def setup_demo(args, tmpdir):
    """Demo defaults: a self-signed cert made into tmpdir, the demo user.

    The demo password goes into --password-file when that file does not
    exist yet (so a demo config can point at it), else into tmpdir.
    """
    sys.path.insert(0, HERE)
    import certs

    pki = certs.ensure(os.path.join(tmpdir, "pki"))
    args.tls = "starttls"
    args.cert, args.key = pki.selfsigned.cert, pki.selfsigned.key
    args.user = DEMO_USER
    args.auth_require_tls = "yes"
    path = args.password_file or os.path.join(tmpdir, "demo.secret")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(DEMO_PASSWORD + "\n")
    args.password_file = path


def main(argv):
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    # Block the stop signals before the server thread starts, so that the
    # thread inherits the mask and only sigwait() below receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    tmpdir = tempfile.mkdtemp(prefix="aiosmtpd-") if args.demo else None
    try:
        if args.demo:
            setup_demo(args, tmpdir)
        controller = make_controller(
            args.port, args.tls, args.cert, args.key, args.user,
            read_secret(args.password_file), args.mechanisms,
            auth_require_tls=args.auth_require_tls == "yes", host=args.host,
            token_file=args.token_file, oauth_host=args.oauth_host)
        controller.start()
        port = bound_port(controller)
        log.info("listening on %s:%d tls=%s mechanisms=%s", args.host, port,
                 args.tls, " ".join(args.mechanisms))
        if args.demo:
            print("demo SMTP server on %s:%d (STARTTLS, self-signed), "
                  "user %s, password in %s"
                  % (args.host, port, args.user, args.password_file),
                  flush=True)
        if args.ready_file:
            write_ready(args.ready_file, port)
        sig = signal.sigwait({signal.SIGTERM, signal.SIGINT})
        log.info("signal %d: stopping", sig)
        controller.stop()
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


class AiosmtpdProcess(script_server.ScriptServer):
    """Run this script as a subprocess; a context manager for tests.

    A separate process, like any real server: the test can kill it, and
    its asyncio loop never competes with the test's own threads.
    `password_file` must exist; the password never appears in argv.
    """

    name = "aiosmtpd"

    def __init__(self, port, password_file, tls="none", cert=None,
                 key=None, user="probe@example.test",
                 mechanisms=BUILTIN_MECHANISMS, auth_require_tls=True,
                 workdir=None, start_timeout=10.0, host="127.0.0.1",
                 token_file=None, oauth_host=None):
        self.port = port
        self.host = host
        self.tls = tls
        self.user = user
        self.mechanisms = tuple(mechanisms)
        owns_workdir = workdir is None
        workdir = workdir or tempfile.mkdtemp(prefix="aiosmtpd-run-")
        ready_file = os.path.join(workdir, "ready-%d" % port)
        argv = [PYTHON, os.path.join(HERE, "aiosmtpd_server.py"),
                "--host", host,
                "--port", str(port), "--tls", tls, "--user", user,
                "--password-file", password_file,
                "--mechanisms", " ".join(self.mechanisms),
                "--auth-require-tls", "yes" if auth_require_tls else "no",
                "--ready-file", ready_file]
        if tls != "none":
            argv += ["--cert", cert, "--key", key]
        if token_file:
            argv += ["--token-file", token_file]
        if oauth_host:
            argv += ["--oauth-host", oauth_host]
        super().__init__(argv, workdir, ready_file,
                         os.path.join(workdir, "aiosmtpd-%d.log" % port),
                         start_timeout, owns_workdir)

    def read_ready(self, text):
        self.port = int(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
