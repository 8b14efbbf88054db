"""`govca serve` (nginx in front of two gunicorn pools; cli/serve_run.py) and `govca ocsp setup|renew|refresh|list`
(the workflows are in workflows/ocsp.py)."""
from __future__ import annotations

import click

from hsm import KeyType
from workflows.ocsp import refresh_responses, renew_responders, set_up_responder

from .admin import admin_of
from .runtime import actor, emit, home_of, ts


@click.group("ocsp")
def ocsp_group() -> None:
    """Delegated OCSP responders and pre-signed responses."""


@ocsp_group.command("setup")
@click.option("--ca", "ca_name", help="CA (default: the active issuing CA)")
@click.option("--key-type", type=click.Choice(["ec-p256", "ec-p384", "rsa2048", "rsa3072"]), default="ec-p256",
              show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ocsp_setup(ctx, ca_name, key_type, as_json):  # type: ignore[no-untyped-def]
    """Issue a delegated responder certificate for CA (key in the HSM) and pre-sign its responses."""
    done = set_up_responder(admin_of(ctx), ca_name, KeyType(key_type), actor())
    info = done.info
    ca_name = info.ca_name
    emit({"ca": info.ca_name, "serial": info.serial_hex, "key_uri": info.key_uri, "not_after": info.not_after,
          "presigned": done.presigned}, as_json,
         f"OCSP responder for {ca_name}: serial {info.serial_hex}, valid until {ts(info.not_after)}; "
         f"{done.presigned} responses pre-signed")


@ocsp_group.command("renew")
@click.option("--within-days", type=int, default=14, show_default=True,
              help="renew responders that expire within this many days")
@click.option("--force", is_flag=True, help="renew every responder now")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ocsp_renew(ctx, within_days, force, as_json):  # type: ignore[no-untyped-def]
    """Renew responder certificates before they expire (run daily)."""
    renewed, signed = renew_responders(admin_of(ctx), within_days, force, actor())
    emit([{"ca": r.ca_name, "serial": r.serial_hex, "not_after": r.not_after} for r in renewed], as_json,
         "\n".join(f"renewed OCSP responder of {r.ca_name}: serial {r.serial_hex}, until {ts(r.not_after)}"
                   for r in renewed) + (f"\n{signed} responses re-signed" if renewed else "nothing to renew"))


@ocsp_group.command("refresh")
@click.option("--force", is_flag=True, help="re-sign every response, not only the stale ones")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ocsp_refresh(ctx, force, as_json):  # type: ignore[no-untyped-def]
    """Re-sign pre-signed responses older than ocsp.refresh_after_hours (run hourly)."""
    count = refresh_responses(admin_of(ctx), force)
    emit({"signed": count}, as_json, f"{count} OCSP responses signed")


@ocsp_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ocsp_list(ctx, as_json):  # type: ignore[no-untyped-def]
    """The current responder of each CA."""
    items = admin_of(ctx).ca.ocsp_responders()
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
    from .config import load_config
    from .serve_run import ServeError, serve

    cfg = load_config(home_of(ctx))
    if cfg.offline:  # issue 12: an offline root's key never serves
        raise click.ClickException(f"{home_of(ctx)} is an offline root's data directory (offline = true, made by "
                                   "`govca ceremony run`): it is never served")
    if cfg.tokens_shared:  # a data directory made before the CA token was split off (issue 11)
        click.echo(f"govca serve: warning: CA keys share token '{cfg.hsm_ca.token_label}' with the service; "
                   "see README 'Separate the CA token'", err=True)
    try:
        code = serve(home_of(ctx), host, port, workers, ocsp_workers, not no_front, access_log)
    except ServeError as exc:
        click.echo(f"govca: error: {exc}", err=True)
        ctx.exit(1)
    ctx.exit(code)
