"""The PostgreSQL role of `govca serve`: read what serving reads, write only what serving writes.

The public process answers OCSP, seals, stamps time, verifies and signs for officials. It never
issues, revokes, publishes a CRL or registers an agency, a seal or an API client; with its own
role (``[serve] database_url``) a code-execution bug in a route cannot do those through the
database either (ETSI EN 319 401 7.4 access control, required by EN 319 411-1; ขมธอ. 36-2566:
CA functions only by the CA's operators). The audit log stays append-only for it: INSERT of
records, and the one head row locked and moved on (ca/audit.py), never UPDATE or DELETE of a
record.

Every table of the schema is classified here. A table the code does not know gets no privilege
at all and is named in the result, so that a new table is a decision, not an accident.
SQLite has one file and no roles: the separation needs PostgreSQL.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..errors import CaError


class RoleError(CaError):
    """The web role cannot be granted as asked (no PostgreSQL, a bad name, a role too strong)."""


@dataclass(frozen=True)
class TableGrant:
    select: bool = True
    insert: bool = False
    delete: bool = False
    update: tuple[str, ...] = ()  # columns; ("*",) for the whole row

    def statements(self, table: str, role: str) -> list[str]:
        privileges = [p for p, on in (("SELECT", self.select), ("INSERT", self.insert), ("DELETE", self.delete),
                                      ("UPDATE", self.update == ("*",))) if on]
        out = [f"GRANT {', '.join(privileges)} ON TABLE {table} TO {role}"] if privileges else []
        if self.update and self.update != ("*",):
            out.append(f"GRANT UPDATE ({', '.join(_ident(c) for c in self.update)}) ON TABLE {table} TO {role}")
        return out


READ = TableGrant()
READ_WRITE = TableGrant(insert=True, delete=True, update=("*",))

# What `govca serve` does to each table (cli/web.py and what it wires).
WEB_GRANTS: dict[str, TableGrant] = {
    # Status, CRLs and CA certificates: read only (ca/status.py, the repository routes).
    "cas": READ, "certificates": READ, "crls": READ, "ocsp_responders": READ,
    # The parent's status of each CA certificate (`govca ca refresh-parent`): embedded at B-LT.
    "parent_status": READ,
    # Pre-signed OCSP responses: re-signed by a worker when stale (RFC 5019 4 / RFC 6960 2.4).
    "ocsp_responses": READ_WRITE,
    # Agencies, seals, API clients, TSA units: registered by administrator commands only.
    "agencies": READ, "agency_seals": READ, "api_clients": READ, "tsa_units": READ,
    # The document registry: a sealed document is recorded once; nothing served changes or removes it.
    "documents": TableGrant(insert=True),
    # Officials: only the lockout counters and the TOTP step taken (RFC 6238 5.2; EN 419 241-1).
    "officials": TableGrant(update=("failed_attempts", "locked_until", "last_totp_step")),
    # CSC SADs: issued, spent and purged by the CSC routes.
    "csc_sads": READ_WRITE,
    # The audit log: records appended, the head row locked (SELECT ... FOR UPDATE) and moved on.
    "audit_log": TableGrant(select=False, insert=True),
    "audit_head": TableGrant(update=("last_seq", "last_hash")),
}
# Tables `govca serve` never touches: serials (issuance only), CAs waiting for their parent's
# certificate (their requests), the signed audit checkpoints (written with the CA token) and the
# schema version.
ADMIN_ONLY: frozenset[str] = frozenset({"serials", "pending_cas", "audit_checkpoints", "alembic_version"})

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _ident(name: str) -> str:
    if not _NAME.match(name):
        raise RoleError(f"{name!r} is not a plain PostgreSQL name (lower-case letters, digits, _; at most 63)")
    return f'"{name}"'


@dataclass(frozen=True)
class GrantResult:
    role: str
    created: bool
    granted: dict[str, list[str]]   # table -> privileges, as PostgreSQL reports them afterwards
    sequences: list[str]
    unclassified: list[str]         # tables that exist but are not in WEB_GRANTS/ADMIN_ONLY: nothing granted


def grant_web_role(conn: Connection, role: str) -> GrantResult:
    """Create ``role`` (LOGIN, no password: production sets one, or uses certificate
    authentication, in pg_hba.conf) or take the existing one, revoke everything it has in this
    database's schema, then grant exactly WEB_GRANTS. Runs in the caller's transaction."""
    if conn.dialect.name != "postgresql":
        raise RoleError("database roles need PostgreSQL: SQLite has one file and no roles "
                        "(production uses PostgreSQL for this separation)")
    quoted = _ident(role)
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    me = conn.execute(text("SELECT current_user")).scalar_one()
    if role == me:
        raise RoleError(f"{role} is the role this command connects as (the owner of the tables); "
                        "the web role must be another role")
    found = conn.execute(text("SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
                              "WHERE rolname = :r"), {"r": role}).first()
    if found is not None and any(found):
        raise RoleError(f"role {role} exists with SUPERUSER, BYPASSRLS, CREATEROLE or CREATEDB; "
                        "a web role must have none of them")
    if found is not None and conn.execute(text("SELECT pg_has_role(:r, :me, 'MEMBER')"),
                                          {"r": role, "me": me}).scalar_one():
        raise RoleError(f"role {role} is a member of {me}, the owner of the tables; a web role must not be")
    if found is None:
        conn.execute(text(f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT"))
    tables = list(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}).scalars())
    qschema = _ident(schema)
    database = conn.execute(text("SELECT current_database()")).scalar_one()
    # A table's REVOKE ALL takes its column privileges with it (PostgreSQL REVOKE).
    conn.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA {qschema} FROM {quoted}"))
    conn.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {qschema} FROM {quoted}"))
    conn.execute(text(f"REVOKE CREATE ON SCHEMA {qschema} FROM {quoted}"))
    conn.execute(text(f'GRANT CONNECT ON DATABASE {_quoted(database)} TO {quoted}'))
    conn.execute(text(f"GRANT USAGE ON SCHEMA {qschema} TO {quoted}"))
    sequences: list[str] = []
    for table in sorted(set(tables) & WEB_GRANTS.keys()):
        grant = WEB_GRANTS[table]
        for statement in grant.statements(f"{qschema}.{_quoted(table)}", quoted):
            conn.execute(text(statement))
        if grant.insert:
            sequences += _serial_sequences(conn, schema, table)
    for seq in sequences:
        conn.execute(text(f"GRANT USAGE ON SEQUENCE {seq} TO {quoted}"))
    return GrantResult(role, found is None, privileges_of(conn, role), sorted(sequences),
                       sorted(set(tables) - WEB_GRANTS.keys() - ADMIN_ONLY))


def _quoted(name: str) -> str:
    """Quote an identifier read from the catalogue (any characters)."""
    return '"' + name.replace('"', '""') + '"'


def _serial_sequences(conn: Connection, schema: str, table: str) -> list[str]:
    """The sequences an INSERT into ``table`` draws from (serial and identity columns)."""
    rows = conn.execute(text("SELECT pg_get_serial_sequence(:t, column_name) FROM information_schema.columns "
                             "WHERE table_schema = :s AND table_name = :n"),
                        {"t": f"{_quoted(schema)}.{_quoted(table)}", "s": schema, "n": table}).scalars()
    return [r for r in rows if r]


def privileges_of(conn: Connection, role: str) -> dict[str, list[str]]:
    """Table -> privileges of ``role`` (table-wide, and column-wide as PRIVILEGE(column))."""
    out: dict[str, list[str]] = {}
    for table, privilege in conn.execute(text(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = :r ORDER BY table_name, privilege_type"), {"r": role}):
        out.setdefault(table, []).append(privilege)
    for table, column, privilege in conn.execute(text(
            "SELECT table_name, column_name, privilege_type FROM information_schema.column_privileges "
            "WHERE grantee = :r ORDER BY table_name, privilege_type, column_name"), {"r": role}):
        if privilege not in out.get(table, []):
            out.setdefault(table, []).append(f"{privilege}({column})")
    return out
