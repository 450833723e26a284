"""The man pages, config/man/smtp-health-agent.8 and
config/man/smtp-health-agent.ini.5, against the code: every command-line
flag of agent/main.c (its getopt tables and --help) has an entry in the
(8) page's OPTIONS and every entry there is a flag; every key of
agent/config.c's config_agent_key_names[] and config_target_key_names[]
has an entry in the (5) page's [agent], [target] or [module] section and
every entry there is a key of that table. A failure names the flag or key
and the page (and section) it is missing from. Both pages pass
`mandoc -T lint -W warning` without a word and render with mandoc and
man(1).

Runs the agent binary ($SMTP_HEALTH_AGENT) for --help only.
"""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..", ".."))
PAGE8 = os.path.join(ROOT, "config", "man", "smtp-health-agent.8")
PAGE5 = os.path.join(ROOT, "config", "man", "smtp-health-agent.ini.5")
MAIN_C = os.path.join(ROOT, "agent", "main.c")
CONFIG_C = os.path.join(ROOT, "agent", "config.c")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def c_table(source, name):
    """The strings of `const char *const NAME[] = { [X] = "key", ... };`."""
    m = re.search(r"\b%s\[\]\s*=\s*\{(.*?)\};" % re.escape(name), source,
                  re.S)
    if not m:
        raise AssertionError("agent/config.c: no table %s[]" % name)
    keys = re.findall(r'=\s*"([^"]+)"', m.group(1))
    if not keys:
        raise AssertionError("agent/config.c: %s[] holds no key" % name)
    return keys


def code_flags():
    """Flags from main.c's getopt_long tables: '--long' and '-s'."""
    src = read(MAIN_C)
    m = re.search(r"struct option longopts\[\]\s*=\s*\{(.*?)\};", src, re.S)
    if not m:
        raise AssertionError("agent/main.c: no longopts[] table")
    flags = {"--" + n for n in re.findall(r'\{\s*"([^"]+)"', m.group(1))}
    short = re.search(r'getopt_long\([^;]*?"([^"]*)"', src, re.S)
    if not short:
        raise AssertionError("agent/main.c: no getopt_long short options")
    flags |= {"-" + c for c in short.group(1) if c.isalnum()}
    return flags


FLAG_RE = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[A-Za-z])(?![\w-])")


def help_flags():
    proc = harness.run_agent_once(harness.agent_binary(), ["--help"],
                                  timeout=30)
    if proc.returncode != 0:
        raise AssertionError("--help: rc %d" % proc.returncode)
    out = proc.stdout if isinstance(proc.stdout, str) else \
        proc.stdout.decode()
    # The option list: lines that start with a flag (after indentation).
    flags = set()
    for line in out.splitlines():
        m = re.match(r"\s+((?:-[A-Za-z], )?--[a-z][a-z0-9-]*)", line)
        if m:
            flags |= set(FLAG_RE.findall(m.group(1)))
    return flags


def plain(roff):
    """A roff line's text: requests, font escapes and \\- undone."""
    text = re.sub(r"^\.[A-Z]+\s*", "", roff)
    text = re.sub(r"\\f[BIRP]|\\f\(..|\\f\[[A-Z]*\]", "", text)
    return text.replace("\\-", "-").replace('"', "")


def sections(page):
    """{'.SH title': [lines]} of a man(7) page."""
    out, cur = {}, None
    for line in page.splitlines():
        if line.startswith(".SH "):
            cur = plain(line).strip()
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return out


def tagged(lines):
    """The tag line of every .TP entry, as plain text."""
    return [plain(lines[i + 1]).strip()
            for i, line in enumerate(lines[:-1]) if line.startswith(".TP")]


def page_flags():
    opts = sections(read(PAGE8)).get("OPTIONS")
    if opts is None:
        raise AssertionError("smtp-health-agent.8: no OPTIONS section")
    flags = set()
    for tag in tagged(opts):
        found = FLAG_RE.findall(tag)
        if not found:
            raise AssertionError("smtp-health-agent.8 OPTIONS: entry %r "
                                 "names no flag" % tag)
        flags |= set(found)
    return flags


def page_keys(title_start):
    secs = sections(read(PAGE5))
    found = [t for t in secs if t.startswith(title_start)]
    if len(found) != 1:
        raise AssertionError("smtp-health-agent.ini.5: expected one section "
                             "starting %r, found %r" % (title_start, found))
    keys = [tag.split()[0] for tag in tagged(secs[found[0]])]
    dups = sorted({k for k in keys if keys.count(k) > 1})
    if dups:
        raise AssertionError("smtp-health-agent.ini.5 %s: keys given twice: "
                             "%s" % (found[0], ", ".join(dups)))
    return set(keys)


def diff_message(what, code, page, code_where, page_where):
    lines = []
    for k in sorted(code - page):
        lines.append("%s %s is in %s but not in %s"
                     % (what, k, code_where, page_where))
    for k in sorted(page - code):
        lines.append("%s %s is in %s but not in %s"
                     % (what, k, page_where, code_where))
    return "\n".join(lines)


class ManPagesInSync(unittest.TestCase):
    def test_every_flag_in_the_page_and_only_those(self):
        code = code_flags()
        self.assertIn("--check-config", code)  # the extraction works
        msg = diff_message("flag", code, page_flags(),
                           "agent/main.c's longopts[]/getopt string",
                           "config/man/smtp-health-agent.8 OPTIONS")
        if msg:
            self.fail("\n" + msg)

    def test_help_lists_every_flag_of_the_code(self):
        helped = help_flags()
        self.assertIn("--once", helped)
        msg = diff_message("flag", code_flags(), helped,
                           "agent/main.c's longopts[]/getopt string",
                           "--help's option list")
        if msg:
            self.fail("\n" + msg)

    def test_every_agent_key_in_the_page_and_only_those(self):
        code = set(c_table(read(CONFIG_C), "config_agent_key_names"))
        self.assertIn("listen", code)
        msg = diff_message("[agent] key", code, page_keys("[agent]"),
                           "agent/config.c config_agent_key_names[]",
                           "config/man/smtp-health-agent.ini.5 "
                           "'[agent] KEYS'")
        if msg:
            self.fail("\n" + msg)

    def test_every_target_key_in_the_page_and_only_those(self):
        code = set(c_table(read(CONFIG_C), "config_target_key_names"))
        self.assertIn("host", code)
        target = page_keys("[target")
        module = page_keys("[module")
        # A module documents only its own keys; the rest are a target's.
        self.assertEqual(module, {"allowed_targets"},
                         "the [module] section lists a module's own keys")
        msg = diff_message("[target]/[module] key", code, target | module,
                           "agent/config.c config_target_key_names[]",
                           "config/man/smtp-health-agent.ini.5 "
                           "'[target \"NAME\"] KEYS' or "
                           "'[module \"NAME\"] KEYS'")
        if msg:
            self.fail("\n" + msg)


class ManPagesRender(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("mandoc"):
            raise AssertionError("mandoc is missing (Debian package "
                                 "mandoc): run tests/setup.sh")

    def test_lint_clean(self):
        for page in (PAGE8, PAGE5):
            proc = subprocess.run(["mandoc", "-T", "lint", "-W", "warning",
                                   page], capture_output=True, text=True,
                                  timeout=30)
            self.assertEqual((proc.returncode, proc.stdout + proc.stderr),
                             (0, ""), page)

    def test_renders(self):
        for page, name, needle in (
                (PAGE8, "SMTP-HEALTH-AGENT(8)", "EXIT STATUS"),
                (PAGE5, "SMTP-HEALTH-AGENT.INI(5)", "allowed_targets")):
            proc = subprocess.run(["mandoc", "-T", "ascii", page],
                                  capture_output=True, text=True,
                                  timeout=30)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            text = re.sub(r".\x08", "", proc.stdout)
            self.assertTrue(text.startswith(name), text[:200])
            self.assertIn(needle, text)
            if shutil.which("man"):
                env = dict(os.environ, MANWIDTH="80")
                proc = subprocess.run(["man", "-l", "-P", "cat", page],
                                      capture_output=True, text=True,
                                      timeout=60, env=env)
                self.assertEqual((proc.returncode, proc.stderr), (0, ""),
                                 page)
                self.assertIn(needle, re.sub(r".\x08", "", proc.stdout))


if __name__ == "__main__":
    unittest.main()
