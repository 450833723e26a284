"""The status page in a real browser: Debian's chromium, headless.

An agent probes real servers (Postfix with a good and a wrong password
and an unoffered XOAUTH2, aiosmtpd asked for CRAM-MD5, a refused port),
two servers whose greeting carries markup (hostile_smtpd's
greeting_markup, and one here whose <script> would retitle the page),
and one target that is not due for an hour (never probed). Chromium
loads `/`; the test reads the DOM chromium built (--dump-dom): every
target's card, state and explanation, server text present only as text,
no element or script from a server, the title unchanged. Two
screenshots (desktop 1280x2000, phone 390x1600) are kept as artifacts in
$TEST_ARTIFACTS_DIR (default: test-artifacts/ next to the agent binary)
and checked: real PNGs, the phone one without anything past its right
edge.

Chromium runs with a 60 s deadline in its own process group, which is
killed afterwards whatever happened.
"""

import html.parser
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402
import hostile_smtpd  # noqa: E402

CHROMIUM_TIMEOUT_S = 60
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-quic"]
INTERVAL_S = 3
WRONG_PASSWORD = "fixture-wrong-pw-9"
PAGE_TITLE = "smtp-health-agent"

# A greeting whose markup would retitle the page if it ever ran, and an
# image whose onerror would too.
TITLE_SCRIPT = ("<script>document.title='pwned'</script>"
                "<img src=x onerror=\"document.title='pwned'\">")
MARKUP_SCRIPT = '<script>alert("x")</script>'

# name -> (state, class shown, what the Reply shows)
EXPECTED = {
    "pf-good": ("ok", "success", "221"),
    "pf-wrong": ("failing", "auth_failed", "535 5.7.8"),
    "pf-unoffered": ("failing", "auth_failed", "no mechanism available"),
    "aio-cram": ("failing", "unsupported_parameter", "504 5.5.4"),
    "refused": ("failing", "error: connect", "none"),
    "markup": ("failing", "rejected", "554 5.7.1 " + MARKUP_SCRIPT),
    "retitle": ("failing", "rejected", "554 5.7.1 " + TITLE_SCRIPT),
    "zz-pending": ("pending", None, None),
}
STATE_LABEL = {"ok": "ok", "failing": "failing", "pending": "not probed yet"}
# The page's colours (agent/http.c page_css), as a screenshot has them.
BACKGROUND = (0xf3, 0xf4, 0xf6)
CARD_BORDER = (0xd0, 0xd7, 0xde)
STATE_COLOURS = {"ok": (0x1a, 0x7f, 0x37), "failing": (0xc6, 0x28, 0x28)}


# --- the DOM chromium dumped -----------------------------------------------

class Node:
    def __init__(self, tag, attrs, parent):
        self.tag = tag
        self.attrs = dict(attrs)
        self.parent = parent
        self.children = []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text()
                       for c in self.children)

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def walk(self):
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.walk()

    def find_all(self, tag=None, cls=None):
        return [n for n in self.walk()
                if (tag is None or n.tag == tag) and
                (cls is None or cls in n.classes())]

    def find(self, tag=None, cls=None):
        found = self.find_all(tag, cls)
        return found[0] if found else None


class TreeBuilder(html.parser.HTMLParser):
    """Chromium's serialisation is well formed: a stack is enough."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input",
            "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.cur)
        self.cur.children.append(node)
        if tag not in self.VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse_dom(text):
    b = TreeBuilder()
    b.feed(text)
    b.close()
    return b.root


def squash(s):
    return " ".join(s.split())


def definitions(card):
    """{dt text: dd node} of a card's <dl>."""
    out, term = {}, None
    dl = card.find("dl")
    for c in dl.children if dl else []:
        if isinstance(c, Node) and c.tag == "dt":
            term = squash(c.text())
        elif isinstance(c, Node) and c.tag == "dd" and term:
            out[term] = c
    return out


# --- PNG -------------------------------------------------------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB or RGBA
    PNG, without anything outside the standard library."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != PNG_MAGIC:
        raise AssertionError("%s: not a PNG" % path)
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(
                ">I", data[pos + 8 + length:pos + 12 + length])[0]:
            raise AssertionError("%s: bad CRC in %r" % (path, kind))
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = ihdr
    if depth != 8 or colour not in (2, 6) or interlace:
        raise AssertionError("%s: unexpected PNG format %r" % (path, ihdr))
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xff
        elif ftype == 2:
            line = bytearray((a + b) & 0xff for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xff
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xff
        elif ftype != 0:
            raise AssertionError("%s: bad filter %d" % (path, ftype))
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def near(a, b, tol=3):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


# --- chromium --------------------------------------------------------------

def chromium_binary():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("chromium is not installed: run tests/setup.sh "
                         "(Debian package chromium)")


def run_chromium(args, url):
    """Runs headless chromium to completion; returns its stdout.

    Its own profile and process group; bounded by CHROMIUM_TIMEOUT_S,
    after which (and in any case at the end) the whole group is killed,
    helpers included."""
    profile = tempfile.mkdtemp(prefix="chromium-test-")
    argv = ([chromium_binary()] + CHROMIUM_FLAGS +
            ["--user-data-dir=" + profile] + list(args) + [url])
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError("chromium did not finish within %d s: %s"
                             % (CHROMIUM_TIMEOUT_S, " ".join(args)))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(profile, ignore_errors=True)
    if proc.returncode != 0:
        raise AssertionError("chromium exited with %d:\n%s"
                             % (proc.returncode, err.decode(errors="replace")
                                [-3000:]))
    return out.decode("utf-8")


def artifacts_dir():
    path = os.environ.get("TEST_ARTIFACTS_DIR") or os.path.join(
        os.path.dirname(harness.agent_binary()), "test-artifacts")
    os.makedirs(path, exist_ok=True)
    return path


class StatusPage(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        chromium_binary()  # fail early, before starting any server
        pki = harness.shared_pki()
        cls.pf = cls.enterClassContext(harness.postfix_server())
        cls.aio = cls.enterClassContext(harness.aiosmtpd(tls="starttls"))
        cls.hostile = cls.enterClassContext(
            hostile_smtpd.HostileServer(["markup=greeting_markup"], pki.dir))
        retitle_port = cls.enterClassContext(
            harness.greeting_server("554 5.7.1 " + TITLE_SCRIPT))

        st = cls.pf.ports.starttls
        pf_auth = dict(username=cls.pf.username)
        target = harness.target_ini
        cfg = ("[agent]\ninterval = %ds\ntimeout = 2500ms\n"
               "max_per_host = 16\n" % INTERVAL_S) + "".join([
            target("pf-good", st, mechanisms="PLAIN LOGIN", **pf_auth,
                   password_file="@PASSWORD_FILE@"),
            target("pf-wrong", st, mechanisms="PLAIN", **pf_auth,
                   password_env="WRONG_PASSWORD"),
            target("pf-unoffered", st, mechanisms="XOAUTH2", **pf_auth,
                   password_file="@PASSWORD_FILE@"),
            target("aio-cram", cls.aio.port, mechanisms="CRAM-MD5",
                   username=cls.aio.user, password_env="AIO_PASSWORD"),
            target("refused", harness.free_port(), tls="none"),
            target("markup", cls.hostile.ports["markup"], tls="none"),
            target("retitle", retitle_port, tls="none"),
            # Last of the list and due an hour apart: its first probe
            # comes ~50 min after the start (the scheduler spreads first
            # probes over the interval), so it stays unprobed.
            target("zz-pending", harness.free_port(), tls="none",
                   interval="1h"),
        ])
        cls.env = dict(os.environ, WRONG_PASSWORD=WRONG_PASSWORD,
                       AIO_PASSWORD=cls.aio.password)
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(), cfg, password=cls.pf.password,
            env=cls.env))
        probed = [t for t in EXPECTED if t != "zz-pending"]
        harness.wait_for(lambda: all(
            (harness.metric(harness.scrape(cls.agent.port)[1],
                            "smtp_probes_total", target=t) or 0) >= 1
            for t in probed), 4 * INTERVAL_S,
            message="every target but zz-pending probed once")

        # The same catalogue words, from --once for scripts: what each
        # card must explain.
        once = harness.run_agent_once(
            harness.agent_binary(),
            ["-c", cls.agent.config_path, "--once", "--format", "json"],
            env=cls.env)
        cls.once = {t["name"]: t for t in json.loads(once.stdout)["targets"]}

        cls.artifacts = artifacts_dir()
        url = "http://127.0.0.1:%d/" % cls.agent.port
        cls.served = harness.http_get(cls.agent.port, "/")
        with open(os.path.join(cls.artifacts, "status-page.html"), "wb") as f:
            f.write(cls.served[2])
        cls.dom_text = run_chromium(["--dump-dom"], url)
        with open(os.path.join(cls.artifacts, "status-page.dom.html"),
                  "w") as f:
            f.write(cls.dom_text)
        cls.dom = parse_dom(cls.dom_text)
        cls.shots = {}
        for name, size in (("desktop", (1280, 2000)), ("phone", (390, 1600))):
            path = os.path.join(cls.artifacts, "status-page-%s.png" % name)
            if os.path.exists(path):
                os.unlink(path)
            run_chromium(["--screenshot=" + path,
                          "--window-size=%d,%d" % size,
                          "--hide-scrollbars"], url)
            cls.shots[name] = (path, size)
        cls.pending_probes = harness.metric(
            harness.scrape(cls.agent.port)[1], "smtp_probes_total",
            target="zz-pending")

    def card(self, name):
        cards = [n for n in self.dom.find_all("article")
                 if n.attrs.get("id") == "t-" + name]
        self.assertEqual(len(cards), 1, name)
        return cards[0]

    # --- the DOM -------------------------------------------------------

    def test_no_script_ran_and_none_came_from_a_server(self):
        self.assertEqual(squash(self.dom.find("title").text()), PAGE_TITLE)
        self.assertEqual(self.dom.find_all("script"), [])
        self.assertEqual(self.dom.find_all("img"), [])
        for node in self.dom.walk():
            for attr in node.attrs:
                self.assertFalse(attr.startswith("on"),
                                 "%s has %s" % (node.tag, attr))
        self.assertNotIn("pwned", self.dom_text.replace(
            "document.title='pwned'", ""))

    def test_server_markup_shows_as_text(self):
        for name, script in (("markup", MARKUP_SCRIPT),
                             ("retitle", TITLE_SCRIPT)):
            with self.subTest(target=name):
                reply = definitions(self.card(name))["Reply"]
                self.assertIn(script, reply.text())
                self.assertEqual(reply.find_all("script"), [])
        # The served bytes carry it escaped.
        body = self.served[2].decode()
        self.assertIn("&lt;script&gt;document.title=&#39;pwned&#39;"
                      "&lt;/script&gt;", body)
        self.assertNotIn("<script", body)
        self.assertNotIn("<img", body)

    def test_headers(self):
        status, headers, _ = self.served
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        csp = headers["content-security-policy"]
        self.assertIn("default-src 'none'", csp)
        self.assertNotIn("script", csp)

    def test_refresh_and_viewport(self):
        metas = {m.attrs.get("http-equiv") or m.attrs.get("name"): m
                 for m in self.dom.find_all("meta")}
        refresh = int(metas["refresh"].attrs["content"])
        self.assertTrue(10 <= refresh <= 30, refresh)
        self.assertIn("width=device-width", metas["viewport"].attrs["content"])

    def test_every_target_has_a_card_with_its_state(self):
        self.assertEqual(self.pending_probes, 0)
        # Failing first, then not probed yet, then ok; by name in each.
        rank = {"failing": 0, "pending": 1, "ok": 2}
        ids = [n.attrs.get("id") for n in self.dom.find_all("article")]
        self.assertEqual(ids, ["t-" + t for t in sorted(
            EXPECTED, key=lambda t: (rank[EXPECTED[t][0]], t))])
        for name, (state, cls_, reply) in EXPECTED.items():
            with self.subTest(target=name):
                card = self.card(name)
                self.assertIn(state, card.classes())
                self.assertEqual(squash(card.find(cls="state").text()),
                                 STATE_LABEL[state])
                if state == "pending":
                    self.assertIsNone(card.find("dl"))
                    continue
                d = definitions(card)
                self.assertEqual(squash(d["Class"].text()), cls_)
                self.assertIn(reply, d["Reply"].text())
                self.assertRegex(squash(d["Last probe"].text()),
                                 r"^\d+ s ago \(20\d\d-\d\d-\d\d "
                                 r"\d\d:\d\d:\d\d UTC, took [0-9.]+ s\)$")

    def test_failing_cards_explain_with_the_catalogue(self):
        for name, (state, _, _) in EXPECTED.items():
            if state != "failing":
                continue
            with self.subTest(target=name):
                d = definitions(self.card(name))
                e = self.once[name]["explanation"]
                text = squash(d["Explanation"].text())
                for part in ("title", "meaning", "fix"):
                    self.assertIn(squash(e[part]), text)
                self.assertIn("Fix:", text)
                note = self.once[name]["note"]
                if note:
                    self.assertEqual(squash(d["Note"].text()), squash(note))
                else:
                    self.assertNotIn("Note", d)
        # The notes that matter at night: which mechanisms to use.
        d = definitions(self.card("aio-cram"))
        for mech in ("CRAM-MD5", "PLAIN", "LOGIN"):
            self.assertIn(mech, d["Note"].text())
        self.assertIn("XOAUTH2",
                      definitions(self.card("pf-unoffered"))["Note"].text())
        # A good target explains nothing.
        d = definitions(self.card("pf-good"))
        self.assertNotIn("Explanation", d)
        self.assertNotIn("Note", d)

    def test_good_card_facts(self):
        d = definitions(self.card("pf-good"))
        self.assertEqual(squash(d["Stage"].text()),
                         "quit (every stage passed)")
        mechs = [squash(n.text()) for n in d["Mechanisms"].find_all(
            cls="kw")]
        self.assertEqual(mechs, ["PLAIN", "LOGIN", "CRAM-MD5"])
        keywords = [squash(n.text()) for n in d["EHLO"].find_all(cls="kw")]
        self.assertIn("AUTH", keywords)
        self.assertIn("PIPELINING", keywords)
        self.assertRegex(squash(d["TLS"].text()), r"^TLSv1\.[23] \S+$")
        self.assertRegex(squash(d["Certificate"].text()),
                         r"^\d+ days left \(.*UTC, verified chain\) ?valid ?"
                         r"CN=localhost ?leaf valid from .* UTC to .* UTC; "
                         r"issuer CN=smtp-health-agent test CA; serial "
                         r"[0-9a-f]+; SHA-256 [0-9a-f]{64}$")
        auth = [squash(li.text()) for li in d["AUTH"].find_all("li")]
        self.assertEqual(len(auth), 2)
        for line in auth:
            self.assertRegex(line, r"^(PLAIN|LOGIN): 235 .* success$")
        # The summary links the failing cards.
        summary = self.dom.find(cls="failing-list")
        self.assertEqual(sorted(a.attrs["href"] for a in
                                summary.find_all("a")),
                         sorted("#t-" + t for t, v in EXPECTED.items()
                                if v[0] == "failing"))

    # --- screenshots ---------------------------------------------------

    def test_screenshots_are_real_pngs(self):
        for name, (path, (w, h)) in self.shots.items():
            with self.subTest(shot=name):
                self.assertGreater(os.path.getsize(path), 20 * 1024)
                with open(path, "rb") as f:
                    head = f.read(24)
                self.assertEqual(head[:8], PNG_MAGIC)
                self.assertEqual(head[12:16], b"IHDR")
                self.assertEqual(struct.unpack(">II", head[16:24]), (w, h))

    def test_phone_screenshot_fits_its_width(self):
        path, (w, h) = self.shots["phone"]
        width, height, rows = read_png(path)
        self.assertEqual((width, height), (w, h))
        # Nothing reaches the right edge: every row ends in page
        # background, so no card or text runs past 390 px.
        edge = [y for y in range(height) if not near(rows[y][w - 1],
                                                     BACKGROUND)]
        self.assertEqual(edge, [], "content at the right edge in rows %s"
                         % edge[:10])
        # And the cards do use the width: their right border is in the
        # last 24 px, and the states' colours show.
        border_rows = [y for y in range(height)
                       if any(near(rows[y][x], CARD_BORDER)
                              for x in range(w - 24, w - 1))]
        self.assertGreater(len(border_rows), 200)
        for state, colour in STATE_COLOURS.items():
            hits = sum(1 for y in range(0, height, 4)
                       for x in range(0, 40) if near(rows[y][x], colour))
            self.assertGreater(hits, 50, state)


if __name__ == "__main__":
    unittest.main()
