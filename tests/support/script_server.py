"""A test server script run as a subprocess, for the tests' side of
aiosmtpd_server.py and hostile_smtpd.py.

The script writes its output to a log file and, once it accepts
connections, writes a ready file (atomically). ScriptServer starts it,
waits for that file (bounded), reads it through read_ready(), and stops
the script with SIGTERM, then SIGKILL after a bounded wait. Standard
library only: the scripts import this module too.
"""

import os
import shutil
import signal
import subprocess
import time


class ScriptServer:
    """A context manager: start() on enter; stop() and cleanup() on exit.

    Subclasses set `name` (for error messages) and read_ready(text), and
    give __init__ the script's argv, which must make it write
    `ready_file` and log to `log_path` (or to its stderr).
    """

    name = "server"

    def __init__(self, argv, workdir, ready_file, log_path,
                 start_timeout=10.0, owns_workdir=True):
        self.argv = argv
        self.workdir = workdir
        self.ready_file = ready_file
        self.log_path = log_path
        self.start_timeout = start_timeout
        self._owns_workdir = owns_workdir
        self.proc = None

    def read_ready(self, text):
        """Take what the script wrote to its ready file (ports)."""
        raise NotImplementedError

    def start(self):
        if os.path.exists(self.ready_file):
            os.unlink(self.ready_file)
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf)
        deadline = time.monotonic() + self.start_timeout
        while not os.path.exists(self.ready_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("%s did not start:\n%s"
                                   % (self.name, self.log()))
            time.sleep(0.02)
        with open(self.ready_file) as f:
            self.read_ready(f.read())
        return self

    def stop(self, timeout=5.0):
        """SIGTERM, wait (bounded), SIGKILL if it would not go."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()  # __exit__ will not run
            raise

    def __exit__(self, *exc):
        self.stop()
        self.cleanup()
        return False
