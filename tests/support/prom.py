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

import json
import os
import urllib.parse

import harness
import tempserver

PROMETHEUS = "/usr/bin/prometheus"
READY_TIMEOUT = tempserver.READY_TIMEOUT


class PrometheusError(AssertionError):
    pass


class PrometheusServer(tempserver.TempDirServer):
    """Prometheus as a subprocess; a context manager (start/stop).

    .port, .dir, .config_path, .log_path; .argv() is its command line.
    """

    NAME = "prometheus"
    ERROR = PrometheusError

    def __init__(self, config_text, rule_files=None, port=None,
                 binary=PROMETHEUS, ready_timeout=READY_TIMEOUT):
        super().__init__(binary, "prom-test-", "prometheus.yml", port,
                         ready_timeout)
        for name, text in (rule_files or {}).items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        with open(self.config_path, "w") as f:
            f.write(config_text.replace("@DIR@", self.dir))

    def argv(self):
        return [self.binary, "--config.file=" + self.config_path,
                "--storage.tsdb.path=" + self.data_dir,
                "--web.listen-address=%s:%d" % (harness.LOOPBACK, self.port),
                "--log.level=warn"]

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
