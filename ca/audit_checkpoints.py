"""Signed audit checkpoints: the audit key in the CA token signs (sequence number, chained hash,
time) of the audit log's head, in the database and in an export directory outside it.

The chain of ca/audit.py is unkeyed: whoever can write the database can delete the newest records
and fix the head row, or rebuild the chain after an edit. A checkpoint is a signature nobody
without the CA token can make; exported to other storage (WORM, another host) it outlives the
database. `verify` then names the newest checkpoint the log no longer reaches.

Signed message (ASCII, fixed; the first line separates it from every other govca signature)::

    govca-audit-checkpoint-v1\\n<seq in decimal>\\n<hash: 64 lowercase hex>\\n<time: YYYY-MM-DDTHH:MM:SS.ffffffZ>\\n

signed with ECDSA P-384 / SHA-384 (the audit key, label ``govca-audit-checkpoint-v1``); the
signature is DER (RFC 3279 2.2.3 Ecdsa-Sig-Value). ``key_sha256`` is the SHA-256 of the key's
SubjectPublicKeyInfo. The export directory holds ``checkpoint-<seq>.json`` per checkpoint and
the public key ``audit-checkpoint-key.pem``, so an auditor checks them without the HSM
(docs/audit.md).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from hsm import KeyNotFoundError, KeyType, KeyUri, as_cryptography_key

from . import audit
from .audit import AuditEvent
from .errors import AuditChainError, CaError
from .storage.db import Database
from .storage.models import AuditCheckpointRow

KEY_LABEL = "govca-audit-checkpoint-v1"
DOMAIN = "govca-audit-checkpoint-v1"
KEY_TYPE = KeyType.EC_P384
KEY_FILE = "audit-checkpoint-key.pem"
_FILE = re.compile(r"checkpoint-(\d{12})\.json")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class CheckpointError(CaError):
    """A checkpoint cannot be written (no key, another key pinned, export directory unusable)."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    time: dt.datetime
    key_sha256: str
    signature: bytes

    def message(self) -> bytes:
        return message(self.seq, self.hash, self.time)

    def to_json(self) -> dict:
        return {"format": DOMAIN, "seq": self.seq, "hash": self.hash, "time": iso(self.time),
                "key_sha256": self.key_sha256, "signature": base64.b64encode(self.signature).decode("ascii")}

    @classmethod
    def from_json(cls, data: object, where: str) -> "Checkpoint":
        refused = AuditChainError(f"{where} is not a govca audit checkpoint", None)
        if not isinstance(data, dict) or data.get("format") != DOMAIN:
            raise refused
        seq, digest, key, time, signature = (data.get(k) for k in ("seq", "hash", "key_sha256", "time", "signature"))
        if not (isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 and isinstance(digest, str)
                and _HEX64.fullmatch(digest) and isinstance(key, str) and _HEX64.fullmatch(key)
                and isinstance(time, str) and isinstance(signature, str)):
            raise refused
        try:
            when = dt.datetime.strptime(time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
            raw = base64.b64decode(signature, validate=True)
        except ValueError:
            raise refused from None
        return cls(seq, digest, when, key, raw)


def iso(time: dt.datetime) -> str:
    return time.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message(seq: int, digest: str, time: dt.datetime) -> bytes:
    """The signed bytes: domain-separated, one field a line (docs/audit.md)."""
    return f"{DOMAIN}\n{seq}\n{digest}\n{iso(time)}\n".encode("ascii")


def spki_sha256(public_key: Any) -> str:
    return hashlib.sha256(public_key.public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


# --- the export directory ------------------------------------------------------------------------
class ExportDir:
    """One write-once file per checkpoint and the audit public key (PEM), outside the database."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def file_of(self, seq: int) -> Path:
        return self.path / f"checkpoint-{seq:012d}.json"

    def public_key(self) -> Any | None:
        path = self.path / KEY_FILE
        if not path.exists():
            return None
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except ValueError:
            raise AuditChainError(f"{path} is not a PEM public key", None) from None
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise AuditChainError(f"{path} is not an EC public key", None)
        return key

    def pin_key(self, public_key: Any) -> None:
        """Write the public key once; another key already there is refused (no rotation in v1)."""
        held = self.public_key()
        if held is not None:
            if spki_sha256(held) != spki_sha256(public_key):
                raise CheckpointError(f"{self.path / KEY_FILE} holds another audit key ({spki_sha256(held)[:16]}…) "
                                      f"than the CA token ({spki_sha256(public_key)[:16]}…): audit key rotation "
                                      "is not supported (docs/audit.md)")
            return
        pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self._write_once(self.path / KEY_FILE, pem)

    def write(self, cp: Checkpoint) -> Path:
        path = self.file_of(cp.seq)
        self._write_once(path, (json.dumps(cp.to_json(), sort_keys=True, indent=1) + "\n").encode("ascii"))
        return path

    def _write_once(self, path: Path, data: bytes) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if path.exists():
                if path.read_bytes() != data:
                    raise CheckpointError(f"{path} exists with other content; it is never overwritten")
                return
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise CheckpointError(f"cannot write {path}: {exc.strerror or exc}") from None

    def checkpoints(self, from_seq: int = 0) -> list[Checkpoint]:
        if not self.path.is_dir():
            return []
        out = []
        for entry in os.scandir(self.path):
            m = _FILE.fullmatch(entry.name)
            if m and int(m.group(1)) >= from_seq:
                out.append(read_checkpoint_file(Path(entry.path)))
        return sorted(out, key=lambda c: c.seq)


def read_checkpoint_file(path: Path) -> Checkpoint:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        raise AuditChainError(f"{path} is not a readable checkpoint file", None) from None
    cp = Checkpoint.from_json(data, str(path))
    m = _FILE.fullmatch(path.name)
    if m and int(m.group(1)) != cp.seq:
        raise AuditChainError(f"{path} holds checkpoint {cp.seq}, not the one its name says", cp.seq)
    return cp


# --- the audit key and writing checkpoints -----------------------------------------------------------
def audit_key(keys: Any, create: bool) -> tuple[Any, bool]:
    """(the audit key in the CA token, whether it was made now). Made only when ``create``."""
    try:
        return keys.get_key(KeyUri(keys.label, KEY_LABEL, b"")), False
    except KeyNotFoundError:
        if not create:
            raise CheckpointError(f"the CA token holds no audit key {KEY_LABEL!r}; run `govca audit init-key`") from None
    return keys.generate_key_pair(KEY_TYPE, KEY_LABEL), True


def init_key(db: Database, keys: Any, export: ExportDir, actor: str, now: dt.datetime) -> tuple[Any, str, bool]:
    """(key, SPKI SHA-256, made now): makes the audit key if the CA token has none (audited) and
    pins its public key in the export directory."""
    key, made = audit_key(keys, create=True)
    export.pin_key(key.public_key)
    fingerprint = spki_sha256(key.public_key)
    if made:
        with db.unit_of_work() as s:
            audit.append(s, AuditEvent(actor, "audit.key-create", KEY_LABEL, "success",
                                       {"key_sha256": fingerprint, "key_type": KEY_TYPE.value}), now)
    return key, fingerprint, made


def write_checkpoint(db: Database, keys: Any, export: ExportDir, actor: str, now: dt.datetime) -> tuple[Checkpoint, bool]:
    """Sign the audit head (making the audit key first if there is none) and store the checkpoint
    in the database and the export directory. Returns (checkpoint, whether it is new): a head that
    has a checkpoint already is exported again (if missing there), not signed twice."""
    key, fingerprint, _ = init_key(db, keys, export, actor, now)
    with db.reader() as s:
        last_seq, last_hash = audit.head(s)
        if last_seq == 0:
            raise CheckpointError("the audit log is empty: nothing to checkpoint")
        if audit.record_hash_at(s, last_seq) != last_hash:
            raise CheckpointError(f"the audit head names record {last_seq}, which the log does not hold with its hash; "
                                  "run `govca audit verify`")
        pinned = s.execute(select(AuditCheckpointRow.key_sha256).order_by(AuditCheckpointRow.seq).limit(1)).scalar()
        held = s.execute(select(AuditCheckpointRow).where(AuditCheckpointRow.seq == last_seq)).scalar_one_or_none()
        existing = _checkpoint(held) if held is not None else None
    if pinned is not None and pinned != fingerprint:
        raise CheckpointError(f"the first checkpoint pins audit key {pinned[:16]}…, the CA token's is "
                              f"{fingerprint[:16]}…: audit key rotation is not supported (docs/audit.md)")
    if existing is not None:
        export.write(existing)
        return existing, False
    time = now.astimezone(dt.timezone.utc)
    signature = as_cryptography_key(key).sign(message(last_seq, last_hash, time), ec.ECDSA(hashes.SHA384()))
    cp = Checkpoint(last_seq, last_hash, time, fingerprint, signature)
    try:
        with db.unit_of_work() as s:
            s.execute(insert(AuditCheckpointRow).values(seq=cp.seq, hash=cp.hash, time=cp.time,
                                                        key_sha256=cp.key_sha256, signature=cp.signature))
    except IntegrityError:  # another process checkpointed this head meanwhile: export theirs
        with db.reader() as s:
            cp = _checkpoint(s.execute(select(AuditCheckpointRow).where(AuditCheckpointRow.seq == last_seq)).scalar_one())
        export.write(cp)
        return cp, False
    export.write(cp)
    return cp, True


def _checkpoint(row: AuditCheckpointRow) -> Checkpoint:
    return Checkpoint(row.seq, row.hash, row.time, row.key_sha256, bytes(row.signature))


# --- verification ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verified:
    """``records``: records whose hashes were checked; ``rows_read``: audit rows read from the
    database (an incremental check reads the trusted checkpoint's record and those after it)."""

    records: int
    rows_read: int
    last_seq: int
    checkpoints: int
    newest: Checkpoint | None
    anchor: int  # 0: from the first record; else the seq of the trusted checkpoint


def load_anchor(db: Database, export: ExportDir, spec: str) -> Checkpoint:
    """``--from``: a checkpoint's sequence number (from the export directory, else the database) or a file."""
    if spec.isdigit():
        seq = int(spec)
        if export.file_of(seq).exists():
            return read_checkpoint_file(export.file_of(seq))
        with db.reader() as s:
            row = s.execute(select(AuditCheckpointRow).where(AuditCheckpointRow.seq == seq)).scalar_one_or_none()
            if row is None:
                raise AuditChainError(f"no checkpoint {seq} in {export.path} or in the database", None)
            return _checkpoint(row)
    return read_checkpoint_file(Path(spec))


def _check(cp: Checkpoint, public: Any, pinned: str, where: str) -> None:
    if cp.key_sha256 != pinned:
        raise AuditChainError(f"checkpoint {cp.seq} in {where} names another key ({cp.key_sha256[:16]}…) than the "
                              f"pinned audit key ({pinned[:16]}…): refused", cp.seq)
    try:
        public.verify(cp.signature, cp.message(), ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise AuditChainError(f"checkpoint {cp.seq} in {where} has a bad signature (forged or altered)", cp.seq) from None


def verify(db: Database, export: ExportDir, anchor: Checkpoint | None = None) -> Verified:
    """The chain (from the first record, or after the trusted ``anchor``) against every checkpoint
    from the anchor on, in the database and in the export directory: each signature is checked
    with the exported public key, the log must hold each checkpoint's record with its hash, and
    must reach the newest checkpoint. Raises AuditChainError naming the first bad record or checkpoint."""
    public = export.public_key()
    start = anchor.seq if anchor is not None else 0
    with db.reader() as s:
        in_db = [_checkpoint(r) for r in s.execute(select(AuditCheckpointRow).where(AuditCheckpointRow.seq >= start)
                                                   .order_by(AuditCheckpointRow.seq)).scalars()]
        in_files = export.checkpoints(start)
        if public is None and (in_db or in_files or anchor is not None):
            raise AuditChainError(f"checkpoints exist but {export.path / KEY_FILE} does not: they cannot be checked", None)
        pinned = spki_sha256(public) if public is not None else ""
        by_seq: dict[int, Checkpoint] = {}
        for where, cps in (("the database", in_db), (str(export.path), in_files)):
            for cp in cps:
                _check(cp, public, pinned, where)
                if by_seq.setdefault(cp.seq, cp) != cp:
                    raise AuditChainError(f"checkpoint {cp.seq} differs between the database and {export.path}", cp.seq)
        prev, rows = audit.GENESIS, 0
        if anchor is not None:
            _check(anchor, public, pinned, "--from")
            if by_seq.setdefault(anchor.seq, anchor) != anchor:
                raise AuditChainError(f"the --from checkpoint {anchor.seq} differs from the stored one", anchor.seq)
            stored, rows = audit.record_hash_at(s, anchor.seq), 1
            if stored is None:
                raise AuditChainError(f"audit record {anchor.seq}, which the trusted checkpoint {anchor.seq} signed, is "
                                      "missing (the log was truncated)", anchor.seq)
            if stored != anchor.hash:
                raise AuditChainError(f"audit record {anchor.seq} is not the record checkpoint {anchor.seq} signed: the "
                                      f"log was rewritten at or before record {anchor.seq}", anchor.seq)
            prev = anchor.hash
        newest = by_seq[max(by_seq)] if by_seq else None
        if newest is None and public is not None:
            raise AuditChainError(f"{export.path / KEY_FILE} pins an audit key but neither the database nor "
                                  f"{export.path} holds a checkpoint: they were removed (or none was ever written: "
                                  "run `govca audit checkpoint`)", None)
        walked = audit.walk(s, after=start, prev_hash=prev, expect={q: c.hash for q, c in by_seq.items() if q > start},
                            with_head=False)
        if newest is not None and newest.seq > walked.last_seq:
            _truncated(newest, by_seq, walked.last_seq)
        audit.check_head(s, walked.last_seq, walked.last_hash)
        missing = sorted(set(c.seq for c in in_files) - set(c.seq for c in in_db))
        if missing:
            raise AuditChainError(f"checkpoint {missing[0]} of {export.path} is missing from the database (deleted)",
                                  missing[0])
    return Verified(records=walked.records, rows_read=walked.rows_read + rows, last_seq=walked.last_seq,
                    checkpoints=len(by_seq), newest=newest, anchor=start)


def _truncated(newest: Checkpoint, by_seq: dict[int, Checkpoint], last: int) -> None:
    lost = sorted(q for q in by_seq if q > last)
    raise AuditChainError(f"audit record {last + 1} and after are missing: the log was truncated at record {last}, "
                          f"behind checkpoint {newest.seq} (signed {iso(newest.time)}), the newest checkpoint the log "
                          f"no longer reaches ({len(lost)} unreached, the first {lost[0]})", last + 1)
