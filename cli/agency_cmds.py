"""`govca agency|apiclient|tsa` commands: agencies, their seals and API clients, the TSA."""
from __future__ import annotations

import re

import click

from ca import Database, utcnow
from hsm import KeyType
from policies import format_attrs, name_attributes
from signer.credentials import make_token, new_secret

from .compose import build_ca_service, token_from_config
from .config import load_config
from .runtime import actor, check_thai_id, emit, home_of, ts
from .signer_wiring import audit_writer, secret_vault, signer_repository

AGENCY_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,31}$")


def _repo_and_audit(ctx: click.Context):  # type: ignore[no-untyped-def]
    db = Database(load_config(home_of(ctx)).database_url)
    return signer_repository(db), audit_writer(db)


@click.group("agency")
def agency_group() -> None:
    """Agencies and their e-seals."""


@agency_group.command("add")
@click.option("--code", required=True, help="short code, e.g. DBD")
@click.option("--name-th", required=True)
@click.option("--name-en", required=True)
@click.option("--juristic-id", required=True, help="13-digit juristic person id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def agency_add(ctx, code, name_th, name_en, juristic_id, as_json):  # type: ignore[no-untyped-def]
    """Register an agency."""
    if not AGENCY_CODE.match(code):
        raise click.ClickException("--code must be 1-32 upper-case letters, digits or '-'")
    juristic_id = check_thai_id("--juristic-id", juristic_id)   # EN 319 412-1 5.1.4 NTRTH-<id>
    repo, audit = _repo_and_audit(ctx)
    agency = repo.add_agency(code, name_th.strip(), name_en.strip(), juristic_id, utcnow())
    audit(actor(), "agency.add", code, "success", {"name_en": name_en, "juristic_id": juristic_id})
    emit({"code": agency.code, "name_th": agency.name_th, "name_en": agency.name_en,
          "juristic_id": agency.juristic_id}, as_json, f"agency {code} added: {name_th} / {name_en}")


@agency_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def agency_list(ctx, as_json):  # type: ignore[no-untyped-def]
    repo, _ = _repo_and_audit(ctx)
    rows = repo.list_agencies()
    emit([{"code": a.code, "name_th": a.name_th, "name_en": a.name_en, "juristic_id": a.juristic_id,
           "seals": seals, "api_clients": clients} for a, seals, clients in rows], as_json,
         "\n".join(f"{a.code:<10} {a.juristic_id} seals={seals} clients={clients}  {a.name_th} / {a.name_en}"
                   for a, seals, clients in rows) or "no agencies")


@agency_group.group("seal")
def seal_group() -> None:
    """An agency's e-seal certificates (keys in the HSM)."""


@seal_group.command("issue")
@click.option("--agency", "code", required=True)
@click.option("--ca", "ca_name", required=True)
@click.option("--key-type", type=click.Choice(["ec-p256", "rsa3072", "ec-p384", "rsa2048"]), default="ec-p256",
              show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def seal_issue(ctx, code, ca_name, key_type, as_json):  # type: ignore[no-untyped-def]
    """Issue an e-seal for the agency: key generated in the HSM, e-seal profile (EN 319 412-3)."""
    repo, _ = _repo_and_audit(ctx)
    agency = repo.get_agency(code)
    svc = build_ca_service(home_of(ctx))
    subject = (("C", "TH"), ("O", agency.name_en), ("CN", agency.name_th[:64]),
               ("organizationIdentifier", f"NTRTH-{agency.juristic_id}"))
    rec = svc.issue(ca_name=ca_name, profile_name="eseal", actor=actor(), generate=KeyType(key_type), subject=subject)
    chain = tuple(c.certificate_der for c in svc.chain(ca_name))
    assert rec.key_uri is not None
    seal = repo.add_seal(code, ca_name, rec.serial_hex, rec.key_uri, rec.der, chain, rec.not_after, utcnow())
    emit({"agency": code, "serial": seal.serial_hex, "ca": ca_name, "key_uri": seal.key_uri,
          "not_after": seal.not_after, "subject": rec.subject}, as_json,
         f"seal {seal.serial_hex} issued for {code} by {ca_name}: {rec.subject}, until {ts(seal.not_after)}")


@click.group("apiclient")
def apiclient_group() -> None:
    """API clients of agency systems."""


def new_api_client(cfg, repo, code: str, name: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """A new API client of agency ``code``: (id, token). The token is returned once; the record
    kept is an HMAC made in the HSM (the key is created here on first use)."""
    secret = new_secret()
    record = secret_vault(token_from_config(cfg), create_key=True).record(secret)
    client_id = repo.add_client(code, name, record, utcnow())
    return client_id, make_token(client_id, secret)


@apiclient_group.command("create")
@click.option("--agency", "code", required=True)
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def apiclient_create(ctx, code, name, as_json):  # type: ignore[no-untyped-def]
    """Create an API client; its token is printed once and stored only as an HMAC made in the HSM
    with a non-extractable key (signer/credentials.py), created here on first use."""
    cfg = load_config(home_of(ctx))
    db = Database(cfg.database_url)
    repo, audit = signer_repository(db), audit_writer(db)
    client_id, token = new_api_client(cfg, repo, code, name)
    audit(actor(), "apiclient.create", code, "success", {"client": client_id, "name": name})
    secret = token.split("_", 2)[2]
    emit({"id": client_id, "agency": code, "name": name, "token": token, "client_id": str(client_id),
          "client_secret": secret}, as_json,
         f"API client {client_id} for {code} ({name}).\nToken (shown once, keep it secret):\n{token}\n"
         f"  sealing API: Authorization: Bearer <the token>\n"
         f"  CSC auth/login, HTTP Basic: user {client_id}, password the whole token (or its secret: {secret})")


@apiclient_group.command("revoke")
@click.argument("client_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def apiclient_revoke(ctx, client_id, as_json):  # type: ignore[no-untyped-def]
    repo, audit = _repo_and_audit(ctx)
    client = repo.revoke_client(client_id, utcnow())
    audit(actor(), "apiclient.revoke", client.agency_code, "success", {"client": client_id})
    emit({"id": client.id, "agency": client.agency_code, "revoked_at": client.revoked_at}, as_json,
         f"API client {client_id} of {client.agency_code} revoked")


@click.group("tsa")
def tsa_group() -> None:
    """The RFC 3161 time-stamping unit."""


@tsa_group.command("setup")
@click.option("--ca", "ca_name", required=True)
@click.option("--key-type", type=click.Choice(["ec-p256", "ec-p384", "rsa3072"]), default="ec-p256", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def tsa_setup(ctx, ca_name, key_type, as_json):  # type: ignore[no-untyped-def]
    """Issue the TSA certificate (EKU timeStamping only, critical; RFC 3161 2.3), key in the HSM."""
    repo, _ = _repo_and_audit(ctx)
    svc = build_ca_service(home_of(ctx))
    ca = svc.get_ca(ca_name)
    attrs = dict(name_attributes(ca.certificate.subject))
    subject = (("C", attrs.get("C", "TH")), ("O", attrs.get("O", ca_name)), ("CN", "govca Time-Stamping Authority"))
    rec = svc.issue(ca_name=ca_name, profile_name="tsa", actor=actor(), generate=KeyType(key_type), subject=subject)
    chain = tuple(c.certificate_der for c in svc.chain(ca_name))
    assert rec.key_uri is not None
    repo.add_tsa(ca_name, rec.serial_hex, rec.key_uri, rec.der, chain, rec.not_after, utcnow())
    emit({"ca": ca_name, "serial": rec.serial_hex, "subject": format_attrs(subject), "not_after": rec.not_after},
         as_json, f"TSA certificate {rec.serial_hex} issued by {ca_name}, until {ts(rec.not_after)}")
