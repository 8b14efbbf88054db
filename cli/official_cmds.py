"""`govca official add|enrol|suspend|resume|revoke|list`: officials who sign remotely with keys govca holds.

Administrators enrol, suspend, resume and revoke; no command here can make a signature with an official's key
(ขมธอ. 36-2566 SRA_SKM.11/14): that takes the official's PIN and current TOTP, through the CSC API.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import click

from ca import CertificateRecord, Database, utcnow
from ca.revocation import ALLOWED_REASONS
from hsm import KeyType
from signer.remote.officials import LockState, OfficialRepository, OfficialStatus, otpauth_uri

from .compose import build_ca_service, token_from_config
from .config import load_config
from .runtime import actor, check_thai_id, emit, home_of, ts
from .signer_wiring import audit_writer, official_repository, signer_repository

def officials(ctx: click.Context):  # type: ignore[no-untyped-def]
    home = home_of(ctx)
    cfg = load_config(home)
    db = Database(cfg.database_url)
    return official_repository(home, db, token_from_config(cfg), create_pin_key=True), db


def _read_pin(pin_file: Path | None) -> str:
    if pin_file is not None:
        if pin_file.stat().st_mode & 0o077:
            raise click.ClickException(f"{pin_file} must be mode 0600")
        pin = pin_file.read_text(encoding="utf-8").strip()
    else:
        pin = click.prompt("The official's new PIN", hide_input=True, confirmation_prompt=True)
    if not re.fullmatch(r"[0-9]{6,12}", pin):
        raise click.ClickException("the PIN must be 6 to 12 digits")
    return pin


def _json(o, lock: LockState | None = None) -> dict:  # type: ignore[no-untyped-def]
    out = {"id": o.id, "agency": o.agency_code, "name_th": o.name_th, "name_en": o.name_en, "title": o.title,
           "status": o.status.value, "ca": o.ca_name, "certificate_serial": o.cert_serial, "key_uri": o.key_uri}
    if lock is not None:
        out.update(locked=lock.locked, locked_until=lock.locked_until if lock.locked else None,
                   failed_attempts=lock.failed_attempts)
    return out


def _lock_text(lock: LockState | None) -> str:
    if lock is None:
        return ""
    text = f", locked until {ts(lock.locked_until)}" if lock.locked else ""
    return text + (f", {lock.failed_attempts} failed attempt(s)" if lock.failed_attempts else "")


@click.group("official")
def official_group() -> None:
    """Officials who sign remotely (CSC API, PIN + TOTP)."""


@official_group.command("add")
@click.option("--agency", "code", required=True)
@click.option("--given-name-th", required=True)
@click.option("--surname-th", required=True)
@click.option("--given-name-en", required=True)
@click.option("--surname-en", required=True)
@click.option("--title", required=True)
@click.option("--id-number", help="kept in the database only; certificates carry an opaque id (PDPA)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def official_add(ctx, code, given_name_th, surname_th, given_name_en, surname_en, title, id_number, as_json):  # type: ignore[no-untyped-def]
    if id_number is not None:
        id_number = check_thai_id("--id-number", id_number)     # the citizen ID
    repo, db = officials(ctx)
    o = repo.add(code, given_name_th.strip(), surname_th.strip(), given_name_en.strip(), surname_en.strip(),
                 title.strip(), id_number, utcnow())
    audit_writer(db)(actor(), "official.add", f"official:{o.id}", "success", {"agency": code})
    emit(_json(o), as_json, f"official {o.id} added: {o.name_th} ({o.name_en}), {o.title}, {code}")


@official_group.command("enrol")
@click.argument("official_id", type=int)
@click.option("--ca", "ca_name", help="issuing CA (default: the only issuing CA)")
@click.option("--key-type", type=click.Choice(["ec-p256", "rsa2048", "rsa3072"]), default="ec-p256", show_default=True)
@click.option("--pin-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="file (mode 0600) with the official's new PIN; prompted for when absent")
@click.option("--no-qr", is_flag=True, help="do not draw the QR code in the terminal")
@click.pass_context
def official_enrol(ctx, official_id, ca_name, key_type, pin_file, no_qr):  # type: ignore[no-untyped-def]
    """Generate the official's key in the HSM, issue the person certificate, enrol TOTP."""
    repo, db = officials(ctx)
    official = repo.get(official_id)
    if official.key_uri is not None:
        raise click.ClickException(f"official {official_id} is already enrolled: one key per official "
                                   "(ขมธอ. 36-2566 SRG_KM.11)")
    pin = _read_pin(pin_file)
    rec, uri = enrol_official(home_of(ctx), repo, db, official_id, ca_name, KeyType(key_type), pin, actor())
    click.echo(f"official {official_id} enrolled: certificate {rec.serial_hex} ({rec.subject})")
    click.echo("Give this to the official only, to add to an authenticator app (shown once):")
    click.echo(uri)
    if not no_qr:
        import qrcode

        qr = qrcode.QRCode(border=1)
        qr.add_data(uri)
        out = io.StringIO()
        qr.print_ascii(out=out, invert=True)
        click.echo(out.getvalue())


def _change_status(ctx: click.Context, official_id: int, status: OfficialStatus, action: str, said: str) -> None:
    repo, db = officials(ctx)
    o = repo.set_status(official_id, status)
    audit_writer(db)(actor(), action, f"official:{official_id}", "success", {})
    click.echo(f"official {o.id} ({o.name_en}) {said}")


def enrol_official(home: Path, repo: OfficialRepository, db: Database, official_id: int, ca_name: str | None,
                   key_type: KeyType, pin: str, who: str) -> tuple[CertificateRecord, str]:
    """Key in the HSM, person certificate, PIN record and TOTP seed: (certificate, otpauth URI)."""
    svc = build_ca_service(home)
    if ca_name is None:
        issuing = [c.name for c in svc.list_cas() if c.profile == "issuing-ca"]
        if len(issuing) != 1:
            raise click.ClickException(f"name the issuing CA with --ca (there are {len(issuing)})")
        ca_name = issuing[0]
    official = repo.get(official_id)
    agency = signer_repository(db).get_agency(official.agency_code)
    rec = svc.issue(ca_name=ca_name, profile_name="person", actor=who, generate=key_type,
                    subject=official.subject(agency.name_en))
    assert rec.key_uri is not None
    chain = tuple(c.certificate_der for c in svc.chain(ca_name))
    seed = repo.enrol(official_id, ca_name, rec.serial_hex, rec.key_uri, rec.der, chain, pin)
    audit_writer(db)(who, "official.enrol", f"official:{official_id}", "success",
                     {"certificate": rec.serial_hex, "ca": ca_name, "key_uri": rec.key_uri})
    return rec, otpauth_uri(seed, repo.get(official_id))


@official_group.command("suspend")
@click.argument("official_id", type=int)
@click.pass_context
def official_suspend(ctx, official_id):  # type: ignore[no-untyped-def]
    """Suspend an official: their credential can no longer be authorised."""
    _change_status(ctx, official_id, OfficialStatus.SUSPENDED, "official.suspend", "suspended")


@official_group.command("resume")
@click.argument("official_id", type=int)
@click.pass_context
def official_resume(ctx, official_id):  # type: ignore[no-untyped-def]
    """Lift a suspension: the official may authorise signatures again."""
    _change_status(ctx, official_id, OfficialStatus.ACTIVE, "official.resume", "active again")


@official_group.command("revoke")
@click.argument("official_id", type=int)
@click.option("--reason", default="cessationOfOperation", show_default=True, type=click.Choice(ALLOWED_REASONS),
              help="RFC 5280 5.3.1 reason (checked before anything changes)")
@click.pass_context
def official_revoke(ctx, official_id, reason):  # type: ignore[no-untyped-def]
    """Revoke the official's certificate (CRL and OCSP at once); the credential is disabled for good."""
    from .serve_cmds import revoke_now

    repo, db = officials(ctx)
    official = repo.get(official_id)
    if official.ca_name is None or official.cert_serial is None:
        raise click.ClickException(f"official {official_id} has no certificate (not enrolled)")
    svc = build_ca_service(home_of(ctx))
    cert_revoked = svc.get_certificate(official.ca_name, official.cert_serial).revoked_at is not None
    if official.status is OfficialStatus.REVOKED and cert_revoked:
        raise click.ClickException(f"official {official_id} is already revoked")
    # The status first: from here on the credential cannot authorise, whatever happens next; a
    # run interrupted before the certificate is revoked is completed by running it again.
    if official.status is not OfficialStatus.REVOKED:
        repo.set_status(official_id, OfficialStatus.REVOKED)
    if cert_revoked:
        done = f"certificate {official.cert_serial} was already revoked"   # by `govca cert revoke`
    else:
        rec, crl, resigned = revoke_now(home_of(ctx), svc, official.ca_name, official.cert_serial, reason, actor())
        done = (f"certificate {rec.serial_hex} revoked ({reason}); CRL #{crl.crl_number} published; "
                f"{resigned} OCSP responses re-signed")
    audit_writer(db)(actor(), "official.revoke", f"official:{official_id}", "success",
                     {"certificate": official.cert_serial, "reason": reason})
    click.echo(f"official {official_id} revoked: {done}")


@official_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def official_list(ctx, as_json):  # type: ignore[no-untyped-def]
    """The officials, their status and the PIN/OTP lock (`locked until <UTC time>`, failed attempts)."""
    repo, _ = officials(ctx)
    items = repo.list()
    locks = repo.lock_states(utcnow())
    emit([_json(o, locks.get(o.id)) for o in items], as_json, "\n".join(
        f"{o.id:>5} {o.agency_code:<8} {o.status.value:<10} {o.name_th} / {o.name_en}, {o.title}"
        f"{_lock_text(locks.get(o.id))}" for o in items) or "no officials")


@official_group.command("unlock")
@click.argument("official_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def official_unlock(ctx, official_id, as_json):  # type: ignore[no-untyped-def]
    """Lift the lock that wrong PINs or OTPs put on an official's credential (clears the lock and the
    failed-attempt count; the PIN and TOTP seed are neither shown nor changed). Audited."""
    repo, db = officials(ctx)
    previous = repo.unlock(official_id, utcnow())
    audit_writer(db)(actor(), "official.unlock", f"official:{official_id}", "success",
                     {"official": official_id, "previous_locked_until": ts(previous.locked_until),
                      "previous_failed_attempts": previous.failed_attempts})
    emit({"id": official_id, "unlocked": True, "previous_locked_until": previous.locked_until,
          "previous_failed_attempts": previous.failed_attempts}, as_json,
         f"official {official_id} unlocked (was locked until {ts(previous.locked_until)})")
