"""Throwaway test PKI: a CA and server certificates made with `openssl`.

The integration tests need certificates whose facts they know in advance
(issuer, names, notAfter) so that the agent's TLS metrics can be checked
exactly. Everything is made with the `openssl` command line, because that
is what every Debian machine has, and cached inside the target directory so
that repeated calls (one per test) cost nothing.

Usage:
    pki = certs.ensure("/tmp/x")      # idempotent, safe across processes
    pki.server.cert, pki.server.key   # "localhost", signed by pki.ca
    certs.not_after(pki.server.cert)  # == certs.SERVER_NOT_AFTER_TS

Made certificates (all EC P-256, fast to generate, accepted everywhere):
    ca          self-signed CA, the trust anchor the tests hand to the agent
    server      CN/SAN localhost, 127.0.0.1, ::1; notAfter SERVER_NOT_AFTER
    selfsigned  same names, self-signed (untrusted by any CA file)
    expired     same names, signed by ca, valid 2020-01-01..2021-01-01
    wronghost   SAN DNS:wrong.example only, signed by ca
    soon        same names as server, signed by ca, expires in SOON_DAYS days
                (an "expiring soon" certificate for the expiry alerts)

ensure_chains(pki) makes, beside them, the chains of issue 14 (class
Chains): an intermediate, an expired cross-sign that no verified path
uses, an expiring intermediate and a not-yet-valid leaf.
"""

import calendar
import contextlib
import fcntl
import os
import subprocess
import sys
import time

# A fixed, far notAfter so that tests can compare the exported expiry
# timestamp with a constant instead of "now + N days, give or take".
SERVER_NOT_AFTER = "20400101000000Z"
SERVER_NOT_AFTER_TS = calendar.timegm((2040, 1, 1, 0, 0, 0))
EXPIRED_NOT_BEFORE = "20200101000000Z"
EXPIRED_NOT_AFTER = "20210101000000Z"
EXPIRED_NOT_AFTER_TS = calendar.timegm((2021, 1, 1, 0, 0, 0))
SOON_DAYS = 10
LOCAL_SAN = "DNS:localhost,IP:127.0.0.1,IP:::1"
WRONG_HOST = "wrong.example"

# Bump when the set or the content of the certificates changes, so that a
# cached directory made by an older version is rebuilt.
_VERSION = "1"
_STAMP = "certs.done"
_OPENSSL_TIMEOUT = 30

# Our own minimal openssl config, so that the system openssl.cnf (which
# differs between distributions) adds nothing we did not ask for.
_OPENSSL_CNF = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
default_ca = testca
[ testca ]
dir = {dir}
database = {dir}/ca.index
serial = {dir}/ca.serial
new_certs_dir = {dir}/ca.newcerts
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {local_san}
[ v3_wronghost ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:{wrong_host}
[ v3_self ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = {local_san}
"""


class Pair:
    """A certificate and its private key, as two PEM file paths."""

    def __init__(self, directory, name):
        self.name = name
        self.cert = os.path.join(directory, name + ".pem")
        self.key = os.path.join(directory, name + ".key")

    def __repr__(self):
        return "Pair(%r)" % self.cert


class Pki:
    """Paths of every certificate made by ensure()."""

    NAMES = ("ca", "server", "selfsigned", "expired", "wronghost", "soon")

    def __init__(self, directory):
        self.dir = directory
        for name in self.NAMES:
            setattr(self, name, Pair(directory, name))

    def pairs(self):
        return [getattr(self, name) for name in self.NAMES]


def _openssl(args, cwd):
    """Run openssl; on failure raise with its stderr (it says why)."""
    proc = subprocess.run(
        ["openssl"] + args,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=_OPENSSL_TIMEOUT,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            "openssl %s failed (%d): %s"
            % (" ".join(args[:2]), proc.returncode, proc.stderr.strip())
        )
    return proc.stdout


def _new_key(path, cwd):
    _openssl(
        ["genpkey", "-algorithm", "EC", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-out", path],
        cwd,
    )
    os.chmod(path, 0o600)


def _csr_for_key(key, cn, out, cnf, cwd):
    _openssl(["req", "-new", "-config", cnf, "-key", key,
              "-subj", "/CN=" + cn, "-out", out], cwd)
    return out


def _csr(pair, cn, cnf, cwd):
    _new_key(pair.key, cwd)
    return _csr_for_key(pair.key, cn, pair.cert + ".csr", cnf, cwd)


def _sign(issuer, pair, csr, ext, cnf, cwd, dates):
    """Sign csr into pair.cert with issuer's key, then remove csr.

    `openssl ca` (the database that _ca_dir() makes) rather than
    `openssl x509 -req`: in OpenSSL 3.0 only it accepts explicit
    -startdate/-enddate, which the expired and the fixed notAfter
    certificates need."""
    _openssl(
        ["ca", "-batch", "-notext", "-config", cnf, "-extensions", ext,
         "-cert", issuer.cert, "-keyfile", issuer.key,
         "-in", csr, "-out", pair.cert] + dates,
        cwd,
    )
    os.unlink(csr)


def _issue(issuer, pair, cn, ext, cnf, cwd, dates):
    """A new key and a certificate for cn in pair, signed by issuer."""
    _sign(issuer, pair, _csr(pair, cn, cnf, cwd), ext, cnf, cwd, dates)


def _self_signed(pair, cn, ext, cnf, cwd, days):
    _new_key(pair.key, cwd)
    _openssl(
        ["req", "-new", "-x509", "-config", cnf, "-key", pair.key,
         "-subj", "/CN=" + cn, "-days", str(days), "-extensions", ext,
         "-out", pair.cert],
        cwd,
    )


def _ca_dir(d, serial):
    """Our openssl.cnf and an empty `openssl ca` database in d, the next
    serial number `serial` (hex); returns the config's path."""
    os.makedirs(os.path.join(d, "ca.newcerts"), exist_ok=True)
    cnf = os.path.join(d, "openssl.cnf")
    with open(cnf, "w") as f:
        f.write(_OPENSSL_CNF.format(dir=d, local_san=LOCAL_SAN,
                                    wrong_host=WRONG_HOST))
    with open(os.path.join(d, "ca.index"), "w"):
        pass
    with open(os.path.join(d, "ca.serial"), "w") as f:
        f.write(serial + "\n")
    return cnf


def _bundle(out, parts):
    """The PEM files `parts`, in order, as one file `out`."""
    with open(out, "w") as f:
        for part in parts:
            with open(part) as p:
                f.write(p.read())


def _generate(pki):
    """Make every certificate from scratch inside pki.dir."""
    d = pki.dir
    cnf = _ca_dir(d, "1000")

    _self_signed(pki.ca, "smtp-health-agent test CA", "v3_ca", cnf, d,
                 days=36500)
    _issue(pki.ca, pki.server, "localhost", "v3_server", cnf, d,
           ["-startdate", "20200101000000Z", "-enddate", SERVER_NOT_AFTER])
    _issue(pki.ca, pki.expired, "localhost", "v3_server", cnf, d,
           ["-startdate", EXPIRED_NOT_BEFORE, "-enddate", EXPIRED_NOT_AFTER])
    _issue(pki.ca, pki.wronghost, WRONG_HOST, "v3_wronghost", cnf, d,
           ["-startdate", "20200101000000Z", "-enddate", SERVER_NOT_AFTER])
    _issue(pki.ca, pki.soon, "localhost", "v3_server", cnf, d,
           ["-days", str(SOON_DAYS)])
    _self_signed(pki.selfsigned, "localhost", "v3_self", cnf, d, days=3650)


def _cache_valid(pki):
    """The cache holds if this version made it and "soon" is still soon.

    "soon" is relative to now; a directory kept for days would otherwise
    hand out a certificate that expires today or already has.
    """
    stamp = os.path.join(pki.dir, _STAMP)
    try:
        with open(stamp) as f:
            if f.read().strip() != _VERSION:
                return False
    except FileNotFoundError:
        return False
    if not all(os.path.exists(p.cert) and os.path.exists(p.key)
               for p in pki.pairs()):
        return False
    left = not_after(pki.soon.cert) - time.time()
    return left > (SOON_DAYS - 1) * 86400


def ensure(directory):
    """Make (or reuse) the test PKI in `directory`; return a Pki.

    An flock on a file in the directory lets parallel test processes share
    one directory: the first one generates, the others wait and reuse.
    """
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    pki = Pki(directory)
    with open(os.path.join(directory, "certs.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _cache_valid(pki):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, _STAMP))
            _generate(pki)
            with open(os.path.join(directory, _STAMP), "w") as f:
                f.write(_VERSION + "\n")
    return pki


# --- chains (issue 14): what the verified path uses and what it does not --

# Kept beside the shared PKI, in their own directory with their own stamp,
# lock and `openssl ca` database: making them never regenerates (or
# touches) the CA other tests are using at the same time. They are signed
# by that CA, so the stamp names its fingerprint: a new CA, new chains.
_CHAINS_VERSION = "2"
# The cross-sign that is about to expire (not yet expired): the case the
# presented chain's figure paged for.
CROSS_SOON_DAYS = 3
# The old cross-signed CA certificate: expired long ago, on no verified path.
CROSS_NOT_BEFORE = "20190101000000Z"
CROSS_NOT_AFTER = "20200101000000Z"
CROSS_NOT_AFTER_TS = calendar.timegm((2020, 1, 1, 0, 0, 0))
# The not-yet-valid leaf.
FUTURE_NOT_BEFORE = "20390101000000Z"
FUTURE_NOT_BEFORE_TS = calendar.timegm((2039, 1, 1, 0, 0, 0))
# The long-lived intermediate's own dates.
INTER_NOT_AFTER = "20450101000000Z"
INTER_NOT_AFTER_TS = calendar.timegm((2045, 1, 1, 0, 0, 0))


class Chains:
    """Certificates of the chain tests, and the PEM bundles servers send.

    inter        intermediate CA, signed by the test CA, until 2045
    oldroot      a self-signed root no CA file trusts
    cross        the test CA's own name and key, cross-signed by oldroot,
                 expired 2020-01-01: sent, never on the verified path
    cross_soon   the same cross-sign, expiring in CROSS_SOON_DAYS days
    leaf         localhost, signed by inter, until SERVER_NOT_AFTER
    soon_inter   intermediate CA signed by the test CA that expires in
                 SOON_DAYS days
    soon_leaf    localhost, signed by soon_inter, until SERVER_NOT_AFTER
    future       localhost, signed by the CA, not valid before 2039

    Bundles (Pair: .cert the PEM the server sends, .key the leaf's key):
    with_cross   leaf + inter + cross
    with_cross_soon  leaf + inter + cross_soon
    soon_chain   soon_leaf + soon_inter
    future       the leaf alone
    """

    NAMES = ("inter", "oldroot", "cross", "cross_soon", "leaf", "soon_inter",
             "soon_leaf", "future")

    def __init__(self, directory):
        self.dir = directory
        for name in self.NAMES:
            setattr(self, name, Pair(directory, name))
        self.with_cross = Pair(directory, "bundle-with-cross")
        self.with_cross.key = self.leaf.key
        self.with_cross_soon = Pair(directory, "bundle-with-cross-soon")
        self.with_cross_soon.key = self.leaf.key
        self.soon_chain = Pair(directory, "bundle-soon")
        self.soon_chain.key = self.soon_leaf.key

    def pairs(self):
        return [getattr(self, name) for name in self.NAMES]


def _ca_name(ca_cert, cwd):
    out = _openssl(["x509", "-noout", "-subject", "-nameopt", "compat",
                    "-in", ca_cert], cwd)
    # "subject=/CN=smtp-health-agent test CA" or "subject=CN = ..."
    value = out.strip().split("=", 1)[1].strip()
    return value.split("CN=", 1)[-1].split("CN = ", 1)[-1]


def _generate_chains(pki, ch):
    d = ch.dir
    cnf = _ca_dir(d, "2000")
    fixed = ["-startdate", "20200101000000Z", "-enddate", SERVER_NOT_AFTER]

    _issue(pki.ca, ch.inter, "smtp-health-agent test intermediate", "v3_ca",
           cnf, d, ["-startdate", "20200101000000Z",
                    "-enddate", INTER_NOT_AFTER])
    _self_signed(ch.oldroot, "smtp-health-agent old root", "v3_ca", cnf, d,
                 days=36500)
    # The CA's own name and key, signed by the old root: a path to a root
    # no client trusts any more, as servers long sent for old clients.
    for cross, dates in (
            (ch.cross, ["-startdate", CROSS_NOT_BEFORE,
                        "-enddate", CROSS_NOT_AFTER]),
            (ch.cross_soon, ["-days", str(CROSS_SOON_DAYS)])):
        with open(pki.ca.key, "rb") as src, open(cross.key, "wb") as dst:
            dst.write(src.read())
        os.chmod(cross.key, 0o600)
        csr = _csr_for_key(pki.ca.key, _ca_name(pki.ca.cert, d),
                           cross.cert + ".csr", cnf, d)
        _sign(ch.oldroot, cross, csr, "v3_ca", cnf, d, dates)
    _issue(ch.inter, ch.leaf, "localhost", "v3_server", cnf, d, fixed)
    _issue(pki.ca, ch.soon_inter, "smtp-health-agent expiring intermediate",
           "v3_ca", cnf, d, ["-days", str(SOON_DAYS)])
    _issue(ch.soon_inter, ch.soon_leaf, "localhost", "v3_server", cnf, d,
           fixed)
    _issue(pki.ca, ch.future, "localhost", "v3_server", cnf, d,
           ["-startdate", FUTURE_NOT_BEFORE, "-enddate", SERVER_NOT_AFTER])

    _bundle(ch.with_cross.cert, [ch.leaf.cert, ch.inter.cert, ch.cross.cert])
    _bundle(ch.with_cross_soon.cert,
            [ch.leaf.cert, ch.inter.cert, ch.cross_soon.cert])
    _bundle(ch.soon_chain.cert, [ch.soon_leaf.cert, ch.soon_inter.cert])


def secret_chain(pki, directory, secret):
    """A chain that betrays `secret` (hex digits, an even count) in what
    the leaf says of itself: its issuer's CN is "inter " + secret and its
    serial is the secret. Made anew in `directory` (per test: the secret
    is the test's); returns a Pair, .cert the leaf + intermediate bundle,
    .key the leaf's key."""
    assert len(secret) % 2 == 0 and all(c in "0123456789abcdef"
                                        for c in secret), secret
    d = os.path.abspath(directory)
    cnf = _ca_dir(d, "3000")
    inter, leaf = Pair(d, "secret-inter"), Pair(d, "secret-leaf")
    _issue(pki.ca, inter, "inter " + secret, "v3_ca", cnf, d,
           ["-startdate", "20200101000000Z", "-enddate", INTER_NOT_AFTER])
    with open(os.path.join(d, "ca.serial"), "w") as f:
        f.write(secret + "\n")
    _issue(inter, leaf, "localhost", "v3_server", cnf, d,
           ["-startdate", "20200101000000Z", "-enddate", SERVER_NOT_AFTER])
    bundle = Pair(d, "secret-bundle")
    bundle.key = leaf.key
    _bundle(bundle.cert, [leaf.cert, inter.cert])
    return bundle


def named_leaf(pki, directory, subject):
    """A localhost leaf signed by the CA whose subject is `subject`
    (openssl's -subj form, UTF-8, every field kept: -preserveDN), made in
    `directory`; returns its Pair."""
    d = os.path.abspath(directory)
    cnf = _ca_dir(d, "4000")
    leaf = Pair(d, "named-leaf")
    _new_key(leaf.key, d)
    csr = leaf.cert + ".csr"
    _openssl(["req", "-new", "-utf8", "-config", cnf, "-key", leaf.key,
              "-subj", subject, "-out", csr], d)
    _sign(pki.ca, leaf, csr, "v3_server", cnf, d,
          ["-utf8", "-preserveDN", "-startdate", "20200101000000Z",
           "-enddate", SERVER_NOT_AFTER])
    return leaf


def rfc2253_subject(cert):
    """The subject as OpenSSL writes it in RFC 2253 form."""
    out = _openssl(["x509", "-noout", "-subject", "-nameopt", "RFC2253",
                    "-in", cert], os.path.dirname(os.path.abspath(cert)))
    return out.strip().split("=", 1)[1].strip() if out.startswith(
        "subject=") else out.strip()


def _file_sha256(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def ensure_chains(pki):
    """Make (or reuse) the chain certificates beside pki; return Chains.

    Their stamp holds the version and the CA's hash: a CA made anew since
    (another test run's ensure()) makes them anew too, as does an
    expiring intermediate that is no longer SOON_DAYS away.
    """
    ch = Chains(os.path.join(pki.dir, "chains"))
    os.makedirs(ch.dir, exist_ok=True)
    stamp = os.path.join(ch.dir, _STAMP)
    want = "%s %s" % (_CHAINS_VERSION, _file_sha256(pki.ca.cert))
    with open(os.path.join(ch.dir, "certs.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(stamp) as f:
                ok = f.read().strip() == want
        except FileNotFoundError:
            ok = False
        ok = ok and all(os.path.exists(p.cert) and os.path.exists(p.key)
                        for p in ch.pairs())
        ok = ok and (not_after(ch.soon_inter.cert) - time.time()
                     > (SOON_DAYS - 1) * 86400)
        ok = ok and (not_after(ch.cross_soon.cert) - time.time()
                     > (CROSS_SOON_DAYS - 1) * 86400)
        if not ok:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stamp)
            _generate_chains(pki, ch)
            with open(stamp, "w") as f:
                f.write(want + "\n")
    return ch


def not_before(cert_path):
    """notBefore of a PEM certificate as a unix timestamp (UTC)."""
    out = _openssl(["x509", "-startdate", "-noout", "-in", cert_path],
                   os.path.dirname(os.path.abspath(cert_path)))
    value = out.strip().split("=", 1)[1]
    return calendar.timegm(time.strptime(value, "%b %d %H:%M:%S %Y %Z"))


def not_after(cert_path):
    """notAfter of a PEM certificate as a unix timestamp (UTC)."""
    out = _openssl(["x509", "-enddate", "-noout", "-in", cert_path],
                   os.path.dirname(os.path.abspath(cert_path)))
    # "notAfter=Jan  1 00:00:00 2040 GMT"
    value = out.strip().split("=", 1)[1]
    return calendar.timegm(time.strptime(value, "%b %d %H:%M:%S %Y %Z"))


def main(argv):
    """`certs.py DIR`: make the PKI and print what was made."""
    if len(argv) != 2:
        print("usage: certs.py DIR", file=sys.stderr)
        return 2
    pki = ensure(argv[1])
    for pair in pki.pairs():
        print("%-10s %s notAfter=%d" % (pair.name, pair.cert,
                                        not_after(pair.cert)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
