"""CA rollover in the CA's own terms: which CA may be rolled over, and the state change that
retires it (ca/records.py CaState), audited in the same transaction.

The orchestration (create or request the successor, its OCSP responder, pre-signing) is
workflows/rollover.py; this module only reads the hierarchy and flips the state."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .audit import AuditEvent, append
from .context import CaContext
from .errors import CaExistsError, CaStateError
from .records import CaRecord, CaState
from .storage.models import CaRow
from .storage.repositories import CaRepository, PendingCaRepository

ACTION = "ca.rollover"


@dataclass(frozen=True)
class RolloverPlan:
    old: CaRecord           # the active issuing CA being replaced
    parent: CaRecord        # its parent, which certifies the successor too

    @property
    def parent_is_external(self) -> bool:
        """The parent's key is not here (a national or offline root): the successor is requested."""
        return not self.parent.holds_key


def plan(ctx: CaContext, old_name: str, new_name: str) -> RolloverPlan:
    """Check that ``old_name`` may be rolled over to ``new_name``; reads only, raises CaError."""
    from .external import check_ca_name  # the one CA-name rule (names appear in URLs and key labels)

    check_ca_name(new_name)
    now = ctx.clock()
    with ctx.db.reader() as s:
        repo = CaRepository(s)
        old = repo.get(old_name)
        if old.is_root or old.profile != "issuing-ca":
            raise CaStateError(f"CA {old_name} is a {'root' if old.is_root else old.profile}: only an issuing CA is "
                               "rolled over (a new root is a new hierarchy: `govca ca create-root` or a ceremony)")
        shown = old.shown_state(now)
        if shown is not CaState.ACTIVE:
            why = {CaState.RETIRING: "it is retiring already (rolled over before)",
                   CaState.EXTERNAL: "it is external (its key is not in this data directory)",
                   CaState.EXPIRED: "it has expired (create a new issuing CA with `govca ca create-issuing`)"}
            raise CaStateError(f"CA {old_name} cannot be rolled over: {why.get(shown, shown.value)}")
        waiting = [p.name for p in PendingCaRepository(s).list() if p.successor_of == old_name]
        if waiting:
            raise CaStateError(f"CA {old_name} has a successor waiting for its certificate already: {waiting[0]} "
                               "(`govca ca import-certificate --name " + waiting[0] + " ...`)")
        if repo.exists(new_name):
            raise CaExistsError(f"a CA named {new_name!r} already exists")
        assert old.parent_name is not None
        parent = repo.get(old.parent_name)
    if parent.shown_state(now) is CaState.EXPIRED:
        raise CaStateError(f"the parent of {old_name}, {parent.name}, has expired: it certifies no successor")
    return RolloverPlan(old, parent)


def retire_predecessor(session: Session, old_name: str, successor: str, actor: str, now: dt.datetime,
                       details: dict | None = None) -> CaRecord:
    """In the caller's transaction: ``old_name`` (still ACTIVE, checked under a row lock) becomes
    RETIRING because ``successor`` took over issuance; one ``ca.rollover`` audit record."""
    state = session.execute(select(CaRow.state).where(CaRow.name == old_name).with_for_update()).scalar_one_or_none()
    if state != CaState.ACTIVE.value:
        raise CaStateError(f"CA {old_name} is {state or 'gone'}, no longer active: it was not marked retiring "
                           f"(successor {successor})")
    retired = CaRepository(session).set_state(old_name, CaState.RETIRING)
    append(session, AuditEvent(actor, ACTION, old_name, "success",
                               {"successor": successor, "state": CaState.RETIRING.value, **(details or {})}), now)
    return retired


def retire(ctx: CaContext, old_name: str, successor: str, actor: str, details: dict | None = None) -> CaRecord:
    """``retire_predecessor`` in a transaction of its own."""
    with ctx.db.unit_of_work() as s:
        return retire_predecessor(s, old_name, successor, actor, ctx.clock(), details)
