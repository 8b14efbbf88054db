"""`govca official add|enrol|suspend|resume|revoke|list|unlock`: officials who sign remotely with keys govca
holds (the workflows are in workflows/officials.py).

Administrators enrol, suspend, resume and revoke; no command here can make a signature with an official's key
(ขมธอ. 36-2566 SRA_SKM.11/14): that takes the official's PIN and current TOTP, through the CSC API.
"""
from __future__ import annotations

import io
from pathlib import Path

import click

from ca.revocation import ALLOWED_REASONS
from hsm import KeyType
from signer.remote.officials import LockState, OfficialStatus
from workflows.officials import (add_official, enrol_official, officials_and_locks, revoke_official,
                                 set_official_status, unlock_official)

from .admin import admin_of
from .runtime import actor, check_thai_id, emit, ts


def pin_reader(pin_file: Path | None):  # type: ignore[no-untyped-def]
    """The official's new PIN: from a 0600 file, else prompted for (twice), when the workflow asks."""
    def read() -> str:
        if pin_file is None:
            return click.prompt("The official's new PIN", hide_input=True, confirmation_prompt=True)
        if pin_file.stat().st_mode & 0o077:
            raise click.ClickException(f"{pin_file} must be mode 0600")
        return pin_file.read_text(encoding="utf-8").strip()
    return read


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
    """Register an official of an agency (enrol them next)."""
    if id_number is not None:
        id_number = check_thai_id("--id-number", id_number)     # the citizen ID
    o = add_official(admin_of(ctx), code, (given_name_th, surname_th, given_name_en, surname_en), title, id_number,
                     actor())
    emit(_json(o), as_json, f"official {o.id} added: {o.name_th} ({o.name_en}), {o.title}, {code}")


@official_group.command("enrol")
@click.argument("official_id", type=int)
@click.option("--ca", "ca_name", help="issuing CA (default: the active issuing CA)")
@click.option("--key-type", type=click.Choice(["ec-p256", "rsa2048", "rsa3072"]), default="ec-p256", show_default=True)
@click.option("--pin-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="file (mode 0600) with the official's new PIN; prompted for when absent")
@click.option("--no-qr", is_flag=True, help="do not draw the QR code in the terminal")
@click.pass_context
def official_enrol(ctx, official_id, ca_name, key_type, pin_file, no_qr):  # type: ignore[no-untyped-def]
    """Generate the official's key in the HSM, issue the person certificate, enrol TOTP."""
    done = enrol_official(admin_of(ctx), official_id, ca_name, KeyType(key_type), pin_reader(pin_file), actor())
    rec = done.issued.record
    click.echo(f"official {official_id} enrolled: certificate {rec.serial_hex} ({rec.subject})")
    click.echo("Give this to the official only, to add to an authenticator app (shown once):")
    click.echo(done.otpauth_uri)
    if not no_qr:
        import qrcode

        qr = qrcode.QRCode(border=1)
        qr.add_data(done.otpauth_uri)
        out = io.StringIO()
        qr.print_ascii(out=out, invert=True)
        click.echo(out.getvalue())


@official_group.command("suspend")
@click.argument("official_id", type=int)
@click.pass_context
def official_suspend(ctx, official_id):  # type: ignore[no-untyped-def]
    """Suspend an official: their credential can no longer be authorised."""
    o = set_official_status(admin_of(ctx), official_id, OfficialStatus.SUSPENDED, actor())
    click.echo(f"official {o.id} ({o.name_en}) suspended")


@official_group.command("resume")
@click.argument("official_id", type=int)
@click.pass_context
def official_resume(ctx, official_id):  # type: ignore[no-untyped-def]
    """Lift a suspension: the official may authorise signatures again."""
    o = set_official_status(admin_of(ctx), official_id, OfficialStatus.ACTIVE, actor())
    click.echo(f"official {o.id} ({o.name_en}) active again")


@official_group.command("revoke")
@click.argument("official_id", type=int)
@click.option("--reason", default="cessationOfOperation", show_default=True, type=click.Choice(ALLOWED_REASONS),
              help="RFC 5280 5.3.1 reason (checked before anything changes)")
@click.pass_context
def official_revoke(ctx, official_id, reason):  # type: ignore[no-untyped-def]
    """Revoke the official's certificate (CRL and OCSP at once); the credential is disabled for good."""
    done = revoke_official(admin_of(ctx), official_id, reason, actor())
    r = done.revoked
    click.echo(f"official {official_id} revoked: " + (
        f"certificate {done.cert_serial} was already revoked" if r is None else
        f"certificate {r.record.serial_hex} revoked ({reason}); CRL #{r.crl.crl_number} published; "
        f"{r.resigned} OCSP responses re-signed"))


@official_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def official_list(ctx, as_json):  # type: ignore[no-untyped-def]
    """The officials, their status and the PIN/OTP lock (`locked until <UTC time>`, failed attempts)."""
    items = officials_and_locks(admin_of(ctx))
    emit([_json(o, lock) for o, lock in items], as_json, "\n".join(
        f"{o.id:>5} {o.agency_code:<8} {o.status.value:<10} {o.name_th} / {o.name_en}, {o.title}{_lock_text(lock)}"
        for o, lock in items) or "no officials")


@official_group.command("unlock")
@click.argument("official_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def official_unlock(ctx, official_id, as_json):  # type: ignore[no-untyped-def]
    """Lift the lock that wrong PINs or OTPs put on an official's credential (clears the lock and the
    failed-attempt count; the PIN and TOTP seed are neither shown nor changed). Audited."""
    previous = unlock_official(admin_of(ctx), official_id, actor())
    emit({"id": official_id, "unlocked": True, "previous_locked_until": previous.locked_until,
          "previous_failed_attempts": previous.failed_attempts}, as_json,
         f"official {official_id} unlocked (was locked until {ts(previous.locked_until)})")


@official_group.command("upgrade-keys")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def official_upgrade_keys(ctx, as_json):  # type: ignore[no-untyped-def]
    """Make the service token's keys that authorise remote signatures (SAD and access-token MACs,
    TOTP seed AES key) where absent, and re-encrypt TOTP seeds still under secrets/server.key with
    the token's AES key (ขมธอ. 36-2566). Run once after upgrading a data directory; audited."""
    from .signer_wiring import create_authorisation_keys

    admin = admin_of(ctx)
    create_authorisation_keys(admin.service_keys)
    done, left = admin.officials.upgrade_seeds()
    admin.audit(actor(), "official.upgrade_keys", "officials", "success",
                {"seeds_reencrypted": done, "seeds_unreadable": left})
    emit({"seeds_reencrypted": done, "seeds_unreadable": left}, as_json,
         f"authorisation keys present in the service token; {done} TOTP seed(s) re-encrypted under it"
         + (f"; {left} seed(s) do not open with secrets/server.key and were left as they are" if left else ""))
