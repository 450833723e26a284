"""A server binary run for a test: a plain process in a fresh temp dir,
ready when its /-/ready answers 200 (Prometheus, Alertmanager).

A subclass sets NAME (the binary's name in its command line), ERROR (the
exception it raises) and argv(); its __init__ calls TempDirServer's with
the file names it wants, then writes its files in self.dir. Every wait has
a deadline; stop() sends SIGTERM, kills after a bounded wait, and leaving
the context also removes the temp dir, so nothing is left running or on
disk.
"""

import http.client
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import harness

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class TempDirServer:
    """.port, .dir, .config_path, .data_dir, .log_path; .argv() is its
    command line (the subclass')."""

    NAME = None
    ERROR = AssertionError

    def __init__(self, binary, prefix, config_name, port=None,
                 ready_timeout=READY_TIMEOUT):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.port = port or harness.free_port()
        self.config_path = os.path.join(self.dir, config_name)
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, self.NAME + ".log")
        self.ready_timeout = ready_timeout
        self.proc = None

    def argv(self):
        raise NotImplementedError

    def process_pattern(self):
        """A regex for harness.live_processes() matching this server."""
        return re.escape("%s --config.file=%s" % (self.NAME, self.config_path))

    def log_tail(self, lines=30):
        return harness.tail(self.log_path, lines)

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self):
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, cwd=self.dir,
                start_new_session=True)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise self.ERROR("%s exited with %d before ready:\n%s"
                                 % (self.NAME, rc, self.log_tail()))
            try:
                status, _, _ = harness.http_get(self.port, "/-/ready")
                if status == 200:
                    return self
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() >= deadline:
                self.stop()
                raise self.ERROR("%s not ready after %.0f s:\n%s"
                                 % (self.NAME, self.ready_timeout,
                                    self.log_tail()))
            time.sleep(0.1)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL after `timeout`; return the exit status."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait(5)
        self.proc = None
        return rc

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False
