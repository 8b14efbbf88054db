"""`govca agency|apiclient|tsa` commands: agencies, their seals and API clients, the TSA
(the workflows are in workflows/agencies.py and workflows/apiclients.py)."""
from __future__ import annotations

import click

from hsm import KeyType
from workflows.agencies import add_agency, issue_seal, set_up_tsa
from workflows.apiclients import create_api_client, revoke_api_client

from .admin import admin_of
from .runtime import actor, check_thai_id, emit, ts


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
    juristic_id = check_thai_id("--juristic-id", juristic_id)   # EN 319 412-1 5.1.4 NTRTH-<id>
    agency = add_agency(admin_of(ctx), code, name_th, name_en, juristic_id, actor())
    emit({"code": agency.code, "name_th": agency.name_th, "name_en": agency.name_en,
          "juristic_id": agency.juristic_id}, as_json, f"agency {code} added: {agency.name_th} / {agency.name_en}")


@agency_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def agency_list(ctx, as_json):  # type: ignore[no-untyped-def]
    rows = admin_of(ctx).registry.list_agencies()
    emit([{"code": a.code, "name_th": a.name_th, "name_en": a.name_en, "juristic_id": a.juristic_id,
           "seals": seals, "api_clients": clients} for a, seals, clients in rows], as_json,
         "\n".join(f"{a.code:<10} {a.juristic_id} seals={seals} clients={clients}  {a.name_th} / {a.name_en}"
                   for a, seals, clients in rows) or "no agencies")


@agency_group.group("seal")
def seal_group() -> None:
    """An agency's e-seal certificates (keys in the HSM's service token)."""


@seal_group.command("issue")
@click.option("--agency", "code", required=True)
@click.option("--ca", "ca_name", help="issuing CA (default: the active issuing CA)")
@click.option("--key-type", type=click.Choice(["ec-p256", "rsa3072", "ec-p384", "rsa2048"]), default="ec-p256",
              show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def seal_issue(ctx, code, ca_name, key_type, as_json):  # type: ignore[no-untyped-def]
    """Issue an e-seal for the agency: key generated in the HSM, e-seal profile (EN 319 412-3)."""
    seal, issued = issue_seal(admin_of(ctx), code, ca_name, KeyType(key_type), actor())
    ca_name = issued.record.ca_name
    emit({"agency": code, "serial": seal.serial_hex, "ca": ca_name, "key_uri": seal.key_uri,
          "not_after": seal.not_after, "subject": issued.record.subject}, as_json,
         f"seal {seal.serial_hex} issued for {code} by {ca_name}: {issued.record.subject}, "
         f"until {ts(seal.not_after)}")


@click.group("apiclient")
def apiclient_group() -> None:
    """API clients of agency systems."""


@apiclient_group.command("create")
@click.option("--agency", "code", required=True)
@click.option("--name", required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def apiclient_create(ctx, code, name, as_json):  # type: ignore[no-untyped-def]
    """Create an API client; its token is printed once and stored only as an HMAC made in the HSM
    with a non-extractable key (signer/credentials.py), created here on first use."""
    c = create_api_client(admin_of(ctx), code, name, actor())
    emit({"id": c.id, "agency": code, "name": name, "token": c.token, "client_id": str(c.id),
          "client_secret": c.secret}, as_json,
         f"API client {c.id} for {code} ({name}).\nToken (shown once, keep it secret):\n{c.token}\n"
         f"  sealing API: Authorization: Bearer <the token>\n"
         f"  CSC auth/login, HTTP Basic: user {c.id}, password the whole token (or its secret: {c.secret})")


@apiclient_group.command("revoke")
@click.argument("client_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def apiclient_revoke(ctx, client_id, as_json):  # type: ignore[no-untyped-def]
    """Revoke an API client: its token is refused from now on."""
    client = revoke_api_client(admin_of(ctx), client_id, actor())
    emit({"id": client.id, "agency": client.agency_code, "revoked_at": client.revoked_at}, as_json,
         f"API client {client_id} of {client.agency_code} revoked")


@click.group("tsa")
def tsa_group() -> None:
    """The RFC 3161 time-stamping unit."""


@tsa_group.command("setup")
@click.option("--ca", "ca_name", help="issuing CA (default: the active issuing CA)")
@click.option("--key-type", type=click.Choice(["ec-p256", "ec-p384", "rsa3072"]), default="ec-p256", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def tsa_setup(ctx, ca_name, key_type, as_json):  # type: ignore[no-untyped-def]
    """Issue the TSA certificate (EKU timeStamping only, critical; RFC 3161 2.3), key in the HSM."""
    issued = set_up_tsa(admin_of(ctx), ca_name, KeyType(key_type), actor())
    rec = issued.record
    ca_name = rec.ca_name
    emit({"ca": ca_name, "serial": rec.serial_hex, "subject": rec.subject, "not_after": rec.not_after},
         as_json, f"TSA certificate {rec.serial_hex} issued by {ca_name}, until {ts(rec.not_after)}")
