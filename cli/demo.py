"""`govca demo`: a working demo CA in the data directory, reused when run again. Every step is an
administrator workflow (workflows/), the same ones the commands run."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hsm import KeyType
from policies import parse_slash_subject
from workflows.agencies import add_agency, issue_seal, issue_seal_certificate, set_up_tsa
from workflows.apiclients import create_api_client
from workflows.ocsp import refresh_responses
from workflows.officials import add_official, enrol_official
from workflows.revocation import revoke_certificate

from .admin import AdminWiring
from .ca_cmds import pem_text
from .config import CONFIG_NAME
from .init_cmd import initialise
from .runtime import home_of

ROOT = ("govca-root", "/C=TH/O=Government CA of Thailand (Demo)/CN=govca Demo Root CA", KeyType.RSA4096)
ISSUING = ("govca-issuing", "/C=TH/O=Government CA of Thailand (Demo)/CN=govca Demo Issuing CA", KeyType.EC_P384)


def ensure_demo(home: Path, actor: str = "demo") -> list[str]:
    lines: list[str] = []
    if not (home / CONFIG_NAME).exists():
        lines += initialise(home)
    else:
        lines.append(f"reusing data directory {home}")
    admin = AdminWiring(home)
    try:
        return lines + _ensure(admin, home, actor)
    finally:
        admin.close()


def _ensure(admin: AdminWiring, home: Path, actor: str) -> list[str]:
    svc = admin.ca
    existing = {c.name for c in svc.list_cas()}
    if ROOT[0] not in existing:
        svc.create_root(name=ROOT[0], subject=parse_slash_subject(ROOT[1]), key_type=ROOT[2], actor=actor)
    if ISSUING[0] not in existing:
        svc.create_issuing(name=ISSUING[0], parent=ROOT[0], subject=parse_slash_subject(ISSUING[1]),
                           key_type=ISSUING[2], actor=actor)
        svc.generate_crl(ROOT[0], actor)
    # A delegated OCSP responder for each CA, so every AIA OCSP URL in a demo certificate answers.
    have = {r.ca_name for r in svc.ocsp_responders()}
    for ca_name in (ROOT[0], ISSUING[0]):
        if ca_name not in have:
            svc.setup_ocsp_responder(ca_name, actor)
    signing = ensure_signing_demo(admin, home, actor)
    official = ensure_official_demo(admin, home, actor)
    signed = refresh_responses(admin)
    # Listed once everything exists, so the first run shows what a second run shows.
    return (_export(svc, home) + signing + official
            + [f"OCSP: {signed} responses (re-)signed; responders: "
               + ", ".join(f"{r.ca_name} until {r.not_after:%Y-%m-%d}" for r in svc.ocsp_responders())])


def _export(svc: Any, home: Path) -> list[str]:
    """Write PEM copies of the demo hierarchy to home/demo for use with openssl."""
    out = home / "demo"
    out.mkdir(exist_ok=True)
    lines = ["", "CAs:"]
    for ca in svc.list_cas():
        path = out / f"{ca.name}.pem"
        path.write_text(pem_text(ca.certificate_der))
        crl = svc.latest_crl(ca.name)
        if crl is not None:
            (out / f"{ca.name}.crl").write_bytes(crl.der)
        lines.append(f"  {ca.name:<14} {ca.subject}\n      certificate {path}"
                     + (f"\n      CRL #{crl.crl_number}   {out / (ca.name + '.crl')}" if crl else ""))
    lines += ["", "Certificates:"]
    for c in svc.list_certificates():
        path = out / f"{c.profile}-{c.serial_hex}.pem"
        path.write_text(pem_text(c.der))
        lines.append(f"  {c.serial_hex} {c.profile:<10} {c.status.value:<8} {c.subject}\n      {path}")
    chain = (f"openssl verify -x509_strict -crl_check_all -CAfile {out / 'govca-root.pem'} -untrusted "
             f"{out / 'govca-issuing.pem'} -CRLfile {out / 'govca-root.crl'}")
    seals = [c for c in svc.list_certificates() if c.profile == "eseal"]
    lines += ["", "Check a certificate with the CRLs it names (RFC 5280 6.3), e.g. the demo agency's seals:"]
    lines += [f"  {chain} -CRLfile {_crl_named_by(svc, c, out)} {out / f'eseal-{c.serial_hex}.pem'}    "
              f"# {c.status.value}" for c in seals]
    return lines


def _crl_named_by(svc: Any, cert: Any, out: Path) -> Path:
    """The CRL a certificate's distribution point names (its partition, /crl/<ca>/<p>.crl, or the
    CA's full CRL), written next to the demo's PEM files."""
    from cryptography import x509

    url = cert.certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    ca_name, _, partition = url.rsplit("/crl/", 1)[1].removesuffix(".crl").partition("/")
    path = out / (f"{ca_name}-{partition}.crl" if partition else f"{ca_name}.crl")
    crl = svc.latest_crl(ca_name, partition or None)
    if crl is not None:
        path.write_bytes(crl.der)
    return path


@click.command("demo")
@click.pass_context
def demo_command(ctx: click.Context) -> None:
    """Create (or reuse) a demo CA: root and issuing CA with OCSP responders and CRLs, agency DEMO
    with its seal (and a superseded, revoked one), an API client, the TSA, a sealed e-License, and an
    official enrolled for remote signing."""
    for line in ensure_demo(home_of(ctx)):
        click.echo(line)


DEMO_AGENCY = ("DEMO", "กรมสาธิตการออกใบอนุญาต", "Department of Demonstration Licensing", "0994000165510")


def ensure_signing_demo(admin: AdminWiring, home: Path, actor: str) -> list[str]:
    """A demo agency with a seal (and a superseded, revoked one) and an API client, the TSA, and one
    sealed sample e-License."""
    import datetime as dt

    from signer.docdata.schemas import LicenceData, elicense_xml
    from signer.errors import NotFoundError
    from signer.sealing.pades import SignOptions
    from signer.sealing.sample_pdf import sample_elicense_pdf
    from signer.sealing.service import default_stamp
    from signer.sealing.stamp import BANGKOK

    from .ocsp_wiring import build_responder
    from .signer_wiring import build_sealing_service

    cfg, repo = admin.cfg, admin.registry
    (home / "demo").mkdir(exist_ok=True)
    code, name_th, name_en, juristic = DEMO_AGENCY
    try:
        repo.get_agency(code)
    except NotFoundError:
        add_agency(admin, code, name_th, name_en, juristic, actor)
    if not repo.seals_of(code):
        # The agency's earlier seal, superseded and revoked: what a relying party's CRL check refuses.
        old = issue_seal_certificate(admin, code, ISSUING[0], KeyType.EC_P256, actor, note="(ตราเดิม)")
        revoke_certificate(admin, ISSUING[0], old.record.serial_hex, "superseded", actor)
        issue_seal(admin, code, ISSUING[0], KeyType.EC_P256, actor)
    if repo.current_tsa() is None:
        set_up_tsa(admin, ISSUING[0], KeyType.EC_P256, actor)
    refresh_responses(admin)
    token_file = home / "demo" / "apiclient.token"
    if not token_file.exists():
        client = create_api_client(admin, code, "demo e-License system", actor)
        token_file.touch(mode=0o600)
        token_file.write_text(client.token + "\n")
    client_id = int(token_file.read_text().split("_")[1])
    # The e-License as PDF/A-3u with its data (e-License 1 XML) embedded as an associated file
    # (ISO 19005-3 6.8, /AFRelationship /Data; docs/pdfa.md), the XML also written next to it.
    issued = dt.datetime.now(BANGKOK).date()
    xml = elicense_xml(LicenceData(
        number="DEMO-2569-0001", licence_type_th="ใบอนุญาตประกอบกิจการ", holder_th="บริษัท ตัวอย่าง จำกัด",
        holder_en="Example Company Limited", holder_id="0105569000001", agency_code=code, agency_th=name_th,
        agency_en=name_en, issued_on=issued, valid_until=_a_year_on(issued)))
    data = home / "demo" / "e-license-data.xml"
    data.write_bytes(xml)
    sample = home / "demo" / "e-license-sample.pdf"
    sample.write_bytes(sample_elicense_pdf(agency_th=name_th, agency_en=name_en, licensee_th="บริษัท ตัวอย่าง จำกัด",
                                           licence_no="DEMO-2569-0001", issued_on=issued, data_xml=xml))
    responder, reader = build_responder(cfg, admin.db)
    service = build_sealing_service(cfg, admin.db, admin.service_keys, responder, reader)
    sealed = service.seal(repo.get_client(client_id), sample.read_bytes(), SignOptions(), stamp=default_stamp)
    out = home / "demo" / "e-license-sealed.pdf"
    out.write_bytes(sealed.pdf)
    receipt, receipt_sealed, receipt_doc = _demo_receipt(home, service, repo.get_client(client_id), code, name_th,
                                                         name_en, issued)
    auth = f"-H \"Authorization: Bearer $(cat {token_file})\""
    return ["", f"Agency {code}: {name_th} / {name_en}; API token in {token_file} (mode 0600)",
            f"Sealed sample e-License (PDF/A-3u, PAdES B-LTA): {out}",
            f"  its data embedded as an associated file e-license.xml (e-License 1 XML), a copy in {data}",
            f"  document id {sealed.document_id}, verify at {sealed.verify_url}",
            "Seal another (with `make run` serving):",
            f"  curl -sS {auth} -H 'Content-Type: application/pdf' "
            f"--data-binary @{sample} -D - -o sealed.pdf {cfg.base_url}/api/v1/sign",
            "Seal a PDF with data parts embedded under the seal (PDF/A-3 associated files, docs/pdfa.md):",
            f"  curl -sS {auth} -F 'file=@document.pdf;type=application/pdf' "
            f"-F 'data=@{data};type=application/xml' -F 'options={{\"data_relationship\": \"Data\"}}' "
            f"-D - -o sealed.pdf {cfg.base_url}/api/v1/sign",
            f"  (each data part XML or JSON, at most 8; see what is embedded: pdfdetach -list {out})",
            f"Sealed sample e-Receipt (XML, XAdES B-LTA): {receipt_sealed}",
            f"  document id {receipt_doc.document_id}, verify at {receipt_doc.verify_url}",
            "Seal another XML document (docs/xades.md):",
            f"  curl -sS {auth} -H 'Content-Type: application/xml' --data-binary @{receipt} "
            f"-D - -o sealed.xml {cfg.base_url}/api/v1/sign-xml"]


def _demo_receipt(home: Path, service: Any, client: Any, code: str, name_th: str, name_en: str,
                  issued: Any) -> tuple[Path, Path, Any]:
    """An e-Receipt (govca e-Receipt 1 XML) and the same sealed with XAdES B-LTA (docs/xades.md)."""
    from decimal import Decimal

    from signer.docdata.schemas import ReceiptData, ereceipt_xml
    from signer.xades.seal import XmlOptions
    from signer.xades.service import XadesService

    receipt = home / "demo" / "e-receipt-sample.xml"
    receipt.write_bytes(ereceipt_xml(ReceiptData(
        "DEMO-R-2569-0001", issued, code, name_th, name_en, "บริษัท ตัวอย่าง จำกัด", "0105569000001",
        (("ค่าธรรมเนียมใบอนุญาตประกอบกิจการ", Decimal("1000")), ("ค่าคัดสำเนาใบอนุญาต", Decimal("50"))))))
    sealed = XadesService(service).seal(client, receipt.read_bytes(), XmlOptions())
    out = home / "demo" / "e-receipt-sealed.xml"
    out.write_bytes(sealed.xml)
    return receipt, out, sealed


def _a_year_on(day: "dt.date") -> "dt.date":
    """The last day of a licence of one year from ``day`` (29 February: to 28 February)."""
    import datetime as dt

    return (dt.date(day.year + 1, 3, 1) if (day.month, day.day) == (2, 29) else day.replace(year=day.year + 1)) \
        - dt.timedelta(days=1)


DEMO_OFFICIAL = ("สมหญิง", "ตัวอย่าง", "Somying", "Tuayang", "นายทะเบียน")


def ensure_official_demo(admin: AdminWiring, home: Path, actor: str) -> list[str]:
    """An official of the demo agency enrolled for remote signing (CSC), its PIN and TOTP URI in
    0600 files of the demo directory: demo secrets, never a real official's."""
    import secrets

    repo = admin.officials
    pin_file, totp_file = home / "demo" / "official.pin", home / "demo" / "official.totp"
    mine = [o for o in repo.list(DEMO_AGENCY[0]) if o.key_uri]
    if not mine or not totp_file.exists():
        official = add_official(admin, DEMO_AGENCY[0], DEMO_OFFICIAL[:4], DEMO_OFFICIAL[4], None, actor)
        pin = f"{secrets.randbelow(10 ** 6):06d}"
        uri = enrol_official(admin, official.id, ISSUING[0], KeyType.EC_P256, lambda: pin, actor).otpauth_uri
        for path, text in ((pin_file, pin), (totp_file, uri)):
            path.unlink(missing_ok=True)
            path.touch(mode=0o600)
            path.write_text(text + "\n")
        mine = [repo.get(official.id)]
    o = mine[-1]
    return [f"Official {o.name_th} ({o.name_en}): CSC credential official-{o.id} at {admin.cfg.base_url}/csc/v1/ "
            f"and /csc/v2/; PIN in {pin_file}, TOTP (otpauth:// URI for an authenticator app) in {totp_file}, "
            "both mode 0600"]
