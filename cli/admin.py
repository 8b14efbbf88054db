"""The administrator workflows' collaborators (workflows/context.py `Admin`), built from a data
directory's configuration. Each is built on first use, so a command opens only what its workflow
needs: the CA token only through the CA service, every other key in the service token."""
from __future__ import annotations

import datetime as dt
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

import click

from ca.context import utcnow
from ca.storage.db import Database

from .compose import build_ca_service, service_token
from .config import GovcaConfig, load_config
from .signer_wiring import audit_writer, official_repository, secret_vault, signer_repository


class AdminWiring:
    """workflows.context.Admin for the data directory ``home``; close() releases its database."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.cfg: GovcaConfig = load_config(home)
        self._audit_head: int | None = None  # the audit head when the command first used the database

    def _note_audit_head(self, db: Database) -> None:
        if self._audit_head is None:
            from ca.audit import head

            try:
                with db.reader() as s:
                    self._audit_head = head(s)[0]
            except Exception:  # noqa: BLE001 - a database without the schema yet: nothing to checkpoint
                self._audit_head = None

    @cached_property
    def db(self) -> Database:
        db = Database(self.cfg.database_url)
        self._note_audit_head(db)
        return db

    @cached_property
    def ca(self) -> Any:
        service = build_ca_service(self.home)
        self._note_audit_head(service.ctx.db)
        return service

    @cached_property
    def service_keys(self) -> Any:
        return service_token(self.cfg)

    @cached_property
    def registry(self) -> Any:
        return signer_repository(self.db)

    @cached_property
    def officials(self) -> Any:
        # The PIN key is created here on first use: enrolment is the one single-process path.
        return official_repository(self.home, self.db, self.service_keys, create_pin_key=True)

    def api_secret_record(self, secret: str) -> str:
        # The API-client MAC key is created on first use here (`govca apiclient create`); servers only look it up.
        return secret_vault(self.service_keys, create_key=True).record(secret)

    def responder(self) -> Any:
        from .ocsp_wiring import build_responder

        return build_responder(self.cfg, self.db)[0]

    def audit(self, actor: str, action: str, subject: str, outcome: str, details: dict) -> None:
        audit_writer(self.db)(actor, action, subject, outcome, details)

    def now(self) -> dt.datetime:
        return utcnow()

    def close(self) -> None:
        try:
            self._checkpoint_if_audited()
        finally:
            self._dispose()

    def _checkpoint_if_audited(self) -> None:
        """A signed audit checkpoint after a command that succeeded and appended audit records
        (docs/audit.md). A failing command's refusal record waits for the next checkpoint, so its
        one-line error stays one line."""
        failing = sys.exc_info()[1]
        if self._audit_head is None or (failing is not None and getattr(failing, "exit_code", 1) != 0):
            return
        from ca.audit import head

        from .audit_cmds import checkpoint_after
        from .compose import ca_token

        ca = self.__dict__.get("ca")
        db = ca.ctx.db if ca is not None else self.db
        try:
            with db.reader() as s:
                if head(s)[0] == self._audit_head:
                    return
        except Exception as exc:  # noqa: BLE001 - never fails the command that succeeded
            click.echo(f"warning: audit checkpoint not written (the audit head cannot be read: "
                       f"{type(exc).__name__})", err=True)
            return
        checkpoint_after(self.cfg, ca.ctx.keys if ca is not None else ca_token(self.cfg), db)

    def _dispose(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()
        ca = self.__dict__.get("ca")
        if ca is not None:
            ca.ctx.db.dispose()


def admin_of(ctx: click.Context) -> AdminWiring:
    """The command's collaborators, one set per invocation, released when the command ends."""
    root = ctx.find_root()
    root.ensure_object(dict)
    if "admin" not in root.obj:
        admin = root.obj["admin"] = AdminWiring(Path(root.obj["home"]))
        root.call_on_close(admin.close)
    return root.obj["admin"]
