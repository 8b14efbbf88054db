"""`govca init`: a data directory with its own SoftHSM2 tokens, configuration and database.

Two tokens, one per security context (docs/architecture.md; ETSI EN 319 411-1 and ขมธอ. 36-2566
expect the CA's signing keys to be usable by the CA function only): the CA token holds the root
and issuing CA keys and is opened only by administrator commands; the service token holds every
key `govca serve` uses. Each has its own user PIN and SO PIN in a 0600 file under hsm/.
"""
from __future__ import annotations

import secrets
from pathlib import Path

import click

from ca import Database, upgrade_schema
from hsm import find_softhsm_module, init_softhsm_token, write_pin_file, write_softhsm_conf

from .config import CONFIG_NAME, PLACEHOLDER_POLICY_OID, HsmConfig, render_config

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_CA_TOKEN = "govca-ca"
DEFAULT_SERVICE_TOKEN = "govca-service"


def initialise(home: Path, database_url: str | None = None, base_url: str = DEFAULT_BASE_URL,
               ca_token_label: str = DEFAULT_CA_TOKEN,
               service_token_label: str = DEFAULT_SERVICE_TOKEN) -> list[str]:
    """Create the data directory; returns lines describing what was made."""
    if (home / CONFIG_NAME).exists():
        raise click.ClickException(f"{home} is already a govca data directory")
    if not base_url.startswith("http://"):
        raise click.ClickException("--base-url must be a plain http:// URL: relying parties fetch CRLs and "
                                   "OCSP over HTTP (RFC 5280 4.2.1.13, RFC 6960 appendix A)")
    for option, label in (("--ca-token-label", ca_token_label), ("--service-token-label", service_token_label)):
        if not label or len(label) > 32:
            raise click.ClickException(f"{option} must be 1 to 32 characters (PKCS#11 CK_TOKEN_INFO label)")
    if ca_token_label == service_token_label:
        raise click.ClickException("--ca-token-label and --service-token-label must differ: CA keys get a "
                                   "token of their own")
    module = find_softhsm_module()
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    hsm_dir = home / "hsm"
    conf = write_softhsm_conf(hsm_dir)
    tokens = {}
    for context, label in (("ca", ca_token_label), ("service", service_token_label)):
        user_pin, so_pin = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
        init_softhsm_token(conf, label, so_pin, user_pin)
        write_pin_file(hsm_dir / f"{context}.pin", user_pin)
        write_pin_file(hsm_dir / f"{context}.so.pin", so_pin)
        tokens[context] = HsmConfig(module, label, f"file:hsm/{context}.pin", "hsm/softhsm2.conf")
    (home / CONFIG_NAME).write_text(render_config(
        database_url=database_url, base_url=base_url.rstrip("/"), hsm_ca=tokens["ca"],
        hsm_service=tokens["service"], agency_policy_oid=PLACEHOLDER_POLICY_OID), encoding="utf-8")
    db = Database(database_url or f"sqlite:///{home / 'govca.db'}")
    try:
        upgrade_schema(db)
    finally:
        db.dispose()
    return [f"data directory: {home}", f"configuration:  {home / CONFIG_NAME}",
            f"CA token:       {ca_token_label!r} (user PIN {hsm_dir / 'ca.pin'}, mode 0600)",
            f"service token:  {service_token_label!r} (user PIN {hsm_dir / 'service.pin'}, mode 0600)",
            f"SoftHSM2:       tokens in {hsm_dir / 'tokens'} (conf {conf})",
            f"database:       {database_url or home / 'govca.db'}",
            f"base URL:       {base_url}"]


@click.command("init")
@click.option("--database-url", help="SQLAlchemy URL (default: SQLite govca.db in the data directory)")
@click.option("--base-url", default=DEFAULT_BASE_URL, show_default=True,
              help="base URL of the CRL/AIA/OCSP links written into certificates")
@click.option("--ca-token-label", default=DEFAULT_CA_TOKEN, show_default=True,
              help="token of the root and issuing CA keys (administrator commands only)")
@click.option("--service-token-label", default=DEFAULT_SERVICE_TOKEN, show_default=True,
              help="token of the keys `govca serve` uses")
@click.pass_context
def init_command(ctx: click.Context, database_url: str | None, base_url: str, ca_token_label: str,
                 service_token_label: str) -> None:
    """Create a data directory: a CA token and a service token (SoftHSM2), configuration, database schema."""
    for line in initialise(Path(ctx.obj["home"]), database_url, base_url, ca_token_label, service_token_label):
        click.echo(line)
