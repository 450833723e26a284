"""/runbook: config/ALERTS.md as the agent serves it, the page each
alert's runbook_url points at (http://AGENT/runbook#<alert name in lower
case>).

One agent whose only target is a closed port: the page does not depend
on probes. GET and HEAD, gzip, the status page's headers, an element
with the id of every `- alert:` in config/alerts.yml (and of every
runbook_url's anchor there), that id on the alert's own heading, nothing
from the file as markup, and the paths around it still 404.
"""

import gzip
import html.parser
import os
import re
import socket
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
import harness  # noqa: E402

ALERTS_YML = os.path.join(harness.REPO, "config", "alerts.yml")
HTML = "text/html; charset=utf-8"
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def alert_names():
    """Every `- alert: NAME` of the rule file, in order."""
    with open(ALERTS_YML, encoding="utf-8") as f:
        text = f.read()
    return [m.strip("'\"") for m in
            re.findall(r"^\s*-\s*alert:\s*(\S+)\s*$", text, re.M)]


def runbook_anchors():
    """The anchor of every runbook_url in the rule file that points at
    /runbook (up to a quote, a space or a template's "{{")."""
    with open(ALERTS_YML, encoding="utf-8") as f:
        text = f.read()
    return re.findall(r"runbook_url:.*?/runbook#([^\"'\s{]*)", text)


class Elements(html.parser.HTMLParser):
    """Every start tag: (tag, attributes), and the ids' tags."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.ids = []
        self.id_tag = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.ids.append(attrs["id"])
            self.id_tag[attrs["id"]] = tag


class Headings(html.parser.HTMLParser):
    """Every heading: (tag, id, its text up to its self-link '#')."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.headings = []
        self.open = None  # [tag, id, text parts], while its text is read

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in HEADINGS:
            self.open = [tag, attrs.get("id"), []]
        elif (tag == "a" and self.open is not None and
              "self" in (attrs.get("class") or "").split()):
            self.end_heading()

    def handle_endtag(self, tag):
        if self.open is not None and tag == self.open[0]:
            self.end_heading()

    def handle_data(self, data):
        if self.open is not None:
            self.open[2].append(data)

    def end_heading(self):
        if self.open is not None:
            tag, id_, text = self.open
            self.headings.append((tag, id_, "".join(text)))
            self.open = None


def raw_request(port, data, timeout=8.0):
    """Bytes sent, every byte read until the server closes."""
    s = socket.create_connection((harness.LOOPBACK, port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


class Runbook(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cfg = ("[agent]\ninterval = 60s\ntimeout = 1s\n" +
               harness.target_ini("closed", harness.free_port(), tls="none"))
        cls.agent = cls.enterClassContext(harness.run_agent(
            harness.agent_binary(), cfg))
        cls.status, cls.headers, cls.body = harness.http_get(
            cls.agent.port, "/runbook")
        cls.page = cls.body.decode("utf-8")
        cls.elements = Elements()
        cls.elements.feed(cls.page)
        cls.elements.close()

    def test_answer(self):
        self.assertEqual(self.status, 200)
        self.assertEqual(self.headers.get("content-type"), HTML)
        self.assertEqual(self.headers.get("x-content-type-options"),
                         "nosniff")
        self.assertTrue(self.page.startswith("<!DOCTYPE html>\n"))
        self.assertTrue(self.page.endswith("</html>\n"))

    def test_status_page_headers(self):
        """The status page's Content-Security-Policy, word for word."""
        status, page_headers, body = harness.http_get(self.agent.port, "/")
        self.assertEqual(status, 200)
        csp = page_headers.get("content-security-policy")
        self.assertIn("default-src 'none'", csp or "")
        self.assertEqual(self.headers.get("content-security-policy"), csp)
        # And the status page links here.
        self.assertIn(b'<a href="/runbook">', body)

    def test_every_alert_has_its_section(self):
        names = alert_names()
        self.assertGreater(len(names), 0, "no `- alert:` in alerts.yml")
        for name in names:
            with self.subTest(alert=name):
                want = name.lower()
                self.assertIn(want, self.elements.ids)
                self.assertIn(self.elements.id_tag[want], HEADINGS)
        self.assertEqual(len(self.elements.ids), len(set(self.elements.ids)),
                         "ids repeat")

    def test_every_alert_anchor_is_its_heading(self):
        """#name is the alert's own "### NAME", not an earlier heading
        that took the id first (which would push the alert's to
        "name-2")."""
        headings = Headings()
        headings.feed(self.page)
        headings.close()
        for name in alert_names():
            with self.subTest(alert=name):
                want = name.lower()
                got = [(tag, text) for tag, id_, text in headings.headings
                       if id_ == want]
                self.assertEqual(got, [("h3", name)],
                                 "the element with id %r" % want)

    def test_runbook_urls_point_at_sections(self):
        for anchor in runbook_anchors():
            with self.subTest(anchor=anchor):
                self.assertIn(anchor, self.elements.ids)

    def test_nothing_runs(self):
        tags = [t for t, _ in self.elements.tags]
        for tag in ("script", "img", "iframe", "object", "embed", "form"):
            self.assertNotIn(tag, tags)
        for tag, attrs in self.elements.tags:
            for name, value in attrs.items():
                self.assertFalse(name.startswith("on"), (tag, name))
                if name == "href":
                    self.assertRegex(value, r"^(https?://|[^:/?#]*([/?#]|$))",
                                     (tag, value))
        # A link back to the status page.
        self.assertIn(("a", {"href": "/"}), self.elements.tags)

    def test_head(self):
        out = raw_request(self.agent.port, b"HEAD /runbook HTTP/1.1\r\n"
                          b"Host: x\r\nConnection: close\r\n\r\n")
        head, _, rest = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head[:40])
        self.assertEqual(rest, b"", "HEAD sent a body")
        length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
        self.assertIsNotNone(length)
        self.assertEqual(int(length.group(1)), len(self.body))
        self.assertRegex(head.decode("latin-1"),
                         r"(?im)^content-type: text/html; charset=utf-8\r?$")

    def test_gzip(self):
        status, hdrs, body = harness.http_get(
            self.agent.port, "/runbook", {"Accept-Encoding": "gzip"})
        self.assertEqual(status, 200)
        self.assertEqual(hdrs.get("content-encoding"), "gzip")
        self.assertEqual(hdrs.get("vary"), "Accept-Encoding")
        self.assertLess(len(body), len(self.body))
        self.assertEqual(gzip.decompress(body), self.body)
        # Not asked for: not sent.
        self.assertNotIn("content-encoding", self.headers)
        self.assertEqual(self.headers.get("vary"), "Accept-Encoding")

    def test_other_paths(self):
        for path in ("/runbook/", "/runbook.html", "/RUNBOOK", "/runbook/x",
                     "/runbook%23smtpauthfailing", "/runbookx"):
            with self.subTest(path=path):
                status, _, _ = harness.http_get(self.agent.port, path)
                self.assertEqual(status, 404)
        status, hdrs, _ = harness.http_get(self.agent.port, "/runbook",
                                           method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(hdrs.get("allow"), "GET, HEAD")


if __name__ == "__main__":
    unittest.main()
