"""The append-only audit log: each record carries the hash of the one before it.

record hash = SHA-256(prev_hash | canonical JSON of seq, time, actor, action, subject, outcome,
details). Deleting, reordering or editing any record breaks the chain at that point; the head
row holds the last sequence number and hash, so removing the newest record is detected too.
The hashes are not keyed: someone who can write the database can rebuild the chain and the head
row. Signed checkpoints exported outside the database (ca/audit_checkpoints.py) catch that.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from .errors import AuditChainError
from .records import AuditRecord
from .storage.models import AuditHeadRow, AuditRow

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEvent:
    actor: str
    action: str
    subject: str
    outcome: str  # "success" | "refused" | "failed"
    details: dict = field(default_factory=dict)


def canonical(seq: int, time: dt.datetime, e: AuditEvent) -> bytes:
    body = {"seq": seq, "time": time.astimezone(dt.timezone.utc).isoformat(timespec="microseconds"),
            "actor": e.actor, "action": e.action, "subject": e.subject, "outcome": e.outcome, "details": e.details}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def record_hash(prev_hash: str, seq: int, time: dt.datetime, e: AuditEvent) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"|" + canonical(seq, time, e)).hexdigest()


def append(session: Session, event: AuditEvent, now: dt.datetime) -> int:
    """Append one record inside the caller's transaction; returns its sequence number. Core
    statements, not the ORM unit of work: every audited operation pays for this."""
    head = session.execute(select(AuditHeadRow.last_seq, AuditHeadRow.last_hash)
                           .where(AuditHeadRow.id == 1).with_for_update()).one()
    seq = head.last_seq + 1
    now = now.astimezone(dt.timezone.utc)
    digest = record_hash(head.last_hash, seq, now, event)
    session.execute(insert(AuditRow).values(
        seq=seq, time=now, actor=event.actor, action=event.action, subject=event.subject, outcome=event.outcome,
        details=json.dumps(event.details, sort_keys=True, ensure_ascii=False), prev_hash=head.last_hash, hash=digest))
    session.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(last_seq=seq, last_hash=digest))
    return seq


def _record(row: AuditRow) -> AuditRecord:
    return AuditRecord(seq=row.seq, time=row.time, actor=row.actor, action=row.action, subject=row.subject,
                       outcome=row.outcome, details=json.loads(row.details), prev_hash=row.prev_hash, hash=row.hash)


def verify(session: Session) -> int:
    """Check the whole chain; returns the number of records or raises AuditChainError at the first bad one."""
    return walk(session).records


@dataclass(frozen=True)
class Walk:
    """What a walk of the chain saw: ``records`` checked, ``rows_read`` from the database (the
    records checked plus the anchor record of an incremental walk), the last sequence number and hash."""

    records: int
    rows_read: int
    last_seq: int
    last_hash: str


WALK_BATCH = 2000  # rows fetched per round trip: the walk streams, its memory does not grow with the log


def walk(session: Session, after: int = 0, prev_hash: str = GENESIS, expect: dict[int, str] | None = None,
         with_head: bool = True) -> Walk:
    """Check the records after ``after`` (whose hash is ``prev_hash``: GENESIS from the start, or a
    checkpoint's) up to the head row; raises AuditChainError at the first bad record. ``expect``
    maps sequence numbers to the hash a signed checkpoint holds for them: a record that differs
    is named (the log was rewritten at or before it). Rows are streamed, never all held.
    ``with_head``: also check the head row (check_head) at the end."""
    prev = prev_hash
    expected_seq = after + 1
    count = 0
    expect = expect or {}
    columns = (AuditRow.seq, AuditRow.time, AuditRow.actor, AuditRow.action, AuditRow.subject, AuditRow.outcome,
               AuditRow.details, AuditRow.prev_hash, AuditRow.hash)
    rows = session.execute(select(*columns).where(AuditRow.seq > after).order_by(AuditRow.seq)
                           .execution_options(yield_per=WALK_BATCH))
    for row in rows:
        if row.seq != expected_seq:
            raise AuditChainError(f"audit record {expected_seq} is missing (next present is {row.seq})", expected_seq)
        if row.prev_hash != prev:
            raise AuditChainError(f"audit record {row.seq} does not follow record {row.seq - 1} "
                                  "(a record before it was changed or removed)", row.seq)
        try:
            details = json.loads(row.details)
        except ValueError:
            raise AuditChainError(f"audit record {row.seq} has unreadable details", row.seq) from None
        event = AuditEvent(row.actor, row.action, row.subject, row.outcome, details)
        if record_hash(prev, row.seq, row.time, event) != row.hash:
            raise AuditChainError(f"audit record {row.seq} was altered (its hash does not match its content)", row.seq)
        signed = expect.get(row.seq)
        if signed is not None and signed != row.hash:
            raise AuditChainError(f"audit record {row.seq} is not the record checkpoint {row.seq} signed: the log "
                                  f"was rewritten at or before record {row.seq}", row.seq)
        prev = row.hash
        expected_seq += 1
        count += 1
    rows.close()
    last = expected_seq - 1
    if with_head:
        check_head(session, last, prev)
    return Walk(records=count, rows_read=count, last_seq=last, last_hash=prev)


def check_head(session: Session, last: int, last_hash: str) -> None:
    """The head row must name the last record walked: removing the newest records is detected."""
    head = session.execute(select(AuditHeadRow).where(AuditHeadRow.id == 1)).scalar_one()
    if head.last_seq != last or head.last_hash != last_hash:
        raise AuditChainError(f"audit record {last + 1} is missing (the log ends at {last}, "
                              f"its head says {head.last_seq})", last + 1)


def head(session: Session) -> tuple[int, str]:
    """The head row: (last sequence number, last hash)."""
    row = session.execute(select(AuditHeadRow.last_seq, AuditHeadRow.last_hash).where(AuditHeadRow.id == 1)).one()
    return row.last_seq, row.last_hash


def record_hash_at(session: Session, seq: int) -> str | None:
    """The stored hash of record ``seq`` (None if there is none): one row read."""
    return session.execute(select(AuditRow.hash).where(AuditRow.seq == seq)).scalar_one_or_none()


def list_records(session: Session, limit: int = 100, action: str | None = None) -> list[AuditRecord]:
    q = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
    if action:
        q = q.where(AuditRow.action == action)
    return [_record(r) for r in reversed(session.execute(q).scalars().all())]
