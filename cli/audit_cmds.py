"""`govca audit verify|list|checkpoint|init-key`, and the checkpoint written after each
administrator command that appended audit records (cli/admin.py calls checkpoint_after)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from ca.audit_checkpoints import ExportDir, init_key, iso, load_anchor, verify, write_checkpoint
from ca.context import utcnow

from .admin import admin_of
from .runtime import actor, emit, ts


def export_dir(cfg: Any) -> ExportDir:
    return ExportDir(Path(cfg.audit.checkpoint_dir))


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log and its signed checkpoints (docs/audit.md)."""


@audit_group.command("verify")
@click.option("--from", "from_", metavar="CHECKPOINT",
              help="trust this checkpoint (its sequence number, or a checkpoint file) and check only the records after it")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def audit_verify(ctx, from_, as_json):  # type: ignore[no-untyped-def]
    """Verify the audit chain against its signed checkpoints; fails naming the first bad record,
    the checkpoint a truncated log no longer reaches, or a checkpoint whose signature is bad."""
    admin = admin_of(ctx)
    db, export = admin.ca.ctx.db, export_dir(admin.cfg)
    anchor = load_anchor(db, export, from_) if from_ else None
    result = verify(db, export, anchor)
    newest = result.newest
    data = {"ok": True, "records": result.records, "rows_read": result.rows_read, "last_seq": result.last_seq,
            "checkpoints": result.checkpoints, "newest_checkpoint": newest.seq if newest else None,
            "from": result.anchor or None}
    if newest is None:
        text = (f"audit chain intact: {result.records} records; no signed checkpoint yet, so removing the newest "
                "records cannot be detected (run `govca audit checkpoint`)")
    else:
        text = (f"audit chain intact: {result.records} records"
                + (f" after checkpoint {result.anchor} ({result.rows_read} rows read)" if result.anchor else "")
                + f"; {result.checkpoints} checkpoint signature(s) good; the log reaches the newest checkpoint "
                f"{newest.seq} ({iso(newest.time)}) and ends at record {result.last_seq}")
    emit(data, as_json, text)


@audit_group.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--action")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def audit_list(ctx, limit, action, as_json):  # type: ignore[no-untyped-def]
    """Show the newest audit records."""
    recs = admin_of(ctx).ca.audit_list(limit, action)
    emit([dataclasses.asdict(r) for r in recs], as_json, "\n".join(
        f"{r.seq:>6} {ts(r.time)} {r.actor:<14} {r.action:<18} {r.outcome:<8} {r.subject}" for r in recs)
        or "no audit records")


@audit_group.command("checkpoint")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def audit_checkpoint(ctx, as_json):  # type: ignore[no-untyped-def]
    """Sign a checkpoint of the audit log's head with the audit key (CA token) and export it
    (run hourly; docs/audit.md). The audit key is made on first use."""
    admin = admin_of(ctx)
    cactx = admin.ca.ctx
    cactx.open_ca_token()
    export = export_dir(admin.cfg)
    cp, new = write_checkpoint(cactx.db, cactx.keys, export, actor(), utcnow())
    emit({"seq": cp.seq, "hash": cp.hash, "time": cp.time, "key_sha256": cp.key_sha256, "new": new,
          "file": str(export.file_of(cp.seq))}, as_json,
         f"checkpoint {cp.seq} {'signed' if new else 'already signed (no record since)'} at {iso(cp.time)}; "
         f"exported to {export.file_of(cp.seq)}")


@audit_group.command("init-key")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def audit_init_key(ctx, as_json):  # type: ignore[no-untyped-def]
    """Make the audit key (EC P-384, in the CA token) if there is none, and export its public key."""
    admin = admin_of(ctx)
    cactx = admin.ca.ctx
    cactx.open_ca_token()
    export = export_dir(admin.cfg)
    _, fingerprint, made = init_key(cactx.db, cactx.keys, export, actor(), utcnow())
    from ca.audit_checkpoints import KEY_FILE

    emit({"key_sha256": fingerprint, "created": made, "public_key": str(export.path / KEY_FILE)}, as_json,
         f"audit key {'created' if made else 'present'}: SHA-256 of its SubjectPublicKeyInfo {fingerprint}; "
         f"public key in {export.path / KEY_FILE}")


def checkpoint_after(cfg: Any, keys: Any, db: Any) -> None:
    """After a command that appended audit records: sign a checkpoint if the CA token can be used
    without asking anyone (already logged in, or a PIN source that is not a prompt). A failure is
    one warning line; the command's own outcome stands and the next checkpoint covers its records."""
    from hsm import sessions_open

    try:
        if keys.config.pin_source.kind == "prompt" and keys.label not in sessions_open():
            raise click.ClickException("the CA token was not opened by this command and its PIN source is a prompt")
        keys.open()
        write_checkpoint(db, keys, export_dir(cfg), actor(), utcnow())
    except Exception as exc:  # noqa: BLE001 - a checkpoint never fails the command that succeeded
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"warning: audit checkpoint not written ({message.splitlines()[0] if message else type(exc).__name__}); "
                   "the next `govca audit checkpoint` covers these records", err=True)
