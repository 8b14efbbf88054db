"""Issue 5: the trust anchors are govca's roots plus configured ones (signer.extra_roots), nothing else."""
from __future__ import annotations

import io
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader

from cli.web import create_app
from conftest import Cli, make_home
from sealing_helpers import sample_pdf
from verify_helpers import foreign_signed


def test_a_configured_root_is_trusted_and_an_unconfigured_one_is_not(tmp_path: Path) -> None:
    cli = Cli(make_home(tmp_path))
    cli("ca", "create-root", "--name", "root", "--subject", "/C=TH/O=govca Test/CN=Root", "--key-type", "ec-p384")
    pdf = foreign_signed(sample_pdf())
    report = create_app(cli.home).test_client().post("/api/v1/verify", data=pdf, content_type="application/pdf").json
    assert report["verdict"] == "indeterminate" and report["signatures"][0]["reason"]["code"] == "untrusted"
    # The foreign signer's (self-signed) certificate becomes a configured trust anchor, e.g. an NRCA root.
    signer_cert = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0].signer_cert
    anchor = tmp_path / "extra-root.pem"
    anchor.write_bytes(x509.load_der_x509_certificate(signer_cert.dump()).public_bytes(Encoding.PEM))
    config = cli.home / "govca.toml"
    config.write_text(config.read_text().replace("[signer]\n", f'[signer]\nextra_roots = ["{anchor}"]\n'))
    report = create_app(cli.home).test_client().post("/api/v1/verify", data=pdf, content_type="application/pdf").json
    sig = report["signatures"][0]
    assert sig["reason"]["code"] != "untrusted" and sig["certificate"]["at_signing"] != "unknown", sig
    assert sig["chain"][-1]["subject"]["common_name"] == "Not a government CA"
