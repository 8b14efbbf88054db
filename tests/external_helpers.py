"""A stand-in national root made with OpenSSL alone (issue 12): `openssl req -x509` for the root,
`openssl ca` to certify govca's request with the issuing-CA extensions, to revoke and to publish
its CRL; and a small HTTP server on 127.0.0.1 that serves that CRL, as a national root's
repository would."""
from __future__ import annotations

import http.server
import threading
from dataclasses import dataclass
from pathlib import Path

from conftest import run

CA_CONF = """[ca]
default_ca = standin

[standin]
dir = {dir}
database = $dir/index.txt
serial = $dir/serial
crlnumber = $dir/crlnumber
new_certs_dir = $dir/newcerts
certificate = $dir/root.pem
private_key = $dir/root.key
default_md = {md}
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[policy_any]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied

[req]
distinguished_name = dn
prompt = no

[dn]
CN = unused

[root_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[issuing_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints = URI:{crl_url}
certificatePolicies = 2.5.29.32.0

[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints = URI:{crl_url}

[crl_ext]
authorityKeyIdentifier = keyid:always
"""


@dataclass
class StandInRoot:
    """An OpenSSL CA directory: root.pem, root.key, its `openssl ca` database and CRL."""

    dir: Path
    crl_url: str

    @property
    def cert(self) -> Path:
        return self.dir / "root.pem"

    @property
    def conf(self) -> Path:
        return self.dir / "ca.cnf"

    def _ca(self, *args: str) -> str:
        r = run(["openssl", "ca", "-batch", "-config", str(self.conf), *args])
        assert r.returncode == 0, r.stderr
        return r.stdout

    def certify(self, csr: Path, out: Path, *, days: int = 3700, extensions: str = "issuing_ext",
                window: tuple[str, str] | None = None) -> Path:
        """Certify ``csr`` with the issuing-CA extensions (or ``leaf_ext``); the request's own
        extensions are not copied, as a national root decides them. ``window``: explicit
        (startdate, enddate) as YYYYMMDDHHMMSSZ instead of ``days``."""
        validity = ["-startdate", window[0], "-enddate", window[1]] if window else ["-days", str(days)]
        self._ca("-in", str(csr), "-out", str(out), *validity, "-extensions", extensions, "-notext")
        return out

    def revoke(self, cert: Path, reason: str = "keyCompromise") -> None:
        self._ca("-revoke", str(cert), "-crl_reason", reason)

    def crl(self, out: Path | None = None) -> bytes:
        """A fresh CRL (DER), written to ``out`` (the file the HTTP server serves) when given."""
        pem = self.dir / "crl.pem"
        self._ca("-gencrl", "-crlexts", "crl_ext", "-out", str(pem))
        der = run_bytes(["openssl", "crl", "-in", str(pem), "-outform", "DER"])
        if out is not None:
            out.write_bytes(der)
        return der


def run_bytes(cmd: list[str]) -> bytes:
    import subprocess

    r = subprocess.run(cmd, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout


def make_standin_root(dir: Path, crl_url: str, key: str = "ec-p384",
                      subject: str = "/C=TH/O=Stand-in National Root/CN=Stand-in NRCA G3") -> StandInRoot:
    """A self-signed root made by `openssl req -x509` with a P-384 (or RSA-4096) key."""
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "newcerts").mkdir(exist_ok=True)
    (dir / "index.txt").write_text("")
    (dir / "serial").write_text("1000\n")
    (dir / "crlnumber").write_text("01\n")
    md = "sha384" if key == "ec-p384" else "sha256"
    (dir / "ca.cnf").write_text(CA_CONF.format(dir=dir, md=md, crl_url=crl_url))
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"] if key == "ec-p384" else ["-newkey", "rsa:4096"]
    r = run(["openssl", "req", "-x509", *newkey, "-nodes", "-keyout", str(dir / "root.key"),
             "-out", str(dir / "root.pem"), "-days", "9131", "-subj", subject, "-" + md,
             "-config", str(dir / "ca.cnf"), "-extensions", "root_ext"])
    assert r.returncode == 0, r.stderr
    return StandInRoot(dir, crl_url)


class FileServer:
    """Serves the files of one directory over HTTP on 127.0.0.1 (a parent's repository: its CRL)."""

    def __init__(self, root: Path) -> None:
        handler = type("Handler", (http.server.SimpleHTTPRequestHandler,), {
            "log_message": lambda *a, **k: None})
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), lambda *a, **k: handler(*a, directory=str(root), **k))
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def trust(home: Path, pem: Path) -> None:
    """List ``pem`` in the data directory's trust list (signer.extra_roots of govca.toml)."""
    import tomllib

    config = home / "govca.toml"
    text = config.read_text()
    current = list(tomllib.loads(text).get("signer", {}).get("extra_roots", []))
    if str(pem) in current:
        return
    if current:
        import re

        text = re.sub(r"(?m)^extra_roots = .*$", "", text)
    roots = ", ".join(f'"{p}"' for p in [*current, str(pem)])
    config.write_text(text.replace("[signer]\n", f"[signer]\nextra_roots = [{roots}]\n", 1))


ISSUING_SUBJECT = "/C=TH/O=Government CA of Thailand (Test)/CN=govca Issuing CA under the Stand-in NRCA"


def external_issuing(cli, root: StandInRoot, out: Path, name: str = "issuing", parent_name: str = "nrca",  # type: ignore[no-untyped-def]
                     subject: str = ISSUING_SUBJECT, key_type: str = "ec-p384") -> Path:
    """govca requests an issuing CA (key in its CA token), the stand-in root certifies it, govca
    imports it with the root as its chain and trust anchor. Returns the issuing CA's PEM."""
    out.mkdir(parents=True, exist_ok=True)
    csr, cert = out / f"{name}.csr", out / f"{name}.pem"
    cli("ca", "create-issuing", "--name", name, "--external", "--subject", subject, "--key-type", key_type,
        "--csr-out", str(csr))
    root.certify(csr, cert)
    trust(cli.home, root.cert)
    cli("ca", "import-certificate", "--name", name, "--certificate", str(cert), "--chain", str(root.cert),
        "--parent-name", parent_name)
    return cert
