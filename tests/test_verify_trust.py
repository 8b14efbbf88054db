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


def test_today_status_finds_the_issuer_by_key_when_two_cas_share_a_name() -> None:
    """After a rollover two issuing CAs may share one name: RFC 5280 4.2.1.1, the certificate's
    authorityKeyIdentifier names its issuer's key, so today's status is asked of the right CA."""
    import datetime as dt

    from asn1crypto import x509 as ax509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from signer.verification.verify import _issuer_of

    name = x509.Name.from_rfc4514_string("CN=Issuing,O=govca Test,C=TH")
    now = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)

    def cert(subject, issuer, key, signer, aki_key):  # type: ignore[no-untyped-def]
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now)
             .not_valid_after(now + dt.timedelta(days=30))
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_key.public_key()), critical=False))
        return ax509.Certificate.load(b.sign(signer, hashes.SHA256()).public_bytes(Encoding.DER))

    old_key, new_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    old = cert(name, name, old_key, old_key, old_key)
    new = cert(name, name, new_key, new_key, new_key)
    leaf_name = x509.Name.from_rfc4514_string("CN=Seal,O=govca Test,C=TH")
    of_old = cert(leaf_name, name, leaf_key, old_key, old_key)
    of_new = cert(leaf_name, name, leaf_key, new_key, new_key)
    for known in ([old, new], [new, old]):
        assert _issuer_of(of_old, known).dump() == old.dump()
        assert _issuer_of(of_new, known).dump() == new.dump()
