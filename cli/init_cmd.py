"""`govca init`: a data directory with its own SoftHSM2 token, configuration and database."""
from __future__ import annotations

import secrets
from pathlib import Path

import click

from ca import Database, upgrade_schema
from hsm import find_softhsm_module, init_softhsm_token, write_pin_file, write_softhsm_conf

from signer.remote.officials import SecretBox

from .config import CONFIG_NAME, PLACEHOLDER_POLICY_OID, render_config

DEFAULT_BASE_URL = "http://127.0.0.1:8080"


def initialise(home: Path, database_url: str | None = None, base_url: str = DEFAULT_BASE_URL,
               token_label: str = "govca") -> list[str]:
    """Create the data directory; returns lines describing what was made."""
    if (home / CONFIG_NAME).exists():
        raise click.ClickException(f"{home} is already a govca data directory")
    if not base_url.startswith("http://"):
        raise click.ClickException("--base-url must be a plain http:// URL: relying parties fetch CRLs and "
                                   "OCSP over HTTP (RFC 5280 4.2.1.13, RFC 6960 appendix A)")
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    hsm_dir = home / "hsm"
    conf = write_softhsm_conf(hsm_dir)
    user_pin = secrets.token_urlsafe(18)
    so_pin = secrets.token_urlsafe(18)
    init_softhsm_token(conf, token_label, so_pin, user_pin)
    write_pin_file(hsm_dir / "user.pin", user_pin)
    write_pin_file(hsm_dir / "so.pin", so_pin)
    # The key that encrypts officials' TOTP seeds lives here, never in the database.
    SecretBox.create(home / "secrets" / "server.key")
    (home / CONFIG_NAME).write_text(render_config(
        database_url=database_url, base_url=base_url.rstrip("/"), module=find_softhsm_module(),
        token_label=token_label, pin_source="file:hsm/user.pin", softhsm_conf="hsm/softhsm2.conf",
        agency_policy_oid=PLACEHOLDER_POLICY_OID), encoding="utf-8")
    db = Database(database_url or f"sqlite:///{home / 'govca.db'}")
    try:
        upgrade_schema(db)
    finally:
        db.dispose()
    return [f"data directory: {home}", f"configuration:  {home / CONFIG_NAME}",
            f"SoftHSM2 token: {token_label!r} in {hsm_dir / 'tokens'} (conf {conf})",
            f"user PIN:       {hsm_dir / 'user.pin'} (mode 0600)",
            f"database:       {database_url or home / 'govca.db'}",
            f"base URL:       {base_url}"]


@click.command("init")
@click.option("--database-url", help="SQLAlchemy URL (default: SQLite govca.db in the data directory)")
@click.option("--base-url", default=DEFAULT_BASE_URL, show_default=True,
              help="base URL of the CRL/AIA/OCSP links written into certificates")
@click.option("--token-label", default="govca", show_default=True)
@click.pass_context
def init_command(ctx: click.Context, database_url: str | None, base_url: str, token_label: str) -> None:
    """Create a data directory: SoftHSM2 token, configuration, database schema."""
    for line in initialise(Path(ctx.obj["home"]), database_url, base_url, token_label):
        click.echo(line)
