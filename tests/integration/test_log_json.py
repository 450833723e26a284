"""log_format = json / --log-format json (issue 15): every line the agent
writes to stderr in a full run is one JSON object.

FullRun: an agent with log_format = json and log_level = debug probes
aiosmtpd with the right password and with a wrong one (a failed AUTH),
a target whose config draws a warning at start,
and hostile servers whose replies hold quotes, backslashes, control
bytes and bytes that are not UTF-8; it answers a /probe?module= outside
the module's allowed_targets with 403, takes a SIGHUP with a broken
config, and stops. Every stderr line is valid UTF-8 and json.loads()
into an object whose first keys are ts, level, module, msg and whose
values are all strings; a few known lines carry their fields; no form of
either password is in any line.

Switching: the flag wins over the key, at start and at reload (as
--log-level does); without the flag a reload applies a changed key.

Every server listens on 127.0.0.1 only; every wait has a deadline.
"""

import json
import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402
import hostile_smtpd  # noqa: E402

WRONG_PASSWORD = "json-log-wrong-password-0x5c"
HOSTILE = ("greeting_bytes", "greeting_markup", "garbage")

CONFIG = """
[agent]
listen = @LISTEN@
interval = 1s
timeout = 1s
log_level = debug
log_format = json

[target "aio"]
host = 127.0.0.1
port = %(aio)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN LOGIN
username = %(user)s
password_file = @PASSWORD_FILE@

[target "aio_wrong"]
host = 127.0.0.1
port = %(aio)d
server_name = localhost
ca_file = @CA_FILE@
mechanisms = PLAIN
username = %(user)s
password_env = LOG_JSON_WRONG_PW

[target "warned"]
host = 127.0.0.1
port = 1
tls = none
username = u

[module "m"]
tls = none
allowed_targets = *.example.com
"""

HOSTILE_TARGET = """
[target "%(name)s"]
host = 127.0.0.1
port = %(port)d
tls = none
"""


def parse_lines(test, raw):
    """Every line of raw (bytes) as a dict, in order; fails on the first
    that is not valid UTF-8, not JSON, not an object of strings or not
    in ts, level, module, msg order."""
    test.assertTrue(raw.endswith(b"\n"), "last line unterminated")
    out = []
    for i, line in enumerate(raw.split(b"\n")[:-1]):
        text = line.decode("utf-8")  # strict: raises on a bad byte
        obj = json.loads(text)
        test.assertIsInstance(obj, dict, "line %d" % i)
        test.assertEqual(list(obj)[:4], ["ts", "level", "module", "msg"],
                         "line %d: %s" % (i, text))
        for k, v in obj.items():
            test.assertIsInstance(v, str, "line %d key %s" % (i, k))
        test.assertRegex(obj["ts"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        test.assertIn(obj["level"], ("debug", "info", "warn", "error"))
        out.append(obj)
    return out


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class FullRun(unittest.TestCase):

    def test_every_line_is_json(self):
        aio = self.enterContext(harness.aiosmtpd(
            tls="starttls", mechanisms=("PLAIN", "LOGIN")))
        srv = self.enterContext(hostile_smtpd.HostileServer(
            list(HOSTILE), harness.shared_pki().dir))
        config = CONFIG % dict(aio=aio.port, user=aio.user)
        for name in HOSTILE:
            config += HOSTILE_TARGET % dict(name=name, port=srv.ports[name])
        env = dict(os.environ, LOG_JSON_WRONG_PW=WRONG_PASSWORD)
        agent = harness.run_agent(harness.agent_binary(), config,
                                  password=aio.password, env=env)
        self.enterContext(agent)

        def lines():
            return parse_lines(self, read_bytes(agent.stderr_path))

        def has(**fields):
            return [o for o in lines()
                    if all(o.get(k) == v for k, v in fields.items())]

        # Every target probed and failed or succeeded at least twice.
        for target in ("aio_wrong",) + HOSTILE:
            harness.wait_for(
                lambda: len(has(msg="probe failed", target=target)) >= 2,
                15, message="two failures of %s" % target)
        harness.wait_for(
            lambda: len(has(msg="probe succeeded", target="aio")) >= 2, 15,
            message="two successes of aio")

        status, _, _ = harness.http_get(
            agent.port, "/probe?module=m&target=127.0.0.1:1")
        self.assertEqual(status, 403)
        harness.wait_for(lambda: has(module="http", probe_module="m"), 5,
                         message="the 403's line")

        # A reload with an error: the old config stays.
        with open(agent.config_path) as f:
            text = f.read()
        with open(agent.config_path, "w") as f:
            f.write(text.replace("interval = 1s", "interval = soon"))
        agent.signal(signal.SIGHUP)
        harness.wait_for(
            lambda: has(msg="reload failed; the old config stays"), 10,
            message="the failed reload's line")
        self.assertEqual(agent.stop(), 0)

        raw = read_bytes(agent.stderr_path)
        objs = parse_lines(self, raw)
        self.assertGreater(len(objs), 20)
        self.assertEqual(objs[-1]["msg"], "stopping")
        self.assertIn("started", [o["msg"] for o in objs])

        started = has(msg="started")[0]
        self.assertEqual(started["module"], "main")
        self.assertEqual(started["level"], "info")
        self.assertEqual(started["listen"], agent.listen)
        self.assertEqual(started["targets"], str(3 + len(HOSTILE)))
        # The start's config warning is a log line too, before "started".
        warned = has(msg="config warning")[0]
        self.assertEqual(warned["level"], "warn")
        self.assertRegex(warned["problem"],
                         r"^%s:\d+: username: warning: ignored: no "
                         r"mechanisms$" % re.escape(agent.config_path))
        self.assertLess(objs.index(warned), objs.index(started))

        wrong = has(msg="probe failed", target="aio_wrong")[0]
        self.assertEqual(wrong["module"], "runner")
        self.assertEqual(wrong["stage"], "auth")
        self.assertEqual(wrong["code"], "535")
        self.assertEqual(wrong["class"], "auth_failed")
        self.assertRegex(wrong["duration"], r"^\d+\.\d{3}$")

        # The hostile text arrives escaped and decodes back intact: the
        # quotes and backslashes as the server sent them; its control
        # bytes and bytes past ASCII are "?" already in the reply the
        # agent keeps (smtp_reply.c), before any log sees them.
        got = has(msg="probe failed", target="greeting_bytes")[0]
        self.assertEqual(got["code"], "554")
        self.assertEqual(got["stage"], "greeting")
        self.assertEqual(got["detail"],
                         'greeting: 554 5.7.1 say "hi" C:\\dir\\ \\x41 ??? '
                         "caf?? ???( ??? end")
        markup = has(msg="probe failed", target="greeting_markup")[0]
        self.assertIn('msg="forged"', markup["detail"])
        self.assertEqual(markup["msg"], "probe failed")
        self.assertNotIn("\x1b", markup["detail"])

        refused = has(module="http", probe_module="m")[0]
        self.assertEqual(refused["level"], "warn")
        self.assertEqual(refused["remote"], "127.0.0.1")
        self.assertEqual(refused["target"], "127.0.0.1:1")

        problems = has(msg="config error")
        self.assertTrue(problems)
        self.assertRegex(problems[0]["problem"],
                         r"^%s:\d+: interval: " % re.escape(
                             agent.config_path))
        failed = has(msg="reload failed; the old config stays")[0]
        self.assertEqual(failed["level"], "error")
        self.assertEqual(failed["path"], agent.config_path)

        forms = (harness.secret_forms(aio.user, aio.password)
                 + harness.secret_forms(aio.user, WRONG_PASSWORD))
        harness.assert_no_secret(self, forms,
                                 {"stderr": raw.decode("utf-8")})
        # The JSON escapes of a form (a backslash doubled) neither.
        harness.assert_no_secret(
            self, [json.dumps(f)[1:-1] for f in forms],
            {"stderr": raw.decode("utf-8")})


IDLE = """
[agent]
listen = @LISTEN@
interval = 1h
log_format = %s

[module "idle"]
tls = none
allowed_targets = *.example.com
"""


WARNED = """
[target "w"]
host = 127.0.0.1
port = 1
tls = none
username = u
"""


class Switching(unittest.TestCase):

    def reload(self, agent, text, count):
        with open(agent.config_path, "w") as f:
            f.write(agent._substitute(text))
        agent.signal(signal.SIGHUP)
        harness.wait_for(
            lambda: agent.stderr().count("config reloaded") >= count, 10,
            message="reload %d" % count)

    def test_key_applies_at_reload(self):
        agent = self.enterContext(harness.run_agent(
            harness.agent_binary(), IDLE % "logfmt"))
        # A warning in the new file: the reload's own lines switch.
        self.reload(agent, IDLE % "json" + WARNED, 1)
        self.reload(agent, IDLE % "logfmt", 2)
        agent.stop()
        lines = agent.stderr().splitlines()
        reloads = [i for i, ln in enumerate(lines)
                   if "config reloaded" in ln]
        self.assertTrue(lines[0].startswith("ts="), lines[0])
        warned = [ln for ln in lines if "no mechanisms" in ln]
        self.assertEqual(len(warned), 1, warned)
        obj = json.loads(warned[0])
        self.assertEqual(obj["msg"], "config warning")
        self.assertEqual(obj["level"], "warn")
        self.assertRegex(obj["problem"],
                         r"^%s:\d+: username: warning: ignored: no "
                         r"mechanisms$" % re.escape(agent.config_path))
        obj = json.loads(lines[reloads[0]])
        self.assertEqual(obj["msg"], "config reloaded")
        # Back to logfmt at the second reload.
        self.assertTrue(lines[reloads[1]].startswith("ts="))
        self.assertTrue(lines[-1].startswith("ts="))

    def test_flag_wins(self):
        agent = self.enterContext(harness.run_agent(
            harness.agent_binary(), IDLE % "json",
            extra_args=["--log-format", "logfmt"]))
        self.reload(agent, IDLE % "json", 1)
        agent.stop()
        for line in agent.stderr().splitlines():
            self.assertTrue(line.startswith("ts="), line)

        agent = self.enterContext(harness.run_agent(
            harness.agent_binary(), IDLE % "logfmt",
            extra_args=["--log-format", "json"]))
        self.reload(agent, IDLE % "logfmt", 1)
        agent.stop()
        objs = parse_lines(self, read_bytes(agent.stderr_path))
        self.assertEqual(objs[-1]["msg"], "stopping")

    def test_bad_value(self):
        r = harness.run_agent_once(harness.agent_binary(),
                                   ["--log-format", "yaml", "--once"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--log-format: must be logfmt or json, not 'yaml'",
                      r.stderr)


if __name__ == "__main__":
    unittest.main()
