"""`govca db grant-web-role ROLE`: the PostgreSQL role `govca serve` logs in as ([serve] database_url)."""
from __future__ import annotations

import click

from ca.audit import AuditEvent, append
from ca.context import utcnow
from ca.storage.db import Database
from ca.storage.roles import RoleError, grant_web_role

from .config import load_config
from .runtime import actor, emit, home_of


@click.group("db")
def db_group() -> None:
    """The certificate database."""


@db_group.command("grant-web-role")
@click.argument("role")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def db_grant_web_role(ctx, role, as_json):  # type: ignore[no-untyped-def]
    """Create or update ROLE with only what `govca serve` needs (PostgreSQL; run again after an upgrade).

    Everything ROLE had in the schema is revoked first. The role is created LOGIN without a
    password: set one (ALTER ROLE ... PASSWORD) or use certificate authentication in production,
    then point `[serve] database_url` in govca.toml at it."""
    cfg = load_config(home_of(ctx))
    if not cfg.database_url.startswith("postgresql"):
        raise RoleError("database roles need PostgreSQL: SQLite has one file and no roles "
                        "(production uses PostgreSQL for this separation)")
    db = Database(cfg.database_url)
    try:
        with db.unit_of_work() as s:  # the grants and their audit record: one transaction
            result = grant_web_role(s.connection(), role)
            append(s, AuditEvent(actor(), "db.grant_web_role", role, "success",
                                 {"created": result.created, "unclassified_tables": result.unclassified}), utcnow())
    finally:
        db.dispose()
    lines = [f"web role {role} {'created' if result.created else 'updated'}: only what govca serve needs"]
    lines += [f"  {table:<16} {', '.join(privs)}" for table, privs in sorted(result.granted.items())]
    lines += [f"  sequence {seq}: USAGE" for seq in result.sequences]
    if result.unclassified:
        lines.append(f"  no privileges on tables govca does not know: {', '.join(result.unclassified)}")
    lines.append(f"set [serve] database_url in {cfg.home / 'govca.toml'} to log in as {role}")
    emit({"role": role, "created": result.created, "privileges": result.granted, "sequences": result.sequences,
          "unclassified_tables": result.unclassified}, as_json, "\n".join(lines))
