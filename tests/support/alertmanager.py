"""A real Alertmanager for tests, and amtool.

Debian's prometheus-alertmanager binary is started directly (never the
system service) on 127.0.0.1 with its own config and storage in a fresh
temp dir, clustering off:

    with alertmanager.AlertmanagerServer(config_text) as am:
        am.post_alerts([{"labels": {...}}])   # POST /api/v2/alerts
        am.alerts('job="x"')                  # GET /api/v2/alerts

config_for_test() turns an example configuration into one for a test: every
webhook goes to a local receiver, the group timers are seconds. Every wait
has a deadline; stop() sends SIGTERM, kills after a bounded wait and
removes the temp dir, so nothing is left running or on disk.
"""

import http.client
import json
import subprocess
import time
import urllib.parse

import yaml

import harness
import tempserver

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
AMTOOL = "/usr/bin/amtool"
READY_TIMEOUT = tempserver.READY_TIMEOUT
CMD_TIMEOUT = 30.0


class AlertmanagerError(AssertionError):
    pass


def amtool(*args):
    """Run amtool offline (check-config, config routes test, template
    render): (exit code, stdout, stderr)."""
    proc = subprocess.run([AMTOOL] + list(args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=CMD_TIMEOUT)
    return proc.returncode, proc.stdout, proc.stderr


def route_receivers(config_file, **labels):
    """The receivers `amtool config routes test` gives for these labels,
    in its order."""
    rc, out, err = amtool("config", "routes", "test",
                          "--config.file=" + config_file,
                          *["%s=%s" % kv for kv in labels.items()])
    if rc != 0:
        raise AlertmanagerError("amtool config routes test %s: rc %d: %s%s"
                                % (labels, rc, out, err))
    return [r.strip() for r in out.strip().split(",") if r.strip()]


_TIMERS = ("group_wait", "group_interval", "repeat_interval")


def _walk_routes(route):
    yield route
    for child in route.get("routes") or []:
        yield from _walk_routes(child)


def config_for_test(text, url_for, timers=None):
    """The Alertmanager configuration `text` made fit for a test.

    url_for(receiver name) gives the URL for each of its webhooks;
    receivers' other integrations (email, pagerduty, ...) are dropped, so
    nothing can leave the machine. timers ({"group_wait": "1s", ...})
    replace those of every route that sets one. Returns YAML text.
    """
    doc = yaml.safe_load(text)
    for recv in doc.get("receivers") or []:
        hooks = recv.get("webhook_configs") or []
        for key in [k for k in recv if k.endswith("_configs")]:
            del recv[key]
        if hooks:
            for hook in hooks:
                hook["url"] = url_for(recv["name"])
                hook.pop("url_file", None)
            recv["webhook_configs"] = hooks
    for route in _walk_routes(doc.get("route") or {}):
        for key, value in (timers or {}).items():
            if key in route or route is doc["route"]:
                route[key] = value
    doc.pop("templates", None)
    return yaml.safe_dump(doc, sort_keys=False)


def _iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%03dZ" % int((t % 1) * 1000)


class AlertmanagerServer(tempserver.TempDirServer):
    """Alertmanager as a subprocess; a context manager (start/stop).

    .port, .dir, .config_path, .log_path; .argv() is its command line.
    """

    NAME = "alertmanager"
    ERROR = AlertmanagerError

    def __init__(self, config_text, port=None, binary=ALERTMANAGER,
                 ready_timeout=READY_TIMEOUT):
        super().__init__(binary, "am-test-", "alertmanager.yml", port,
                         ready_timeout)
        self.address = "%s:%d" % (harness.LOOPBACK, self.port)
        with open(self.config_path, "w") as f:
            f.write(config_text)

    def argv(self):
        # An empty cluster address turns the gossip off: no port 9094, no
        # peers, notifications go out at once.
        return [self.binary, "--config.file=" + self.config_path,
                "--storage.path=" + self.data_dir,
                "--web.listen-address=" + self.address,
                "--cluster.listen-address=",
                "--log.level=warn"]

    # --- HTTP API v2 -----------------------------------------------------

    def _request(self, method, path, doc=None):
        conn = http.client.HTTPConnection(harness.LOOPBACK, self.port,
                                          timeout=harness.HTTP_TIMEOUT)
        try:
            body = None if doc is None else json.dumps(doc)
            headers = {"Content-Type": "application/json"} if body else {}
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def post_alerts(self, alerts, duration=300):
        """POST /api/v2/alerts. Each alert is a dict with "labels" and
        optionally "annotations"; it starts now and ends `duration`
        seconds from now unless it says otherwise."""
        now = time.time()
        out = []
        for a in alerts:
            a = dict(a)
            a.setdefault("annotations", {})
            a.setdefault("startsAt", _iso(now))
            a.setdefault("endsAt", _iso(now + duration))
            a.setdefault("generatorURL", "http://%s/test" % self.address)
            out.append(a)
        status, body = self._request("POST", "/api/v2/alerts", out)
        if status != 200:
            raise AlertmanagerError("POST /api/v2/alerts: HTTP %d: %r"
                                    % (status, body[:300]))

    def alerts(self, *matchers):
        """GET /api/v2/alerts (active, silenced and inhibited ones), with
        filter matchers such as 'job="x"'; the parsed list."""
        query = urllib.parse.urlencode([("filter", m) for m in matchers])
        status, body = self._request(
            "GET", "/api/v2/alerts" + ("?" + query if query else ""))
        if status != 200:
            raise AlertmanagerError("GET /api/v2/alerts: HTTP %d: %r"
                                    % (status, body[:300]))
        return json.loads(body)

    def alerts_raw(self):
        """GET /api/v2/alerts as bytes (to look for what must not be
        there)."""
        status, body = self._request("GET", "/api/v2/alerts")
        if status != 200:
            raise AlertmanagerError("GET /api/v2/alerts: HTTP %d" % status)
        return body
