"""The status page at fleet size: 10,000 targets, in headless chromium.

8,000 targets point at a closed port (they fail), 2,000 at aiosmtpd
(EHLO only: they pass); probes start spread over the 60 s interval, so
while the test runs some targets are failing, some ok and many not
probed yet. The page must stay small (under 1 MB, gzip'd when asked),
show the failing as cards only up to its limit and every other target
as a link in a compact list, answer ?target=, ?state= and ?q= with the
right targets, refuse a bad query, and render in chromium: a desktop and
a phone screenshot of the 10,000-target page are kept as artifacts
(status-page-fleet-*.png) and the phone one has nothing past its right
edge.
"""

import gzip
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_status_page as sp  # noqa: E402

N_TARGETS = 10000
N_OK = 2000
PAGE_MAX_BYTES = 1 << 20
FAILING_CARDS = 50  # agent/page_query.h PAGE_FAILING_CARDS
QUERY_CARDS = 100  # PAGE_QUERY_CARDS


def name_of(i):
    return "t%05d" % i


class FleetPage(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        sp.chromium_binary()
        cls.aio = cls.enterClassContext(harness.aiosmtpd(tls="none"))
        closed = harness.free_port()
        sections = []
        for i in range(N_TARGETS):
            port = cls.aio.port if i % (N_TARGETS // N_OK) == 0 else closed
            sections.append('[target "%s"]\nhost = 127.0.0.1\nport = %d\n'
                            'tls = none\n\n' % (name_of(i), port))
        cfg = ("[agent]\ninterval = 60s\ntimeout = 1s\n"
               "max_concurrent_probes = 64\nmax_per_host = 64\n\n" +
               "".join(sections))
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(), cfg, ready_timeout=60))

        def probed():
            _, samples = harness.scrape(cls.agent.port)
            done = sum(v for (n, _), v in samples.items()
                       if n == "smtp_probes_total")
            return done >= 300
        harness.wait_for(probed, 60, interval=0.5,
                         message="300 targets probed")

        cls.status, cls.headers, body = harness.http_get(cls.agent.port, "/")
        cls.page = body.decode("utf-8")
        cls.artifacts = sp.artifacts_dir()
        with open(os.path.join(cls.artifacts, "status-page-fleet.html"),
                  "w") as f:
            f.write(cls.page)
        url = "http://127.0.0.1:%d/" % cls.agent.port
        cls.shots = {}
        for shot, size in (("desktop", (1280, 2000)), ("phone", (390, 1600))):
            path = os.path.join(cls.artifacts,
                                "status-page-fleet-%s.png" % shot)
            if os.path.exists(path):
                os.unlink(path)
            sp.run_chromium(["--screenshot=" + path,
                             "--window-size=%d,%d" % size,
                             "--hide-scrollbars"], url)
            cls.shots[shot] = (path, size)
        cls.dom = sp.parse_dom(sp.run_chromium(["--dump-dom"], url))

    def get(self, path):
        status, headers, body = harness.http_get(self.agent.port, path)
        return status, headers, body.decode("utf-8")

    def counts(self, page):
        got = dict((label, int(n)) for n, label in re.findall(
            r'<span class="pill [a-z]+(?: zero)?">(\d+) ([a-z ]+)</span>',
            page))
        return got

    @staticmethod
    def cards(page):
        return re.findall(r'<article class="card ([a-z]+)" id="t-([^"]+)"',
                          page)

    @staticmethod
    def links(page):
        return re.findall(r'<a href="\?target=([^"]+)">', page)

    # --- the page without a query --------------------------------------

    def test_small_and_complete(self):
        self.assertEqual(self.status, 200)
        self.assertLess(len(self.page.encode()), PAGE_MAX_BYTES)
        counts = self.counts(self.page)
        self.assertEqual(sum(counts.values()), N_TARGETS, counts)
        self.assertGreater(counts["failing"], 0)
        # Every target is on the page exactly once: a card, or a link of
        # the compact lists (the failing list above repeats names; count
        # the cards and the lists below the cards).
        below = self.page.split("</main>", 1)[1]
        shown = [n for _, n in self.cards(self.page)] + self.links(below)
        self.assertEqual(sorted(shown),
                         [name_of(i) for i in range(N_TARGETS)])

    def test_failing_first_as_cards_up_to_the_limit(self):
        cards = self.cards(self.page)
        counts = self.counts(self.page)
        self.assertEqual(len(cards), min(FAILING_CARDS, counts["failing"]))
        self.assertTrue(all(state == "failing" for state, _ in cards))
        # The counts lead to each state's own page.
        for state in ("failing", "pending", "ok"):
            self.assertIn('<a href="?state=%s">' % state, self.page)
        self.assertIn('<form class="filter" method="get" action="/">',
                      self.page)

    def test_gzip(self):
        status, headers, body = harness.http_get(
            self.agent.port, "/", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-encoding"), "gzip")
        self.assertIn("Accept-Encoding", headers.get("vary", ""))
        text = gzip.decompress(body).decode("utf-8")
        self.assertEqual(sum(self.counts(text).values()), N_TARGETS)
        self.assertLess(len(body), len(text) // 4)
        # The query pages are gzip'd too.
        status, headers, body = harness.http_get(
            self.agent.port, "/?state=failing",
            headers={"Accept-Encoding": "gzip"})
        self.assertEqual(headers.get("content-encoding"), "gzip")
        self.assertIn("targets match", gzip.decompress(body).decode())

    # --- queries -------------------------------------------------------

    def test_one_target(self):
        for i in (0, 1, N_TARGETS - 1):
            with self.subTest(target=name_of(i)):
                status, _, page = self.get("/?target=" + name_of(i))
                self.assertEqual(status, 200)
                self.assertEqual([n for _, n in self.cards(page)],
                                 [name_of(i)])
                self.assertEqual(self.links(page.split("</main>", 1)[1]),
                                 [])
        status, _, page = self.get("/?target=t99999")
        self.assertEqual(status, 404)
        self.assertIn("No target is named <code>t99999</code>", page)
        self.assertEqual(self.cards(page), [])

    def test_state(self):
        status, _, page = self.get("/?state=failing")
        self.assertEqual(status, 200)
        m = re.search(r"(\d+) of %d targets match" % N_TARGETS, page)
        self.assertIsNotNone(m)
        matched = int(m.group(1))
        cards = self.cards(page)
        self.assertEqual(len(cards), min(matched, QUERY_CARDS))
        self.assertTrue(all(state == "failing" for state, _ in cards))
        below = self.links(page.split("</main>", 1)[1])
        self.assertEqual(len(cards) + len(below), matched)
        self.assertLess(len(page.encode()), PAGE_MAX_BYTES)

    def test_substring(self):
        status, _, page = self.get("/?q=T0012")  # case-blind
        self.assertEqual(status, 200)
        want = sorted(name_of(i) for i in range(N_TARGETS)
                      if "t0012" in name_of(i))
        got = sorted([n for _, n in self.cards(page)] +
                     self.links(page.split("</main>", 1)[1]))
        self.assertEqual(got, want)
        self.assertIn("%d of %d targets match" % (len(want), N_TARGETS),
                      page)
        # With a state: only that state's matches.
        status, _, page = self.get("/?q=t001&state=ok")
        self.assertTrue(all(state == "ok" for state, _ in self.cards(page)))

    def test_bad_queries(self):
        for query in ("?state=bogus", "?target=%3Cb%3E", "?q=%zz",
                      "?q=" + "x" * 100, "?q=%0a"):
            with self.subTest(query=query):
                status, _, text = self.get("/" + query)
                self.assertEqual(status, 400)
                # A bad %-escape is refused before the page sees it.
                self.assertTrue(text.startswith(("Bad query: ",
                                                 "Bad request")), text)
                self.assertNotIn("<", text)

    # --- chromium ------------------------------------------------------

    def test_chromium_renders_every_target(self):
        self.assertEqual(sp.squash(self.dom.find("title").text()),
                         sp.PAGE_TITLE)
        names = set(n.attrs.get("id", "")[2:]
                    for n in self.dom.find_all("article"))
        for a in self.dom.find_all("a"):
            href = a.attrs.get("href", "")
            if href.startswith("?target="):
                names.add(href[len("?target="):])
        self.assertEqual(len(names), N_TARGETS)

    def test_screenshots(self):
        for shot, (path, (w, h)) in self.shots.items():
            with self.subTest(shot=shot):
                width, height, rows = sp.read_png(path)
                self.assertEqual((width, height), (w, h))
                if shot != "phone":
                    continue
                edge = [y for y in range(height)
                        if not sp.near(rows[y][w - 1], sp.BACKGROUND)]
                self.assertEqual(edge, [], "content at the right edge in "
                                 "rows %s" % edge[:10])


if __name__ == "__main__":
    unittest.main()
