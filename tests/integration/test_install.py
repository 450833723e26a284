"""`cmake --install` lays out the usual places, and the systemd unit it
installs is sound and hardened.

Installs the build of $SMTP_HEALTH_AGENT (its directory is the CMake build
directory) with `DESTDIR=TMP cmake --install BUILD --prefix /usr` and
checks the whole set of files: the binary in /usr/sbin, the sample config
as /etc/smtp-health-agent/agent.ini, the unit in /usr/lib/systemd/system
with ExecStart= on /usr/sbin, the man pages, the dashboards and the alert
rules with their runbook; a second install keeps an edited agent.ini.

Then the unit: `systemd-analyze security --offline=true` scores it at most
2.0 (the source unit and the installed one), and `systemd-analyze verify`
reports nothing on the installed unit (its binary paths pointed at the
DESTDIR, the only change), while it does report a broken copy. Skipped
only when systemd-analyze is absent.
"""

import glob
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..", ".."))
UNIT = "smtp-health-agent.service"
MAX_EXPOSURE = 2.0


def build_dir():
    d = os.path.dirname(harness.agent_binary())
    if not os.path.exists(os.path.join(d, "CMakeCache.txt")):
        raise AssertionError("%s is not a CMake build directory (the "
                             "agent's directory must be)" % d)
    return d


def cmake_install(destdir):
    env = dict(os.environ, DESTDIR=destdir)
    return subprocess.run(["cmake", "--install", build_dir(), "--prefix",
                           "/usr"], env=env, capture_output=True, text=True,
                          timeout=120)


def read_bytes(path):
    """The file's bytes; a .gz file's uncompressed (man pages and the
    changelog are installed compressed, as Debian wants them)."""
    with open(path, "rb") as f:
        data = f.read()
    return gzip.decompress(data) if path.endswith(".gz") else data


def expected_files():
    """What the install must hold, relative to DESTDIR: source or None."""
    files = {
        "usr/sbin/smtp-health-agent": None,
        "etc/smtp-health-agent/agent.ini": "config/agent.ini",
        "usr/lib/systemd/system/" + UNIT: None,
        "usr/share/man/man8/smtp-health-agent.8.gz":
            "config/man/smtp-health-agent.8",
        "usr/share/man/man5/smtp-health-agent.ini.5.gz":
            "config/man/smtp-health-agent.ini.5",
        "usr/share/doc/smtp-health-agent/copyright":
            "config/package/copyright",
        "usr/share/doc/smtp-health-agent/changelog.gz":
            "config/package/changelog",
        "usr/share/smtp-health-agent/alerts/alerts.yml": "config/alerts.yml",
        "usr/share/smtp-health-agent/alerts/ALERTS.md": "config/ALERTS.md",
    }
    for path in glob.glob(os.path.join(ROOT, "dashboards", "*.json")):
        name = os.path.basename(path)
        files["usr/share/smtp-health-agent/dashboards/" + name] = \
            "dashboards/" + name
    return files


def setUpModule():
    global DEST, TMP
    TMP = tempfile.TemporaryDirectory(prefix="sha-install-")
    DEST = os.path.join(TMP.name, "root")
    proc = cmake_install(DEST)
    if proc.returncode != 0:
        raise AssertionError("cmake --install: rc %d\n%s%s"
                             % (proc.returncode, proc.stdout, proc.stderr))


def tearDownModule():
    TMP.cleanup()


class InstallLayout(unittest.TestCase):
    def test_exactly_the_expected_files(self):
        found = set()
        for d, _, names in os.walk(DEST):
            for n in names:
                found.add(os.path.relpath(os.path.join(d, n), DEST))
        want = expected_files()
        self.assertTrue(any("/dashboards/" in p for p in want))
        self.assertEqual(sorted(found - set(want)), [], "installed, "
                         "not expected")
        self.assertEqual(sorted(set(want) - found), [], "expected, "
                         "not installed")
        for rel, src in want.items():
            if src:
                self.assertEqual(read_bytes(os.path.join(DEST, rel)),
                                 read_bytes(os.path.join(ROOT, src)), rel)
            mode = os.stat(os.path.join(DEST, rel)).st_mode & 0o7777
            self.assertEqual(mode, 0o755 if rel.endswith("sbin/"
                             "smtp-health-agent") else 0o644,
                             "%s mode %o" % (rel, mode))

    def test_installed_binary_runs(self):
        proc = harness.run_agent_once(
            os.path.join(DEST, "usr/sbin/smtp-health-agent"), ["--version"],
            timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(proc.stdout.startswith("smtp-health-agent "))

    def test_unit_runs_the_installed_binary_and_reloads_by_sighup(self):
        with open(os.path.join(DEST, "usr/lib/systemd/system", UNIT)) as f:
            unit = f.read()
        execs = re.findall(r"^(ExecStart\S*)=(\S+)", unit, re.M)
        self.assertEqual(execs, [("ExecStartPre", "/usr/sbin/smtp-health-"
                                  "agent"),
                                 ("ExecStart", "/usr/sbin/smtp-health-agent")])
        self.assertIn("\nExecReload=/bin/kill -HUP $MAINPID\n", unit)
        self.assertNotIn("/usr/local", unit)

    def test_second_install_keeps_an_edited_config(self):
        ini = os.path.join(DEST, "etc/smtp-health-agent/agent.ini")
        with open(ini, "a") as f:
            f.write("; edited by the operator\n")
        edited = read_bytes(ini)
        proc = cmake_install(DEST)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(read_bytes(ini), edited)
        self.assertIn("Kept: ", proc.stdout)


class SystemdUnit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("systemd-analyze"):
            raise unittest.SkipTest("systemd-analyze is absent (Debian "
                                    "package systemd): unit not checked")

    def exposure(self, path):
        proc = subprocess.run(["systemd-analyze", "security",
                               "--offline=true", path],
                              capture_output=True, text=True, timeout=120)
        m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) ",
                      proc.stdout)
        self.assertIsNotNone(m, proc.stdout[-500:] + proc.stderr)
        return float(m.group(1))

    def test_security_score(self):
        for path in (os.path.join(ROOT, "config", UNIT),
                     os.path.join(DEST, "usr/lib/systemd/system", UNIT)):
            score = self.exposure(path)
            sys.stderr.write("\n%s: exposure %.1f\n" % (path, score))
            self.assertLessEqual(score, MAX_EXPOSURE, path)

    def test_security_score_sees_a_weakened_unit(self):
        with open(os.path.join(ROOT, "config", UNIT)) as f:
            unit = f.read()
        weak = "\n".join(line for line in unit.splitlines()
                         if not line.startswith(("Protect", "Private",
                                                 "Restrict", "SystemCall",
                                                 "Capability")))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, UNIT)
            with open(path, "w") as f:
                f.write(weak + "\n")
            self.assertGreater(self.exposure(path), MAX_EXPOSURE)

    def verify(self, unit_text):
        # The installed unit with its binary paths led into the DESTDIR:
        # verify checks that every Exec command exists and is executable.
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, UNIT)
            with open(path, "w") as f:
                f.write(unit_text.replace(
                    "/usr/sbin/smtp-health-agent",
                    os.path.join(DEST, "usr/sbin/smtp-health-agent")))
            # Its Documentation= man pages are looked up in the DESTDIR's.
            env = dict(os.environ,
                       MANPATH=os.path.join(DEST, "usr/share/man"))
            return subprocess.run(["systemd-analyze", "verify", path],
                                  capture_output=True, text=True,
                                  timeout=120, env=env)

    def test_verify_installed_unit(self):
        with open(os.path.join(DEST, "usr/lib/systemd/system", UNIT)) as f:
            unit = f.read()
        proc = self.verify(unit)
        self.assertEqual((proc.returncode, proc.stdout + proc.stderr),
                         (0, ""))
        broken = unit.replace("ProtectClock=yes", "ProtectClok=yes")
        self.assertNotEqual(broken, unit)
        proc = self.verify(broken)
        self.assertIn("Unknown key 'ProtectClok'", proc.stderr)


if __name__ == "__main__":
    unittest.main()
