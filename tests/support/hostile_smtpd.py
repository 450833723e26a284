#!/usr/bin/python3
"""A scriptable, misbehaving SMTP server: the agent's hostile tests.

Real servers (Postfix, aiosmtpd) cannot be made to trickle their banner,
send a megabyte without a line end or answer AUTH forever. This one can:
every listening port plays one named scenario, the same way for every
connection, so an agent that probes it again and again meets the same
misbehaviour each time. Standard library and ssl only; run it with
/usr/bin/python3.

    hostile_smtpd.py --pki DIR --ready-file F [--log F] [NAME=]SCENARIO...
    hostile_smtpd.py --list

Each scenario gets a free port on 127.0.0.1 (port 0); NAME=SCENARIO plays
a scenario on one more port under another name. Once every port accepts
connections, --ready-file is written atomically with a JSON object
{"name": port, ...}. --pki is a directory made by certs.ensure(): the
TLS scenarios serve its server, expired, wronghost and selfsigned pairs.
SIGTERM or SIGINT stop it (exit 0).

The log (--log, default stderr) has one line per connection event and per
command received. AUTH data is never logged: an AUTH command is logged as
"AUTH <MECH> [data hidden]", its continuation lines as "[data hidden]",
except a bare "*" (the client cancelling), which is what the tests look
for.

Every connection runs in its own thread and ends within CONN_MAX_SECONDS
whatever the client does; at most CONN_MAX_PER_SCENARIO run at once per
scenario (more are closed at once and logged as "refused").

Tests use HostileServer, a context manager that runs this script as a
subprocess (a separate process, like a real server):

    with HostileServer(["no_banner", "greeting_421"], pki_dir) as srv:
        srv.ports["no_banner"]
"""

import argparse
import base64
import functools
import json
import os
import select
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time

import script_server

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
LOOPBACK = "127.0.0.1"

# Long enough for any agent deadline under test, short enough that a
# thread stuck with a silent client goes away on its own.
CONN_MAX_SECONDS = 30.0
CONN_MAX_PER_SCENARIO = 64
LINE_MAX = 64 * 1024  # the server's own limit on a command line

HOSTNAME = "hostile.test"
BANNER = "220 %s ESMTP hostile" % HOSTNAME
EHLO_PLAIN = [HOSTNAME, "PIPELINING", "SIZE 10240000", "AUTH PLAIN LOGIN"]
EHLO_STARTTLS = [HOSTNAME, "PIPELINING", "SIZE 10240000", "STARTTLS"]
EHLO_AFTER_TLS = [HOSTNAME, "PIPELINING", "SIZE 10240000",
                  "AUTH PLAIN LOGIN"]

_log_lock = threading.Lock()
_log_file = sys.stderr


def log(fmt, *args):
    line = fmt % args if args else fmt
    with _log_lock:
        _log_file.write("%.3f %s\n" % (time.time(), line))
        _log_file.flush()


class Closed(Exception):
    """The client went away, or the connection's time is up."""


class Conn:
    """One client connection: blocking helpers bounded by a deadline.

    Every method raises Closed when the client is gone or the
    connection's CONN_MAX_SECONDS are over; the scenario then just ends.
    """

    def __init__(self, sock, scenario, number, server, nth=1):
        self.sock = sock
        self.raw = sock
        self.scenario = scenario
        self.number = number
        self.nth = nth  # the how-manyth connection to this port, from 1
        self.server = server
        self.tls = False
        self.buf = b""
        self.deadline = time.monotonic() + CONN_MAX_SECONDS

    def note(self, fmt, *args):
        log("scenario=%s conn=%d %s", self.scenario, self.number,
            fmt % args if args else fmt)

    def _left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Closed("time is up")
        return left

    # --- writing -------------------------------------------------------

    def send(self, data):
        self.sock.settimeout(self._left())
        try:
            self.sock.sendall(data)
        except (OSError, ValueError) as e:
            raise Closed(repr(e)) from None

    def reply(self, text, eol=b"\r\n"):
        self.send(text.encode() + eol)

    def multiline(self, code, lines, eol=b"\r\n"):
        """One reply: "code-line" for all but the last, "code line"."""
        out = [b"%d-%s%s" % (code, ln.encode(), eol) for ln in lines[:-1]]
        out.append(b"%d %s%s" % (code, lines[-1].encode(), eol))
        self.send(b"".join(out))

    def trickle(self, data, per_byte=1.0):
        """Sends data one byte at a time, per_byte seconds apart; stops
        (Closed) as soon as the client hangs up."""
        for i in range(len(data)):
            self.send(data[i:i + 1])
            if self.wait_hangup(per_byte):
                raise Closed("client hung up")

    # --- reading -------------------------------------------------------

    def readline(self):
        """The next line with its line end, or raises Closed at EOF."""
        while b"\n" not in self.buf:
            if len(self.buf) > LINE_MAX:
                raise Closed("command line too long")
            self.sock.settimeout(self._left())
            try:
                chunk = self.sock.recv(65536)
            except (OSError, ValueError) as e:
                raise Closed(repr(e)) from None
            if not chunk:
                raise Closed("EOF")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def wait_hangup(self, seconds):
        """Waits up to seconds for the client to close, reading nothing.
        True when it did (or the socket failed)."""
        seconds = min(seconds, self._left())
        p = select.poll()
        # The TLS socket took the descriptor over from the raw one.
        p.register(self.sock.fileno(), select.POLLRDHUP)
        events = p.poll(max(0, int(seconds * 1000)))
        return bool(events)

    def hold(self):
        """Says nothing and reads nothing until the client hangs up."""
        while not self.wait_hangup(1.0):
            pass
        raise Closed("client hung up")

    # --- TLS -----------------------------------------------------------

    def start_tls(self, pair_name):
        """Server side of a TLS handshake with the named certs.Pair."""
        if self.buf:
            raise Closed("data pipelined before TLS")
        self.raw.settimeout(self._left())
        try:
            self.sock = self.server.tls_context(pair_name).wrap_socket(
                self.raw, server_side=True)
        except (OSError, ValueError) as e:
            raise Closed("TLS handshake: %r" % e) from None
        self.tls = True

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass
        self.sock.close()
        self.raw.close()


def log_command(c, line, in_auth=False):
    text = line.rstrip(b"\r\n")
    if in_auth:
        shown = "*" if text == b"*" else "[data hidden]"
    else:
        words = text.split(b" ")
        if words[0].upper() == b"AUTH" and len(words) > 2:
            text = b" ".join(words[:2]) + b" [data hidden]"
        shown = text[:200].decode("ascii", "replace")
    c.note("command %s%s", shown, "" if line.endswith(b"\r\n") else
           " (bare LF)")


# --- the ordinary dialogue, with hooks for the misbehaviours -------------

def auth_accept(c, line, eol=b"\r\n"):
    """Any AUTH PLAIN or LOGIN succeeds (the password is not checked: these
    scenarios test the transport, not the credentials)."""
    words = line.rstrip(b"\r\n").split(b" ")
    mech = words[1].upper() if len(words) > 1 else b""
    if mech == b"PLAIN" and len(words) < 3:
        c.reply("334 ", eol)
        log_command(c, c.readline(), in_auth=True)
    elif mech == b"LOGIN":
        for prompt in ("334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6"):
            c.reply(prompt, eol)
            log_command(c, c.readline(), in_auth=True)
    elif mech != b"PLAIN":
        c.reply("504 5.5.4 Unrecognized authentication type", eol)
        return
    c.reply("235 2.7.0 Authentication successful", eol)


def smtp(c, banner=BANNER, ehlo=None, tls_pair=None,
         starttls=None, auth=auth_accept, eol=b"\r\n", after_ehlo=None,
         mail=None):
    """A plain SMTP dialogue: banner, EHLO, STARTTLS (when tls_pair is
    given), AUTH, QUIT. The keyword arguments swap in a misbehaviour:
    ehlo(c) returns the EHLO lines (or sends the reply itself and returns
    None); starttls(c) replaces the answer to STARTTLS; auth(c, line)
    answers AUTH; after_ehlo(c) runs right after the EHLO reply;
    mail(c, verb) answers MAIL, RCPT and DATA (without it: 502)."""
    if banner is not None:
        c.reply(banner, eol)
    while True:
        line = c.readline()
        log_command(c, line)
        verb = line.split(b" ", 1)[0].strip().upper()
        if verb in (b"EHLO", b"HELO"):
            if ehlo is not None:
                lines = ehlo(c)
            elif tls_pair and not c.tls:
                lines = EHLO_STARTTLS
            else:
                lines = EHLO_AFTER_TLS if c.tls else EHLO_PLAIN
            if lines is not None:
                c.multiline(250, lines, eol)
            if after_ehlo is not None:
                after_ehlo(c)
        elif verb == b"STARTTLS" and not c.tls:
            if starttls is not None:
                starttls(c)
            elif tls_pair:
                c.reply("220 2.0.0 Ready to start TLS", eol)
                c.start_tls(tls_pair)
                c.note("TLS up")
            else:
                c.reply("502 5.5.1 STARTTLS not offered", eol)
        elif verb == b"AUTH":
            auth(c, line)
        elif verb in (b"MAIL", b"RCPT", b"DATA") and mail is not None:
            mail(c, verb)
        elif verb == b"QUIT":
            c.reply("221 2.0.0 Bye", eol)
            return
        elif verb in (b"NOOP", b"RSET"):
            c.reply("250 2.0.0 OK", eol)
        else:
            c.reply("502 5.5.1 Command not implemented", eol)


# --- scenarios ------------------------------------------------------------

SCENARIOS = {}


def scenario(name):
    """Registers f(c) as scenario `name`; its docstring says what it does."""
    def register(f):
        SCENARIOS[name] = f
        return f
    return register


def _stop(c):
    raise Closed("scenario closes the connection")


@scenario("healthy")
def healthy(c):
    """A well-behaved server: STARTTLS with the CA-signed localhost
    certificate, then AUTH PLAIN/LOGIN accepted."""
    smtp(c, tls_pair="server")


@scenario("no_banner")
def no_banner(c):
    """Accepts and says nothing, ever."""
    c.hold()


@scenario("banner_trickle")
def banner_trickle(c):
    """The banner, one byte a second."""
    c.trickle((BANNER + "\r\n").encode(), 1.0)
    smtp(c, banner=None)


@scenario("banner_late")
def banner_late(c):
    """The banner after 10 s of silence (past any deadline under test)."""
    if c.wait_hangup(10.0):
        raise Closed("client hung up")
    smtp(c)


@scenario("greeting_421")
def greeting_421(c):
    """421 instead of 220, then closes (RFC 5321 3.8)."""
    c.reply("421 4.3.2 %s Service not available, try later" % HOSTNAME)


@scenario("greeting_554")
def greeting_554(c):
    """554 instead of 220, then answers every command with 503."""
    c.reply("554 5.7.1 %s No SMTP service here" % HOSTNAME)
    while True:
        log_command(c, c.readline())
        c.reply("503 5.5.1 No service")


@scenario("greeting_markup")
def greeting_markup(c):
    """554 whose text carries HTML, quotes, a terminal escape and a
    logfmt look-alike: for the status page and the log to escape."""
    c.send(b'554 5.7.1 <script>alert("x")</script> & \x1b[31mred\x1b[0m '
           b'level=error msg="forged"\r\n')
    while True:
        log_command(c, c.readline())
        c.reply("503 5.5.1 No service")


@scenario("greeting_bytes")
def greeting_bytes(c):
    """554 whose text holds quotes, backslashes, control bytes, valid
    UTF-8 and bytes that are not UTF-8: for JSON logs to escape."""
    c.send(b'554 5.7.1 say "hi" C:\\dir\\ \\x41 \x01\x07\x7f caf\xc3\xa9 '
           b'\xff\xfe\xc3( \xed\xa0\x80 end\r\n')
    while True:
        log_command(c, c.readline())
        c.reply("503 5.5.1 No service")


@scenario("garbage")
def garbage(c):
    """Binary garbage with NUL bytes and line ends, then silence."""
    junk = bytes(range(256)) * 4
    c.send(b"\x00\x00\x00\xff\xfe" + junk + b"\r\n\x00\r\n")
    c.hold()


@scenario("long_line")
def long_line(c):
    """"220 " and 1 MiB of text without any line end, then silence."""
    c.send(b"220 " + b"A" * (1 << 20))
    c.hold()


@scenario("long_line_crlf")
def long_line_crlf(c):
    """A 1 MiB banner line that does end in CRLF, then a normal dialogue
    (a line libcurl would cut down to its first 40 bytes and its tail)."""
    c.send(b"220 " + b"A" * (1 << 20) + b"\r\n")
    smtp(c, banner=None)


@scenario("line_17k")
def line_17k(c):
    """A 17 KiB banner line ending in CRLF, then a normal dialogue: long
    enough for libcurl to cut it, short enough to pass its 300 KiB cap."""
    c.send(b"220 " + b"A" * (17 * 1024) + b"\r\n")
    smtp(c, banner=None)


@functools.lru_cache(maxsize=None)
def _huge_ehlo():
    return b"".join(b"250-line %06d of a reply that never ends\r\n" % i
                    for i in range(100000)) + b"250 the end\r\n"


@scenario("ehlo_100k_lines")
def ehlo_100k_lines(c):
    """EHLO answered with a 100,001-line reply (about 4.5 MB)."""
    def huge(c):
        c.send(_huge_ehlo())
    smtp(c, ehlo=huge)


@scenario("code_600")
def code_600(c):
    """A greeting with code 600 (no such first digit)."""
    c.reply("600 %s what is this" % HOSTNAME)
    c.hold()


@scenario("code_abc")
def code_abc(c):
    """A greeting whose code is letters."""
    c.reply("abc %s not a code" % HOSTNAME)
    c.hold()


@scenario("code_25")
def code_25(c):
    """A greeting with a two-digit code."""
    c.reply("25 %s two digits" % HOSTNAME)
    c.hold()


@scenario("multiline_mismatch")
def multiline_mismatch(c):
    """An EHLO reply whose lines disagree on the code (250, then 251)."""
    def mixed(c):
        c.send(b"250-%s\r\n250-PIPELINING\r\n251 SIZE 1000\r\n"
               % HOSTNAME.encode())
    smtp(c, ehlo=mixed)


@scenario("bare_lf")
def bare_lf(c):
    """Every reply line ends in a bare LF; otherwise well-behaved (AUTH
    in clear: the target allows it)."""
    smtp(c, eol=b"\n")


@scenario("close_after_banner")
def close_after_banner(c):
    """The banner, then the connection closes."""
    c.reply(BANNER)


@scenario("close_after_ehlo")
def close_after_ehlo(c):
    """Answers EHLO (offering AUTH in clear), then closes."""
    smtp(c, after_ehlo=_stop)


@scenario("close_mid_reply")
def close_mid_reply(c):
    """Closes in the middle of the EHLO reply's second line."""
    def cut(c):
        c.send(b"250-%s\r\n250-PIPEL" % HOSTNAME.encode())
        raise Closed("cut")
    smtp(c, ehlo=cut)


@scenario("close_in_tls_handshake")
def close_in_tls_handshake(c):
    """Implicit TLS port that reads the ClientHello and closes."""
    c.raw.settimeout(c._left())
    try:
        c.raw.recv(65536)
    except OSError:
        pass


@scenario("tls_handshake_stall")
def tls_handshake_stall(c):
    """Implicit TLS port that reads the ClientHello and never answers."""
    c.raw.settimeout(c._left())
    try:
        c.raw.recv(65536)
    except OSError:
        raise Closed("client hung up") from None
    c.hold()


@scenario("tls_on_plain_port")
def tls_on_plain_port(c):
    """Speaks TLS from the first byte (an implicit-TLS port): it waits for
    a ClientHello that a client expecting a plain banner never sends."""
    c.start_tls("server")
    smtp(c)


@scenario("plain_on_tls_port")
def plain_on_tls_port(c):
    """A plain-text SMTP server where the client expects implicit TLS."""
    smtp(c)


@scenario("starttls_454")
def starttls_454(c):
    """Offers STARTTLS, answers it with 454."""
    def refuse(c):
        c.reply("454 4.7.0 TLS not available due to temporary reason")
    smtp(c, tls_pair="server", starttls=refuse)


@scenario("starttls_garbage")
def starttls_garbage(c):
    """Answers STARTTLS with 220, then sends garbage, not a handshake."""
    def junk(c):
        c.reply("220 2.0.0 Ready to start TLS")
        c.send(b"this is not TLS\r\n" + bytes(range(256)))
        c.hold()
    smtp(c, tls_pair="server", starttls=junk)


@scenario("starttls_stall")
def starttls_stall(c):
    """Answers STARTTLS with 220, then never answers the ClientHello."""
    def stall(c):
        c.reply("220 2.0.0 Ready to start TLS")
        c.hold()
    smtp(c, tls_pair="server", starttls=stall)


@scenario("starttls_missing")
def starttls_missing(c):
    """An EHLO without STARTTLS (and with AUTH, as bait)."""
    smtp(c)


@scenario("cert_expired")
def cert_expired(c):
    """STARTTLS with a certificate that expired in 2021."""
    smtp(c, tls_pair="expired")


@scenario("cert_wronghost")
def cert_wronghost(c):
    """STARTTLS with a certificate for wrong.example only."""
    smtp(c, tls_pair="wronghost")


@scenario("cert_selfsigned")
def cert_selfsigned(c):
    """STARTTLS with a self-signed certificate (no CA vouches for it)."""
    smtp(c, tls_pair="selfsigned")


def _auth_endless_334(c, line):
    """Every line after AUTH gets another challenge, "*" included."""
    while True:
        c.reply("334 ")
        log_command(c, c.readline(), in_auth=True)


@scenario("lb_second_backend_expired")
def lb_second_backend_expired(c):
    """A load balancer over two backends, taken in turn: odd connections
    to this port get the CA-signed localhost certificate, even ones a
    certificate that expired in 2021; AUTH PLAIN/LOGIN accepted."""
    smtp(c, tls_pair="server" if c.nth % 2 else "expired")


# The last AUTH PLAIN token each port was sent: see echo_token_in_greeting.
_last_plain = {}


def _auth_remember(c, line):
    words = line.rstrip(b"\r\n").split(b" ")
    if len(words) > 2 and words[1].upper() == b"PLAIN":
        _last_plain[c.scenario] = words[2].decode("ascii", "replace")
    auth_accept(c, line)


@scenario("echo_token_in_greeting")
def echo_token_in_greeting(c):
    """Greets with the AUTH PLAIN token the last client sent to this port
    (a server that leaks what it was sent); otherwise healthy, STARTTLS
    and AUTH PLAIN/LOGIN accepted."""
    smtp(c, banner="220 %s ESMTP last=%s" % (
        HOSTNAME, _last_plain.get(c.scenario, "none")),
        tls_pair="server", auth=_auth_remember)


def _auth_535(c, line):
    c.reply("535 5.7.8 Authentication credentials invalid")


@scenario("auth_535")
def auth_535(c):
    """After STARTTLS, every AUTH gets aiosmtpd's "535 5.7.8
    Authentication credentials invalid"."""
    smtp(c, tls_pair="server", auth=_auth_535)


def _auth_bad_challenge(c, line):
    c.reply("334 !!not*base64!!")
    answer = c.readline()
    log_command(c, answer, in_auth=True)
    if answer.strip() == b"*":
        c.reply("501 5.7.0 Authentication cancelled")
    else:
        c.reply("535 5.7.8 Authentication credentials invalid")


@scenario("cram_bad_challenge")
def cram_bad_challenge(c):
    """After STARTTLS, AUTH CRAM-MD5 gets a challenge that is not base64;
    a client's "*" (RFC 4954 cancel) gets 501, anything else 535."""
    smtp(c, ehlo=lambda c: (EHLO_AFTER_TLS[:-1] + ["AUTH CRAM-MD5"]
                            if c.tls else EHLO_STARTTLS),
         tls_pair="server", auth=_auth_bad_challenge)


@scenario("auth_endless_334")
def auth_endless_334(c):
    """After STARTTLS, AUTH is answered with 334 challenges forever."""
    smtp(c, tls_pair="server", auth=_auth_endless_334)


def _auth_never_ends(c, line):
    chunk = b"".join(b"235-still going %06d\r\n" % i for i in range(2000))
    while True:
        c.send(chunk)


@scenario("auth_never_ends")
def auth_never_ends(c):
    """After STARTTLS, AUTH is answered with "235-" lines without end."""
    smtp(c, tls_pair="server", auth=_auth_never_ends)


def _auth_trickle(c, line):
    c.trickle(b"235 2.7.0 Authentication successful\r\n", 1.0)


@scenario("auth_trickle")
def auth_trickle(c):
    """After STARTTLS, the AUTH reply comes one byte a second."""
    smtp(c, tls_pair="server", auth=_auth_trickle)


@scenario("ehlo_4000_keywords")
def ehlo_4000_keywords(c):
    """An EHLO reply with 4,000 distinct keywords (and AUTH in clear)."""
    smtp(c, ehlo=lambda c: [HOSTNAME] + ["X%04d" % i for i in range(4000)]
         + ["AUTH PLAIN LOGIN"])


@scenario("ehlo_100_keywords")
def ehlo_100_keywords(c):
    """An EHLO reply with 100 distinct keywords: more than the agent keeps
    (32), few enough for libcurl to read."""
    smtp(c, ehlo=lambda c: [HOSTNAME] + ["X%04d" % i for i in range(100)]
         + ["AUTH PLAIN LOGIN"])


@scenario("ehlo_10k_keywords")
def ehlo_10k_keywords(c):
    """An EHLO reply with three keywords of 10 KiB each."""
    smtp(c, ehlo=lambda c: [HOSTNAME] + [("K%d" % i) * 3413 + "X"
                                         for i in range(3)]
         + ["AUTH PLAIN LOGIN"])


@scenario("never_reads")
def never_reads(c):
    """Sends the banner, then never reads (nor writes) anything again."""
    c.reply(BANNER)
    c.hold()


# --- the refusal checks (expect_auth_before_tls, expect_open_relay) -------

EHLO_STARTTLS_AUTH = EHLO_STARTTLS + ["AUTH PLAIN LOGIN"]


def _ehlo_auth_in_clear(c):
    return EHLO_AFTER_TLS if c.tls else EHLO_STARTTLS_AUTH


def _auth_in_clear(code_text):
    """AUTH before TLS gets code_text, its PLAIN user name (never the
    password) logged as "clear AUTH user=NAME"; after TLS auth_accept."""
    def auth(c, line):
        if c.tls:
            auth_accept(c, line)
            return
        words = line.rstrip(b"\r\n").split(b" ")
        user = "?"
        if len(words) > 2:
            try:
                parts = base64.b64decode(words[2], validate=True).split(b"\0")
            except ValueError:
                parts = []
            if len(parts) == 3:
                user = parts[1].decode("ascii", "replace")
        c.note("clear AUTH user=%s", user)
        c.reply(code_text)
    return auth


def _mail_answers(rcpt):
    """MAIL gets 250, RCPT gets rcpt, DATA 554 (the agent must never send
    it: the log says if it did)."""
    def mail(c, verb):
        if verb == b"MAIL":
            c.reply("250 2.1.0 Ok")
        elif verb == b"RCPT":
            c.reply(rcpt)
        else:
            c.reply("554 5.5.1 DATA refused by the test server")
    return mail


@scenario("auth_in_clear_235")
def auth_in_clear_235(c):
    """STARTTLS port that advertises AUTH before STARTTLS too and answers
    235 to any AUTH there, password unchecked: credentials taken in
    clear."""
    smtp(c, tls_pair="server", ehlo=_ehlo_auth_in_clear,
         auth=_auth_in_clear("235 2.7.0 Authentication successful"))


@scenario("auth_in_clear_538")
def auth_in_clear_538(c):
    """STARTTLS port that advertises AUTH before STARTTLS but answers 538
    5.7.11 to AUTH there (aiosmtpd's words); after TLS AUTH succeeds."""
    smtp(c, tls_pair="server", ehlo=_ehlo_auth_in_clear,
         auth=_auth_in_clear(
             "538 5.7.11 Encryption required for requested authentication "
             "mechanism"))


@scenario("relay_open")
def relay_open(c):
    """STARTTLS; without AUTH, MAIL and RCPT TO any address get 250: an
    open relay."""
    smtp(c, tls_pair="server", mail=_mail_answers("250 2.1.5 Ok"))


@scenario("relay_deferred")
def relay_deferred(c):
    """STARTTLS; RCPT TO gets 450 4.7.1 (a deferral, not a refusal)."""
    smtp(c, tls_pair="server",
         mail=_mail_answers("450 4.7.1 <x>: Recipient address rejected: "
                            "try again later"))


# --- the server ------------------------------------------------------------

class Server:
    """One listening socket per scenario, one thread per connection.

    A scenario may be given as NAME=SCENARIO: a second port playing the
    same scenario under its own name (in the log and the ports).
    """

    def __init__(self, scenarios, pki_dir):
        self.plays = {}
        for arg in scenarios:
            name, _, scen = arg.partition("=")
            self.plays[name] = scen or name
        unknown = [s for s in self.plays.values() if s not in SCENARIOS]
        if unknown:
            raise ValueError("unknown scenarios: %s" % ", ".join(unknown))
        self.pki_dir = pki_dir
        self._contexts = {}
        self._ctx_lock = threading.Lock()
        self.listeners = {}
        self.active = {name: 0 for name in self.plays}
        self.lock = threading.Lock()
        self.count = 0
        self.counts = {name: 0 for name in self.plays}
        self.stopping = threading.Event()
        for name in self.plays:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((LOOPBACK, 0))
            s.listen(128)
            self.listeners[name] = s

    def ports(self):
        return {n: s.getsockname()[1] for n, s in self.listeners.items()}

    def tls_context(self, pair_name):
        with self._ctx_lock:
            ctx = self._contexts.get(pair_name)
            if ctx is None:
                if not self.pki_dir:
                    raise Closed("no --pki given")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(
                    os.path.join(self.pki_dir, pair_name + ".pem"),
                    os.path.join(self.pki_dir, pair_name + ".key"))
                self._contexts[pair_name] = ctx
            return ctx

    def serve_forever(self):
        threads = [threading.Thread(target=self._accept, args=(n, s),
                                    daemon=True)
                   for n, s in self.listeners.items()]
        for t in threads:
            t.start()
        while not self.stopping.wait(0.5):
            pass

    def stop(self):
        self.stopping.set()
        for s in self.listeners.values():
            s.close()

    def _accept(self, name, lsock):
        while not self.stopping.is_set():
            try:
                sock, _ = lsock.accept()
            except OSError:
                return
            with self.lock:
                self.count += 1
                number = self.count
                self.counts[name] += 1
                nth = self.counts[name]
                busy = self.active[name] >= CONN_MAX_PER_SCENARIO
                if not busy:
                    self.active[name] += 1
            if busy:
                log("scenario=%s conn=%d refused: too many connections",
                    name, number)
                sock.close()
                continue
            threading.Thread(target=self._run, args=(name, sock, number, nth),
                             daemon=True).start()

    def _run(self, name, sock, number, nth):
        c = Conn(sock, name, number, self, nth)
        c.note("open")
        try:
            SCENARIOS[self.plays[name]](c)
            c.note("close: scenario done")
        except Closed as e:
            c.note("close: %s", e)
        except Exception as e:  # noqa: BLE001 (a scenario bug: log it)
            c.note("close: server error %r", e)
        finally:
            c.close()
            with self.lock:
                self.active[name] -= 1


def write_ready(path, ports):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ports, f)
    os.rename(tmp, path)


def main(argv):
    global _log_file
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenarios", nargs="*", metavar="[NAME=]SCENARIO")
    ap.add_argument("--pki", help="directory made by certs.ensure()")
    ap.add_argument("--ready-file")
    ap.add_argument("--log", help="log file (default: stderr)")
    ap.add_argument("--list", action="store_true",
                    help="print the scenarios and what they do")
    args = ap.parse_args(argv)
    if args.list:
        for name, f in SCENARIOS.items():
            print("%-24s %s" % (name, " ".join(f.__doc__.split())))
        return 0
    if not args.scenarios:
        ap.error("name at least one scenario (--list shows them)")
    if args.log:
        _log_file = open(args.log, "a", buffering=1)
    try:
        srv = Server(args.scenarios, args.pki)
    except ValueError as e:
        ap.error(str(e))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: srv.stop())
    ports = srv.ports()
    for name, port in ports.items():
        log("listening scenario=%s port=%d", name, port)
    if args.ready_file:
        write_ready(args.ready_file, ports)
    srv.serve_forever()
    log("stopped")
    return 0


class HostileServer(script_server.ScriptServer):
    """This script as a subprocess; a context manager for tests.

    .ports maps each scenario to its port once started; .log() is the
    server's log so far.
    """

    name = "hostile_smtpd"

    def __init__(self, scenarios, pki_dir, start_timeout=10.0):
        self.scenarios = list(scenarios)
        self.ports = {}
        workdir = tempfile.mkdtemp(prefix="hostile-smtpd-")
        ready_file = os.path.join(workdir, "ready.json")
        log_path = os.path.join(workdir, "hostile.log")
        super().__init__([PYTHON, os.path.abspath(__file__), "--pki",
                          pki_dir, "--ready-file", ready_file, "--log",
                          log_path] + self.scenarios,
                         workdir, ready_file, log_path, start_timeout)

    def read_ready(self, text):
        self.ports = json.loads(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
