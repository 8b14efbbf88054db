"""`govca serve` (nginx in front of two gunicorn pools; cli/serve_run.py) and `govca ocsp setup|renew|refresh|list`."""
from __future__ import annotations

from pathlib import Path

import click

from ca import CaService, Database

from .compose import build_ca_service
from .config import load_config
from .ocsp_wiring import build_responder
from .runtime import actor, emit, home_of, ts


def resign_ocsp(home: Path, ca_name: str, serial_hex: str) -> int:
    """Re-sign one certificate's pre-signed OCSP responses at once (after a revocation)."""
    cfg = load_config(home)
    db = Database(cfg.database_url)
    try:
        responder, _ = build_responder(cfg, db)
        return responder.presign(ca_name, serial_hex)
    finally:
        db.dispose()


def revoke_now(home: Path, svc: CaService, ca_name: str, serial: str, reason: str, who: str):  # type: ignore[no-untyped-def]
    """A revocation as relying parties see it when this returns: the certificate revoked with
    its RFC 5280 5.3.1 reason, a fresh CRL published (by the service) and its pre-signed OCSP
    responses re-signed as "revoked" (RFC 6960: no stale "good" after the revocation).
    Returns (certificate record, CRL record, responses re-signed)."""
    rec, crl = svc.revoke(ca_name, serial, reason, who)
    return rec, crl, resign_ocsp(home, ca_name, rec.serial_hex)


def refresh_ocsp(home: Path, force: bool = False) -> int:
    cfg = load_config(home)
    db = Database(cfg.database_url)
    try:
        responder, _ = build_responder(cfg, db)
        return responder.refresh(force=force)
    finally:
        db.dispose()


@click.group("ocsp")
def ocsp_group() -> None:
    """Delegated OCSP responders and pre-signed responses."""


@ocsp_group.command("setup")
@click.option("--ca", "ca_name", required=True)
@click.option("--key-type", type=click.Choice(["ec-p256", "ec-p384", "rsa2048", "rsa3072"]), default="ec-p256",
              show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ocsp_setup(ctx, ca_name, key_type, as_json):  # type: ignore[no-untyped-def]
    """Issue a delegated responder certificate for CA (key in the HSM) and pre-sign its responses."""
    from hsm import KeyType

    info = build_ca_service(home_of(ctx)).setup_ocsp_responder(ca_name, actor(), KeyType(key_type))
    signed = refresh_ocsp(home_of(ctx), force=True)
    emit({"ca": info.ca_name, "serial": info.serial_hex, "key_uri": info.key_uri, "not_after": info.not_after,
          "presigned": signed}, as_json,
         f"OCSP responder for {ca_name}: serial {info.serial_hex}, valid until {ts(info.not_after)}; "
         f"{signed} responses pre-signed")


@ocsp_group.command("renew")
@click.option("--within-days", type=int, default=14, show_default=True,
              help="renew responders that expire within this many days")
@click.option("--force", is_flag=True, help="renew every responder now")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ocsp_renew(ctx, within_days, force, as_json):  # type: ignore[no-untyped-def]
    """Renew responder certificates before they expire (run daily)."""
    renewed = build_ca_service(home_of(ctx)).renew_ocsp_responders(actor(), within_days, force)
    signed = refresh_ocsp(home_of(ctx), force=True) if renewed else 0
    emit([{"ca": r.ca_name, "serial": r.serial_hex, "not_after": r.not_after} for r in renewed], as_json,
         "\n".join(f"renewed OCSP responder of {r.ca_name}: serial {r.serial_hex}, until {ts(r.not_after)}"
                   for r in renewed) + (f"\n{signed} responses re-signed" if renewed else "nothing to renew"))


@ocsp_group.command("refresh")
@click.option("--force", is_flag=True, help="re-sign every response, not only the stale ones")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ocsp_refresh(ctx, force, as_json):  # type: ignore[no-untyped-def]
    """Re-sign pre-signed responses older than ocsp.refresh_after_hours (run hourly)."""
    count = refresh_ocsp(home_of(ctx), force)
    emit({"signed": count}, as_json, f"{count} OCSP responses signed")


@ocsp_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ocsp_list(ctx, as_json):  # type: ignore[no-untyped-def]
    """The current responder of each CA."""
    items = build_ca_service(home_of(ctx)).ocsp_responders()
    emit([{"ca": r.ca_name, "serial": r.serial_hex, "key_uri": r.key_uri, "not_after": r.not_after} for r in items],
         as_json, "\n".join(f"{r.ca_name:<16} {r.serial_hex} until {ts(r.not_after)}" for r in items)
         or "no OCSP responders; run `govca ocsp setup --ca NAME`")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="worker processes of the main pool (sealing, TSA, verification, CSC)")
@click.option("--ocsp-workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="worker processes of the OCSP pool (OCSP, CRLs, CA certificates, /healthz, /metrics)")
@click.option("--no-front", is_flag=True,
              help="no nginx: one gunicorn pool on HOST:PORT (development only; slow clients can block it)")
@click.option("--access-log", is_flag=True, help="log every request to stderr")
@click.pass_context
def serve_command(ctx, host, port, workers, ocsp_workers, no_front, access_log):  # type: ignore[no-untyped-def]
    """Serve OCSP, CRLs, CA certificates, sealing, TSA, verification, CSC, /healthz and /metrics:
    nginx on HOST:PORT in front of two gunicorn pools (OCSP and main) on unix sockets."""
    from .serve_run import ServeError, serve

    try:
        code = serve(home_of(ctx), host, port, workers, ocsp_workers, not no_front, access_log)
    except ServeError as exc:
        click.echo(f"govca: error: {exc}", err=True)
        ctx.exit(1)
    ctx.exit(code)
