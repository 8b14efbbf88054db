"""The offline root's key ceremony (`govca ceremony run|verify`, docs/ceremony.md) and the online
side's import of the root's ARL (`govca crl import`).

A ceremony runs the steps of a reviewed ceremony file (workflows/ceremony_file.py) in order, in
the offline root's data directory, and writes a transcript signed with the root key in the HSM
(ca/ceremony_transcript.py): each step with its parameters, the SHA-256 of its inputs and
outputs, its start and end times, the operators and witnesses, and the root key's attributes
as the token reports them. A ceremony that stops on an error still writes its transcript,
saying at which step and why (signed when the root key exists)."""
from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .ceremony_file import Ceremony, Step, years_to_days
from .context import Admin
from .errors import WorkflowError, WrongStateError


class CeremonyStopped(WorkflowError):
    """A step failed: the ceremony stopped there; its transcript says so."""


def _iso(admin: Admin) -> str:
    return admin.now().isoformat(timespec="seconds").replace("+00:00", "Z")


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_against_home(admin: Admin, ceremony: Ceremony) -> None:
    """The ceremony's root against the data directory's CAs: a root to generate must not exist;
    a root the ceremony uses must exist here with its key."""
    cas = {c.name: c for c in admin.ca.list_cas()}
    pending = {p.name for p in admin.ca.list_pending()}
    root = ceremony.root
    if ceremony.generates_root:
        if root in cas or root in pending:
            raise WrongStateError(f"a CA named {root!r} exists already in this data directory; generate-root "
                                  "makes a new root")
        return
    ca = cas.get(root)
    if ca is None:
        raise WrongStateError(f"no root {root!r} in this data directory: its first ceremony begins with generate-root")
    if not ca.is_root or not ca.holds_key:
        raise WrongStateError(f"CA {root!r} is not a root whose key is in this data directory's CA token")


def run_ceremony(admin: Admin, ceremony: Ceremony, actor: str, *, initialised_now: bool) -> dict:
    """Run every step, write the transcript; the transcript's content. On a failed step the
    transcript is written and CeremonyStopped raised."""
    started = _iso(admin)
    done: list[dict] = []
    stopped = None
    failure: BaseException | None = None
    for step in ceremony.steps:
        record = {"step": step.number, "action": step.action, "parameters": step.params,
                  "inputs": [_file(ceremony, k, p) for k, p in step.inputs.items()], "started_at": _iso(admin)}
        try:
            record["result"] = _run_step(admin, ceremony, step, actor)
        except Exception as exc:  # noqa: BLE001 - any failure stops the ceremony and is written down
            stopped = {"step": step.number, "action": step.action, "error": f"{type(exc).__name__}: {exc}"}
            record["ended_at"], record["outcome"] = _iso(admin), "failed"
            record["outputs"] = [_file(ceremony, k, p) for k, p in step.outputs.items() if p.exists()]
            done.append(record)
            failure = exc
            break
        record["outputs"] = [_file(ceremony, k, p) for k, p in step.outputs.items()]
        record["ended_at"], record["outcome"] = _iso(admin), "done"
        done.append(record)
    content: dict[str, Any] = {
        "format": "govca-ceremony-transcript/1",
        "ceremony": {"name": ceremony.name, "file": _rel(ceremony, ceremony.path), "file_sha256": ceremony.sha256,
                     "root": ceremony.root, "base_url": ceremony.base_url},
        "operators": list(ceremony.operators), "witnesses": list(ceremony.witnesses),
        "data_directory_initialised_by_this_ceremony": initialised_now,
        "started_at": started, "ended_at": _iso(admin),
        "outcome": "stopped" if stopped else "completed", "stopped": stopped,
        "steps": done,
    }
    data = _seal(admin, ceremony, content)
    fd = os.open(ceremony.transcript, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    admin.audit(actor, "ceremony.run", ceremony.root, "failed" if stopped else "success", {
        "ceremony": ceremony.name, "file_sha256": ceremony.sha256, "steps": len(done),
        "transcript_sha256": hashlib.sha256(data).hexdigest(), **({"stopped": stopped} if stopped else {})})
    if failure is not None:
        raise CeremonyStopped(f"the ceremony stopped at step {stopped['step']} ({stopped['action']}): "
                              f"{failure}; transcript written to {ceremony.transcript}") from failure
    return content


def _seal(admin: Admin, ceremony: Ceremony, content: dict) -> bytes:
    """Sign the transcript with the root key, or leave it unsigned when no root key exists."""
    from ca.ceremony_transcript import signature_info, sign, unsigned

    root = next((c for c in admin.ca.list_cas() if c.name == ceremony.root and c.holds_key), None)
    if root is None:
        content["root"], content["signature"] = None, None
        return unsigned(content)
    keys = admin.ca.ctx.keys
    key = keys.get_key(root.key_uri)
    content["root"] = {"name": root.name, "subject": root.subject, "serial": root.serial_hex,
                       "certificate_sha256": hashlib.sha256(root.certificate_der).hexdigest(),
                       "certificate": base64.b64encode(root.certificate_der).decode(),
                       "key": keys.private_key_attributes(root.key_uri)}
    content["signature"] = signature_info(key)
    return sign(content, key)


def _run_step(admin: Admin, ceremony: Ceremony, step: Step, actor: str) -> dict:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from ca.offline import certify_request
    from hsm import KeyType

    def pem(der: bytes) -> bytes:
        return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)

    p, root = step.params, ceremony.root
    years = p.get("validity_years")
    days = None if years is None else years_to_days(years)
    if step.action == "generate-root":
        ca = admin.ca.create_root(name=root, subject=p["subject"], key_type=KeyType(p["key_type"]), actor=actor,
                                  validity_days=days)
        _write(step.outputs["certificate_out"], pem(ca.certificate_der))
        return {"serial": ca.serial_hex, "subject": ca.subject, "not_after": _t(ca.not_after), "key_uri": ca.key_uri}
    if step.action == "certify-issuing":
        rec = certify_request(admin.ca.ctx, root_name=root, request=step.inputs["request"].read_bytes(),
                              actor=actor, validity_days=days)
        _write(step.outputs["certificate_out"], pem(rec.der))
        return {"serial": rec.serial_hex, "subject": rec.subject, "not_after": _t(rec.not_after)}
    if step.action == "revoke":
        rec, crl = admin.ca.revoke(root, p["serial"], p["reason"], actor)
        return {"serial": rec.serial_hex, "subject": rec.subject, "crl_number": crl.crl_number}
    assert step.action == "sign-arl"
    crl = admin.ca.generate_crl(root, actor)
    _write(step.outputs["arl_out"], crl.der)  # DER, as served at an HTTP CRL URI (RFC 5280 4.2.1.13)
    return {"crl_number": crl.crl_number, "this_update": _t(crl.this_update), "next_update": _t(crl.next_update)}


def _t(value: Any) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # never over an earlier output
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _rel(ceremony: Ceremony, path: Path) -> str:
    """A path as the transcript names it: relative to the transcript's directory."""
    return os.path.relpath(path, ceremony.transcript.parent)


def _file(ceremony: Ceremony, key: str, path: Path) -> dict:
    return {"key": key, "file": _rel(ceremony, path), "sha256": _sha256_file(path)}


# --- verification ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TranscriptReport:
    content: dict
    root_subject: str
    root_sha256: str
    files: list[dict]   # each output: file, sha256, state (matches | absent | not checked)


def verify_transcript(path: Path, expected_root: bytes | None, check_outputs: bool) -> TranscriptReport:
    """Check the transcript at ``path`` (ca/ceremony_transcript.py) and, with ``check_outputs``,
    that each output file it names and still present next to it has the SHA-256 it states."""
    from ca.ceremony_transcript import verify

    checked = verify(path.read_bytes(), expected_root)
    files = []
    for step in checked.content.get("steps", []):
        for out in step.get("outputs", []):
            state = "not checked"
            if check_outputs:
                where = path.resolve().parent / out["file"]
                if not where.is_file():
                    state = "absent"
                elif _sha256_file(where) != out["sha256"]:
                    raise WrongStateError(f"output {out['file']} of step {step['step']} has changed since the "
                                          f"ceremony: its SHA-256 is not {out['sha256']}")
                else:
                    state = "matches"
            files.append({"step": step["step"], "file": out["file"], "sha256": out["sha256"], "state": state})
    return TranscriptReport(checked.content, checked.root_certificate.subject.rfc4514_string(),
                            checked.content["root"]["certificate_sha256"], files)


# --- the online side ------------------------------------------------------------------------------
def import_arl(admin: Admin, ca_name: str, data: bytes, actor: str) -> tuple[Any, bool]:
    """`govca crl import`: the ARL of an external (offline) root, checked and stored (ca/offline.py)."""
    from ca.offline import import_crl

    return import_crl(admin.ca.ctx, ca_name=ca_name, data=data, actor=actor)
