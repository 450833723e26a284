#!/usr/bin/python3
"""A small OAuth2 token endpoint (RFC 6749) for tests: plain Python, HTTPS
on loopback with the test CA's localhost certificate.

    with TokenEndpoint(pair, client_id="c", client_secret="s",
                       scope="smtp.send", expires_in=3600,
                       on_issue=write_token) as ep:
        ep.url   # https://localhost:PORT/token

It answers POST /token with application/x-www-form-urlencoded bodies:
grant_type=client_credentials (client_id, client_secret, scope) or
grant_type=refresh_token (refresh_token, client_id, client_secret
optional). A good request gets {"access_token": a new random token,
"token_type": "Bearer", "expires_in": ...}; on_issue(token, scope) is
called first (the test's SMTP server then accepts only that token). Errors
are RFC 6749 5.2's: 401 invalid_client, 400 invalid_grant,
invalid_scope, unsupported_grant_type. `mode` makes it misbehave: "ok",
"error500" (500, text/plain), "hang" (no answer until released or
HANG_MAX_S), "notjson" (200 with HTML). Every request is counted
(.requests) and kept (.bodies, for the tests' secret checks).
"""

import http.server
import json
import secrets
import ssl
import threading
import urllib.parse

HANG_MAX_S = 10.0


class TokenEndpoint:

    def __init__(self, pair, client_id, client_secret=None, scope=None,
                 refresh_token=None, expires_in=3600, on_issue=None,
                 wrong_scope_tokens=False):
        self.pair = pair
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.refresh_token = refresh_token
        self.expires_in = expires_in
        self.on_issue = on_issue
        # True: a scope other than `scope` still gets a token (as
        # Microsoft's endpoint issues tokens for any resource), which the
        # SMTP server then refuses; False: 400 invalid_scope.
        self.wrong_scope_tokens = wrong_scope_tokens
        self.mode = "ok"
        self.requests = 0
        self.bodies = []
        self.issued = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.server = None
        self.thread = None

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def url(self):
        return "https://localhost:%d/token" % self.port

    def set_mode(self, mode):
        with self.lock:
            self.mode = mode
        if mode != "hang":
            self.release.set()
        else:
            self.release.clear()

    def count(self):
        with self.lock:
            return self.requests

    def answer(self, form):
        """(status, content type, body) for a parsed form."""
        one = {k: v[0] for k, v in form.items() if len(v) == 1}
        grant = one.get("grant_type")
        if grant not in ("client_credentials", "refresh_token"):
            return 400, {"error": "unsupported_grant_type"}
        if one.get("client_id") != self.client_id or (
                (self.client_secret is not None or
                 grant == "client_credentials") and
                one.get("client_secret") != self.client_secret):
            return 401, {"error": "invalid_client",
                         "error_description": "AADSTS7000215: Invalid "
                         "client secret provided."}
        if grant == "refresh_token" and \
                one.get("refresh_token") != self.refresh_token:
            return 400, {"error": "invalid_grant",
                         "error_description": "Token has been expired or "
                         "revoked."}
        scope = one.get("scope", self.scope)
        if scope != self.scope and not self.wrong_scope_tokens:
            return 400, {"error": "invalid_scope"}
        token = "ya29.test-" + secrets.token_urlsafe(24)
        with self.lock:
            self.issued.append(token)
        if self.on_issue:
            self.on_issue(token, scope)
        return 200, {"access_token": token, "token_type": "Bearer",
                     "expires_in": self.expires_in}

    def __enter__(self):
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                pass  # the bodies hold secrets; nothing is logged

            def send(self, status, ctype, body):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(min(n, 65536)).decode(errors="replace")
                with endpoint.lock:
                    endpoint.requests += 1
                    endpoint.bodies.append(raw)
                    mode = endpoint.mode
                if self.path != "/token":
                    self.send(404, "text/plain", b"not found")
                    return
                if mode == "hang":
                    endpoint.release.wait(HANG_MAX_S)
                    self.send(503, "text/plain", b"released")
                    return
                if mode == "error500":
                    self.send(500, "text/plain", b"internal error")
                    return
                if mode == "notjson":
                    self.send(200, "text/html", b"<html>sign in</html>")
                    return
                status, obj = endpoint.answer(
                    urllib.parse.parse_qs(raw, keep_blank_values=True))
                self.send(status, "application/json",
                          json.dumps(obj).encode())

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that gave up (the hang mode) is expected

        self.server = Server(("127.0.0.1", 0), Handler)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.pair.cert, self.pair.key)
        self.server.socket = ctx.wrap_socket(self.server.socket,
                                             server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        return False
