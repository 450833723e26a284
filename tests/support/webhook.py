"""A webhook receiver for tests: records every notification POSTed to it.

Alertmanager's webhook_configs POST one JSON document per notification
(version 4: receiver, status, groupLabels, commonLabels, alerts, ...).
This server runs in a thread on 127.0.0.1 and keeps each request as it
came, raw bytes included, so a test can look for what must not be there:

    with webhook.WebhookReceiver() as hook:
        url = hook.url("mail-pager")      # http://127.0.0.1:PORT/mail-pager
        ...
        n = hook.wait_for(lambda n: n.doc["status"] == "resolved", 30)

Every wait has a deadline; leaving the block shuts the server down.
"""

import collections
import http.server
import json
import threading
import time

import harness

# One POST: when it arrived (time.monotonic()), its path, body and the
# parsed JSON (None when the body was not JSON).
Notification = collections.namedtuple("Notification",
                                      "received path body doc")

MAX_BODY = 4 << 20


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (http.server's name)
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        self.server.owner._record(Notification(time.monotonic(), self.path,
                                               body, doc))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass  # quiet: the test prints what matters


class WebhookReceiver:
    """The receiver; a context manager (start/stop). .port, .url(path),
    .notifications() (a copy, in arrival order), .wait_for(pred, timeout)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._got = []
        self._server = None
        self._thread = None
        self.port = None

    def start(self):
        self._server = http.server.ThreadingHTTPServer(
            (harness.LOOPBACK, 0), _Handler)
        self._server.daemon_threads = True
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def url(self, path):
        return "http://%s:%d/%s" % (harness.LOOPBACK, self.port,
                                    path.lstrip("/"))

    def _record(self, notification):
        with self._cond:
            self._got.append(notification)
            self._cond.notify_all()

    def notifications(self):
        with self._lock:
            return list(self._got)

    def wait_for(self, predicate, timeout, message=None):
        """The first notification (in arrival order) for which
        predicate(notification) is true, waiting up to `timeout` seconds;
        a test failure at the deadline. Exceptions from the predicate
        (a document of another shape) count as false."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for n in self._got[seen:]:
                    try:
                        if predicate(n):
                            return n
                    except (KeyError, TypeError, AttributeError, IndexError):
                        pass
                seen = len(self._got)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "timed out after %.1f s waiting for %s (%d "
                        "notifications received)"
                        % (timeout, message or "a notification", seen))
                self._cond.wait(left)
