"""`govca ca refresh-parent`: fetch, verify and store the external parent's status (its CRL, its
OCSP answer) of each CA certificate it issued (ca/parent_status.py). Run it on a schedule, well
inside the parent's CRL nextUpdate; `/metrics` shows how old what it stored is."""
from __future__ import annotations

import sys

import click

from ca.context import utcnow
from ca.parent_status import Outcome, refresh_parent_status

from .admin import admin_of
from .ca_cmds import ca_group
from .runtime import actor, emit, ts


def _json(o: Outcome) -> dict:
    return {"ca": o.ca, "parent": o.parent, "kind": o.kind, "url": o.url, "ok": o.ok,
            "status": o.status.value if o.status else None, "this_update": o.this_update,
            "next_update": o.next_update, "stored": o.stored, "error": None if o.ok else o.message}


def _line(o: Outcome) -> str:
    if not o.ok:
        return f"{o.ca:<16} {o.kind:<4} {o.url}: {o.message}"
    shown = "REVOKED" if o.revoked else o.status.value if o.status else "-"
    return (f"{o.ca:<16} {o.kind:<4} {o.url}  thisUpdate {ts(o.this_update)}  nextUpdate {ts(o.next_update)}  "
            f"{shown}{'' if o.stored else '  (unchanged)'}")


@ca_group.command("refresh-parent")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ca_refresh_parent(ctx: click.Context, as_json: bool) -> None:
    """Fetch and verify the external parent's CRL and OCSP status of each CA certificate it issued.

    Exit code 1 when any URL failed (each named on stderr, what succeeded is kept) or when the
    parent reports a CA certificate revoked."""
    outcomes = refresh_parent_status(admin_of(ctx).db, actor(), utcnow)
    emit([_json(o) for o in outcomes], as_json, "\n".join(_line(o) for o in outcomes if o.ok)
         or ("no CA certificate here was issued by an external CA" if not outcomes else None))
    for o in outcomes:
        if not o.ok:
            click.echo(f"govca: error: {o.kind} {o.url} (CA {o.ca}): {o.message}", err=True)
        elif o.revoked:
            click.echo(f"govca: error: REVOKED: the parent {o.parent} reports CA {o.ca}'s certificate revoked "
                       f"({o.kind} {o.url}); stop issuing under it", err=True)
    if any(not o.ok or o.revoked for o in outcomes):
        sys.exit(1)
