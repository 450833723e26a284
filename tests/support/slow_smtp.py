"""A slow (or silent) plain SMTP server on 127.0.0.1 for the integration
tests: every reply (greeting, EHLO, QUIT) comes `delay` seconds late, so a
probe of it is in flight for about 3 * delay; with silent=True it accepts
and never says anything. It counts connections and the most it held open
at once. Used by the schedule, reload and hardening tests.
"""

import socketserver
import threading

LOOPBACK = "127.0.0.1"


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Many probes may connect at once (the descriptor-limit test).
    request_queue_size = 256


class _Handler(socketserver.StreamRequestHandler):
    owner = None  # the SlowSmtpServer, set on a subclass per server

    def reply(self, data):
        srv = self.owner
        # An interruptible sleep: stop() ends every connection at once.
        if srv.stopping.wait(srv.delay):
            return False
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            return False
        return True

    def handle(self):
        srv = self.owner
        self.request.settimeout(60)
        with srv.lock:
            srv.connections += 1
            srv.open += 1
            srv.max_open = max(srv.max_open, srv.open)
        try:
            self.converse()
        finally:
            self.close_count()

    def close_count(self):
        """This connection no longer counts as open. Called before the
        last reply too: the agent may connect again as soon as it has
        read it, before this thread gets to run on."""
        srv = self.owner
        with srv.lock:
            if not getattr(self, "closed_count", False):
                self.closed_count = True
                srv.open -= 1

    def converse(self):
        srv = self.owner
        if srv.silent:
            # Never greets: every probe runs to its deadline.
            srv.stopping.wait(60)
            return
        if not self.reply(b"220 slow.localhost ESMTP\r\n"):
            return
        try:
            for raw in self.rfile:
                cmd = raw.strip().upper()
                if cmd.startswith(b"EHLO") or cmd.startswith(b"HELO"):
                    ok = self.reply(b"250-slow.localhost\r\n"
                                    b"250 PIPELINING\r\n")
                elif cmd == b"QUIT":
                    if srv.stopping.wait(srv.delay):
                        return
                    self.close_count()
                    self.wfile.write(b"221 2.0.0 bye\r\n")
                    self.wfile.flush()
                    return
                else:
                    ok = self.reply(b"502 5.5.2 no\r\n")
                if not ok:
                    return
        except OSError:
            return


class SlowSmtpServer:
    """Plain SMTP on 127.0.0.1 that waits `delay` seconds before each reply
    (greeting, EHLO, QUIT), so a probe of it takes about 3 * delay; with
    silent=True it accepts and never says anything. Counts connections
    and the most it held open at once."""

    def __init__(self, delay=0.0, silent=False):
        self.delay = delay
        self.silent = silent
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.port = None
        self._server = None

    def __enter__(self):
        handler = type("Handler", (_Handler,), {"owner": self})
        self._server = _Server((LOOPBACK, 0), handler)
        threading.Thread(target=self._server.serve_forever,
                         daemon=True).start()
        self.port = self._server.server_address[1]
        return self

    def __exit__(self, *exc):
        self.stopping.set()  # the replies waiting in their sleep end now
        self._server.shutdown()
        self._server.server_close()
        return False
