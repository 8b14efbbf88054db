"""Helpers for the OCSP tests: a CA with responders, request builders, response parsing."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from asn1crypto import ocsp as aocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from conftest import REPO, Cli, create_hierarchy

SEAL = "/C=TH/O=Department of Lands/CN=กรมที่ดิน/organizationIdentifier=NTRTH-0994000159889"


def setup_ca(cli: Cli, out: Path) -> dict:
    """Root and issuing CA (P-384), two e-seals, responders for both CAs, PEM files in ``out``."""
    create_hierarchy(cli)
    files = {"root": out / "root.pem", "issuing": out / "issuing.pem"}
    cli("ca", "export", "root", "--out", str(files["root"]))
    cli("ca", "export", "issuing", "--out", str(files["issuing"]))
    serials = {}
    for name in ("good", "victim"):
        files[name] = out / f"{name}.pem"
        serials[name] = json.loads(cli("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key",
                                       "ec-p256", "--subject", SEAL, "--out", str(files[name]), "--json").stdout)["serial"]
    cli("ocsp", "setup", "--ca", "issuing")
    cli("ocsp", "setup", "--ca", "root")
    return {"files": files, "serials": serials}


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def request_der(cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None = None,
                algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or hashes.SHA1())
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    from cryptography.hazmat.primitives.serialization import Encoding

    return b.build().public_bytes(Encoding.DER)


def multi_request_der(cert_ids: list[bytes], nonce: bytes | None = None) -> bytes:
    """An OCSPRequest with several CertIDs (cryptography builds only one)."""
    tbs = {"request_list": [{"req_cert": aocsp.CertId.load(c)} for c in cert_ids]}
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
    return aocsp.OCSPRequest({"tbs_request": tbs}).dump()


def cert_id_of(req: bytes) -> bytes:
    return aocsp.OCSPRequest.load(req)["tbs_request"]["request_list"][0]["req_cert"].dump()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`govca serve` in a subprocess, as in production (gunicorn, 2 workers)."""

    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port = home, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = home / "serve.log"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, "-m", "cli.main", "--home", str(home), "serve", "--port",
                                      str(port)], stdout=self.log.open("wb"), stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("govca serve did not come up: " + self.log.read_text())

    def stop(self) -> None:
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
