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


def _csr(pair, cn, cnf, cwd):
    _new_key(pair.key, cwd)
    csr = pair.cert + ".csr"
    _openssl(
        ["req", "-new", "-config", cnf, "-key", pair.key,
         "-subj", "/CN=" + cn, "-out", csr],
        cwd,
    )
    return csr


def _ca_sign(pki, pair, cn, ext, cnf, dates):
    """Sign with `openssl ca`: unlike `openssl x509 -req` in OpenSSL 3.0 it
    accepts explicit -startdate/-enddate, which the expired and the fixed
    notAfter certificates need."""
    csr = _csr(pair, cn, cnf, pki.dir)
    _openssl(
        ["ca", "-batch", "-notext", "-config", cnf, "-extensions", ext,
         "-cert", pki.ca.cert, "-keyfile", pki.ca.key,
         "-in", csr, "-out", pair.cert] + dates,
        pki.dir,
    )
    os.unlink(csr)


def _self_signed(pair, cn, ext, cnf, cwd, days):
    _new_key(pair.key, cwd)
    _openssl(
        ["req", "-new", "-x509", "-config", cnf, "-key", pair.key,
         "-subj", "/CN=" + cn, "-days", str(days), "-extensions", ext,
         "-out", pair.cert],
        cwd,
    )


def _generate(pki):
    """Make every certificate from scratch inside pki.dir."""
    d = pki.dir
    cnf = os.path.join(d, "openssl.cnf")
    with open(cnf, "w") as f:
        f.write(_OPENSSL_CNF.format(dir=d, local_san=LOCAL_SAN,
                                    wrong_host=WRONG_HOST))
    os.makedirs(os.path.join(d, "ca.newcerts"), exist_ok=True)
    with open(os.path.join(d, "ca.index"), "w"):
        pass
    with open(os.path.join(d, "ca.serial"), "w") as f:
        f.write("1000\n")

    _self_signed(pki.ca, "smtp-health-agent test CA", "v3_ca", cnf, d,
                 days=36500)
    _ca_sign(pki, pki.server, "localhost", "v3_server", cnf,
             ["-startdate", "20200101000000Z", "-enddate", SERVER_NOT_AFTER])
    _ca_sign(pki, pki.expired, "localhost", "v3_server", cnf,
             ["-startdate", EXPIRED_NOT_BEFORE,
              "-enddate", EXPIRED_NOT_AFTER])
    _ca_sign(pki, pki.wronghost, WRONG_HOST, "v3_wronghost", cnf,
             ["-startdate", "20200101000000Z", "-enddate", SERVER_NOT_AFTER])
    _ca_sign(pki, pki.soon, "localhost", "v3_server", cnf,
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
