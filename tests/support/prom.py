"""A real Prometheus server for tests: a plain process in a temp dir.

Debian's prometheus binary is started directly (never the system service)
on 127.0.0.1 with its own config, rule files and TSDB in a fresh temp dir:

    with prom.PrometheusServer(config_text, {"alerts.yml": rules}) as p:
        p.query('up{job="x"}')        # the "result" list of /api/v1/query
        p.alerts()                    # the "alerts" list of /api/v1/alerts

config_text may use @DIR@ (the temp dir, where rule files are written).
Every wait has a deadline; stop() sends SIGTERM, kills after a bounded wait
and removes the temp dir, so nothing is left running or on disk.
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

import harness

PROMETHEUS = "/usr/bin/prometheus"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class PrometheusError(AssertionError):
    pass


class PrometheusServer:
    """Prometheus as a subprocess; a context manager (start/stop).

    .port, .dir, .config_path, .log_path; .argv() is its command line.
    """

    def __init__(self, config_text, rule_files=None, port=None,
                 binary=PROMETHEUS, ready_timeout=READY_TIMEOUT):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="prom-test-")
        self.port = port or harness.free_port()
        self.config_path = os.path.join(self.dir, "prometheus.yml")
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "prometheus.log")
        for name, text in (rule_files or {}).items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        with open(self.config_path, "w") as f:
            f.write(config_text.replace("@DIR@", self.dir))
        self.ready_timeout = ready_timeout
        self.proc = None

    def argv(self):
        return [self.binary, "--config.file=" + self.config_path,
                "--storage.tsdb.path=" + self.data_dir,
                "--web.listen-address=%s:%d" % (harness.LOOPBACK, self.port),
                "--log.level=warn"]

    def process_pattern(self):
        """A regex for harness.live_processes() matching this server."""
        return re.escape("prometheus --config.file=" + self.config_path)

    def log_tail(self, lines=30):
        return harness.tail(self.log_path, lines)

    # --- lifecycle -------------------------------------------------------

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
                raise PrometheusError("prometheus exited with %d before "
                                      "ready:\n%s" % (rc, self.log_tail()))
            try:
                status, _, _ = harness.http_get(self.port, "/-/ready")
                if status == 200:
                    return self
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() >= deadline:
                self.stop()
                raise PrometheusError("prometheus not ready after %.0f s:\n%s"
                                      % (self.ready_timeout, self.log_tail()))
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

    # --- HTTP API --------------------------------------------------------

    def api(self, path, **params):
        """GET /api/v1/<path>; return its "data" (asserting success).

        A list value in params repeats the parameter (match[]=...)."""
        query = urllib.parse.urlencode(params, doseq=True)
        status, _, body = harness.http_get(
            self.port, "/api/v1/%s%s" % (path, "?" + query if query else ""))
        try:
            doc = json.loads(body)
        except ValueError:
            raise PrometheusError("/api/v1/%s: HTTP %d, not JSON: %r"
                                  % (path, status, body[:200])) from None
        if status != 200 or doc.get("status") != "success":
            raise PrometheusError("/api/v1/%s %s: HTTP %d %s: %s"
                                  % (path, params, status,
                                     doc.get("errorType"), doc.get("error")))
        return doc["data"]

    def query(self, expr, at=None):
        """Instant query: the result list (vector) or [scalar] etc."""
        params = {"query": expr}
        if at is not None:
            params["time"] = "%.3f" % at
        data = self.api("query", **params)
        if data["resultType"] in ("vector", "matrix"):
            return data["result"]
        return [data["result"]]

    def query_range(self, expr, start, end, step):
        data = self.api("query_range", query=expr, start="%.3f" % start,
                        end="%.3f" % end, step=step)
        return data["result"]

    def label_values(self, label, match=None):
        params = {"match[]": [match]} if match else {}
        return self.api("label/%s/values" % urllib.parse.quote(label),
                        **params)

    def alerts(self):
        return self.api("alerts")["alerts"]

    def rules(self):
        """Every rule of every group (dicts of /api/v1/rules)."""
        return [r for g in self.api("rules")["groups"] for r in g["rules"]]

    def targets(self):
        return self.api("targets")["activeTargets"]
