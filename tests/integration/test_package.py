"""The Debian package, built from the tree and installed on this machine.

`cpack -G DEB` with the build of $SMTP_HEALTH_AGENT (its directory is the
CMake build directory) makes the package; the test then checks it as an
operator would meet it:

- its control data: Depends names the Debian package of every shared
  library the binary needs (from dpkg-shlibdeps) plus adduser and
  ca-certificates, and /etc/smtp-health-agent/agent.ini is a conffile;
- `lintian`: no error and no warning;
- `dpkg -i`: the files, the system user and group, and
  /etc/smtp-health-agent as root:smtp-health-agent 0750;
- the unit as the package installs it: `systemd-analyze verify` says
  nothing, `systemd-analyze security` scores it at most 2.0;
- the installed binary, run as the service user: `--check-config` on the
  installed sample fails on the missing password file (naming it), then
  passes once the operator puts it there root:smtp-health-agent 0640 (a
  file nobody else can read); `--once` against the test Postfix (AUTH
  235); a daemon reloads on SIGHUP and still reads its password file;
- a second `dpkg -i` keeps an edited agent.ini;
- `dpkg --purge`: nothing of the package is left, nor the user, the
  group, the statoverride or /etc/smtp-health-agent.

It installs system-wide, so it needs root, and it refuses to touch a
machine where the package or a user of that name already exists.
"""

import grp
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

PKG = "smtp-health-agent"
USER = "smtp-health-agent"
ETC = "/etc/smtp-health-agent"
BIN = "/usr/sbin/smtp-health-agent"
UNIT = "/usr/lib/systemd/system/smtp-health-agent.service"
MAX_EXPOSURE = 2.0
# What the test itself puts in ETC (as an operator would), removed before
# the purge.
OWN_FILES = ("mx1.secret", "pkgtest.ini", "pkgtest.secret", "pkgtest-ca.pem")


def run(argv, timeout=120, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL,
                          **kwargs)


def read_text(path):
    with open(path) as f:
        return f.read()


def user_argv(user, argv):
    """argv run as user and its groups; setpriv execs, so the pid is the
    agent's own (signals reach it)."""
    return ["setpriv", "--reuid=" + user, "--regid=" + user,
            "--init-groups", "--"] + argv


def as_user(user, argv, timeout=60):
    return run(user_argv(user, argv), timeout=timeout)


def installed():
    proc = run(["dpkg-query", "-W", "-f=${Status}", PKG])
    return proc.returncode == 0 and "installed" in proc.stdout.split()


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def build_dir():
    d = os.path.dirname(harness.agent_binary())
    if not os.path.exists(os.path.join(d, "CPackConfig.cmake")):
        raise AssertionError("%s has no CPackConfig.cmake (the agent's "
                             "directory must be its CMake build "
                             "directory)" % d)
    return d


def needed_libraries(binary):
    out = run(["readelf", "-d", binary]).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def owning_package(soname):
    """The Debian package (without :arch) that holds soname's file."""
    path = None
    for line in run(["ldconfig", "-p"]).stdout.splitlines():
        m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
        if m and m.group(1) == soname and "x86-64" in m.group(2):
            path = m.group(3)
            break
    if path is None:
        raise AssertionError("ldconfig does not know %s" % soname)
    for candidate in (path, os.path.realpath(path),
                      "/usr" + path if path.startswith("/lib") else path):
        proc = run(["dpkg", "-S", candidate])
        if proc.returncode == 0:
            return proc.stdout.split(":")[0].strip()
    raise AssertionError("no package holds %s (%s)" % (soname, path))


def remove_own_files():
    for name in OWN_FILES:
        try:
            os.unlink(os.path.join(ETC, name))
        except FileNotFoundError:
            pass


def setUpModule():
    global TMP, DEB, INSTALLED_BY_US
    INSTALLED_BY_US = False
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root: dpkg -i installs system-wide")
    for tool in ("cpack", "dpkg-shlibdeps", "lintian", "setpriv"):
        if not shutil.which(tool):
            raise AssertionError("%s is missing (tests/setup.sh installs "
                                 "it)" % tool)
    if installed() or user_exists(USER) or group_exists(USER) \
            or os.path.exists(ETC):
        raise unittest.SkipTest("%s (package, user, group or %s) is "
                                "already on this machine: not touched"
                                % (PKG, ETC))
    TMP = tempfile.TemporaryDirectory(prefix="sha-package-")
    proc = run(["cpack", "-G", "DEB", "--config",
                os.path.join(build_dir(), "CPackConfig.cmake"),
                "-B", TMP.name], timeout=300)
    if proc.returncode != 0:
        raise AssertionError("cpack: rc %d\n%s%s" % (
            proc.returncode, proc.stdout, proc.stderr))
    debs = [os.path.join(TMP.name, n) for n in os.listdir(TMP.name)
            if n.endswith(".deb")]
    if len(debs) != 1:
        raise AssertionError("cpack made %r" % debs)
    DEB = debs[0]


def tearDownModule():
    if INSTALLED_BY_US:
        remove_own_files()
        if installed():
            run(["dpkg", "--purge", PKG])
    if "TMP" in globals():
        TMP.cleanup()


def install():
    global INSTALLED_BY_US
    INSTALLED_BY_US = True
    return run(["dpkg", "-i", DEB],
               env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


class Package(unittest.TestCase):
    """One test: the steps depend on each other (install, use, purge)."""

    maxDiff = None

    def control(self, field):
        proc = run(["dpkg-deb", "-f", DEB, field])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout.strip()

    def check_control(self):
        self.assertEqual(self.control("Package"), PKG)
        depends = {re.split(r"[ (]", d.strip())[0]
                   for d in self.control("Depends").split(",")}
        want = {owning_package(lib)
                for lib in needed_libraries(harness.agent_binary())}
        want = {w.split(":")[0] for w in want}
        self.assertTrue({"libcurl4", "libmicrohttpd12", "libssl3"} <= want,
                        want)
        want |= {"adduser", "ca-certificates"}
        self.assertEqual(sorted(want - depends), [], "missing from Depends")
        with tempfile.TemporaryDirectory() as d:
            proc = run(["dpkg-deb", "-e", DEB, d])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(os.path.join(d, "conffiles")) as f:
                self.assertEqual(f.read().split(),
                                 [ETC + "/agent.ini"])
            for script in ("postinst", "prerm", "postrm"):
                mode = os.stat(os.path.join(d, script)).st_mode & 0o777
                self.assertEqual(mode, 0o755, script)

    def check_lintian(self):
        proc = run(["lintian", DEB], timeout=300)
        tags = [line for line in proc.stdout.splitlines()
                if re.match(r"[EW]: ", line)]
        self.assertEqual(tags, [], "lintian errors or warnings")

    def check_installed_files(self):
        proc = run(["dpkg-query", "-L", PKG])
        files = sorted(p for p in proc.stdout.split()
                       if os.path.isfile(p))
        self.assertEqual(files, sorted([
            ETC + "/agent.ini", UNIT, BIN,
            "/usr/share/doc/smtp-health-agent/changelog.gz",
            "/usr/share/doc/smtp-health-agent/copyright",
            "/usr/share/man/man5/smtp-health-agent.ini.5.gz",
            "/usr/share/man/man8/smtp-health-agent.8.gz",
            "/usr/share/smtp-health-agent/alerts/ALERTS.md",
            "/usr/share/smtp-health-agent/alerts/alerts.yml",
            "/usr/share/smtp-health-agent/dashboards/smtp-health-agent.json",
        ]))
        self.assertEqual(os.stat(BIN).st_mode & 0o7777, 0o755)
        proc = run([BIN, "--version"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(proc.stdout.startswith("smtp-health-agent "))
        # The man pages are readable by man (gzip).
        if shutil.which("man"):
            proc = run(["man", "-P", "cat", "8", "smtp-health-agent"],
                       env=dict(os.environ, MANWIDTH="80"))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("--check-config", proc.stdout)

    def check_user(self):
        pw = pwd.getpwnam(USER)
        gr = grp.getgrnam(USER)
        self.assertLess(pw.pw_uid, 1000, "a system user")
        self.assertEqual(pw.pw_gid, gr.gr_gid)
        self.assertEqual(pw.pw_shell, "/usr/sbin/nologin")
        self.assertFalse(os.path.exists(pw.pw_dir), pw.pw_dir)
        self.assertEqual(gr.gr_mem, [], "nobody else in the group")
        st = os.stat(ETC)
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)),
                         (0, gr.gr_gid, 0o750))
        proc = run(["dpkg-statoverride", "--list", ETC])
        self.assertEqual(proc.stdout.split(),
                         ["root", USER, "750", ETC])

    def check_unit(self):
        if not shutil.which("systemd-analyze"):
            self.fail("systemd-analyze is missing (tests/setup.sh "
                      "installs systemd)")
        proc = run(["systemd-analyze", "verify", UNIT])
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        noise = [line for line in (proc.stdout + proc.stderr).splitlines()
                 if UNIT in line or "smtp-health-agent" in line]
        self.assertEqual(noise, [])
        proc = run(["systemd-analyze", "security", "--offline=true", UNIT])
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)",
                      proc.stdout + proc.stderr)
        self.assertIsNotNone(m, proc.stdout + proc.stderr)
        self.assertLessEqual(float(m.group(1)), MAX_EXPOSURE, m.group(0))
        with open(UNIT) as f:
            unit = f.read()
        self.assertIn("\nExecStart=%s -c %s/agent.ini\n" % (BIN, ETC), unit)
        self.assertIn("\nExecReload=/bin/kill -HUP $MAINPID\n", unit)
        self.assertIn("\nUser=%s\n" % USER, unit)

    def put_secret(self, name, value):
        """As the README says: root's, the agent's group, 0640."""
        path = os.path.join(ETC, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
        os.chown(path, 0, grp.getgrnam(USER).gr_gid)
        os.chmod(path, 0o640)
        return path

    def check_sample_config(self):
        sample = ETC + "/agent.ini"
        proc = as_user(USER, [BIN, "-c", sample, "--check-config"])
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertRegex(proc.stderr, r"%s:\d+: password_file: cannot read "
                         r"%s/mx1\.secret" % (re.escape(sample),
                                              re.escape(ETC)))
        secret = "pkg-sample-Secret-1"
        self.put_secret("mx1.secret", secret)
        proc = as_user(USER, [BIN, "-c", sample, "--check-config"])
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertNotIn("warning", proc.stdout + proc.stderr)
        self.assertNotIn(secret, proc.stdout + proc.stderr)
        # Nobody else can read it, nor list the directory.
        for argv in (["cat", ETC + "/mx1.secret"], ["ls", ETC]):
            proc = as_user("nobody", argv)
            self.assertNotEqual(proc.returncode, 0, argv)
            self.assertNotIn(secret, proc.stdout)

    def check_probe(self, pf):
        shutil.copyfile(harness.shared_pki().ca.cert,
                        os.path.join(ETC, "pkgtest-ca.pem"))
        os.chmod(os.path.join(ETC, "pkgtest-ca.pem"), 0o644)
        secret_path = self.put_secret("pkgtest.secret", pf.password)
        port = harness.free_port()
        ini = os.path.join(ETC, "pkgtest.ini")
        with open(ini, "w") as f:
            f.write("[agent]\nlisten = 127.0.0.1:%d\ninterval = 2s\n"
                    "timeout = 2s\nca_file = %s/pkgtest-ca.pem\n\n"
                    "[target \"pf\"]\nhost = 127.0.0.1\nport = %d\n"
                    "server_name = localhost\nmechanisms = PLAIN\n"
                    "username = %s\npassword_file = %s\n"
                    % (port, ETC, pf.ports.starttls, pf.username,
                       secret_path))
        os.chmod(ini, 0o644)
        forms = harness.secret_forms(pf.username, pf.password)
        proc = as_user(USER, [BIN, "-c", ini, "--once", "--format", "json"])
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        (t,) = json.loads(proc.stdout)["targets"]
        self.assertEqual((t["name"], t["success"], t["code"]),
                         ("pf", True, 221))
        self.assertEqual([(a["mechanism"], a["code"], a["class"])
                          for a in t["auth"]], [("PLAIN", 235, "success")])
        self.assertIs(t["tls"]["cert_valid"], True)
        harness.assert_no_secret(self, forms, {"once": proc.stdout +
                                               proc.stderr})
        # The daemon as the service user: a probe, SIGHUP, still probing
        # with the password file read again.
        log = os.path.join(TMP.name, "daemon.log")
        with open(log, "w") as out:
            daemon = subprocess.Popen(
                user_argv(USER, [BIN, "-c", ini]),
                stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        try:
            def successes():
                try:
                    _, s = harness.scrape(port)
                except (OSError, AssertionError):
                    return 0
                return harness.metric(s, "smtp_auth_results_total",
                                      target="pf", mechanism="PLAIN",
                                      **{"class": "success"}) or 0
            harness.wait_for(lambda: successes() >= 1, 20)
            before = successes()
            daemon.send_signal(signal.SIGHUP)
            harness.wait_for(lambda: "config reloaded" in read_text(log),
                             10)
            harness.wait_for(lambda: successes() >= before + 2, 20)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=20)
        with open(log) as f:
            text = f.read()
        self.assertNotRegex(text, r"(?i)warn")
        harness.assert_no_secret(self, forms, {"daemon log": text})

    def check_conffile_kept(self):
        sample = ETC + "/agent.ini"
        with open(sample, "a") as f:
            f.write("; edited by the operator\n")
        with open(sample, "rb") as f:
            edited = f.read()
        proc = install()
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        with open(sample, "rb") as f:
            self.assertEqual(f.read(), edited)

    def check_purge(self, files):
        remove_own_files()
        proc = run(["dpkg", "--purge", PKG])
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertFalse(installed())
        left = [p for p in files if os.path.lexists(p)
                and not os.path.isdir(p)]
        self.assertEqual(left, [], "files left after purge")
        self.assertFalse(os.path.exists(ETC), ETC)
        self.assertFalse(user_exists(USER), "user left")
        self.assertFalse(group_exists(USER), "group left")
        proc = run(["dpkg-statoverride", "--list", ETC])
        self.assertEqual(proc.stdout.strip(), "")
        self.assertEqual([n for n in os.listdir("/var/lib/dpkg/info")
                          if n.startswith(PKG + ".")], [])

    def test_package(self):
        self.check_control()
        self.check_lintian()
        proc = install()
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.check_installed_files()
        files = run(["dpkg-query", "-L", PKG]).stdout.split()
        self.check_user()
        self.check_unit()
        self.check_sample_config()
        with harness.postfix_server() as pf:
            self.check_probe(pf)
        self.check_conffile_kept()
        self.check_purge(files)


if __name__ == "__main__":
    unittest.main()
