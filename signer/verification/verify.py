"""Validation of a signed PDF for people: every signature and document time-stamp gets one of
three verdicts (EN 319 102-1 5.1.3 status indications: TOTAL-PASSED = valid, TOTAL-FAILED =
invalid, INDETERMINATE = cannot be confirmed) with its reason in one sentence, in Thai and English.

Nothing is fetched from the network: trust anchors are govca's roots plus configured ones, and
revocation data comes from the document (DSS / CMS) and govca's own in-process sources.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Callable

from asn1crypto import x509 as ax509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from ..pdf_checks import read_pdf
from ..pdf_guard import DEFAULT_BUDGETS, Budgets, guard, held

# pyHanko logs each revoked or untrusted certificate it meets, and each modification its diff
# analysis finds suspicious, with a traceback at WARNING; for a verification service those are
# results, reported on the page, not faults.
for _name_ in ("pyhanko.sign.validation.generic_cms", "pyhanko.sign.validation.pdf_embedded",
               "pyhanko.sign.diff_analysis.policies"):
    logging.getLogger(_name_).setLevel(logging.ERROR)
from ..revinfo import RevocationData
from ..thai import BANGKOK, english_date, thai_date
from .attachments import section as associated_section
from .text import CERTIFICATION, CHANGES, NOTES, REASONS, REVOCATION_REASONS, VERDICTS, say

RevocationNow = Callable[[list[tuple[bytes, bytes]]], RevocationData]


@dataclass(frozen=True)
class TrustSettings:
    """Trust anchors: govca's roots and any configured roots (e.g. the Thailand NRCA)."""

    roots: tuple[bytes, ...]


def _name(name: ax509.Name) -> dict[str, str]:
    n = name.native
    return {k: v for k, v in {
        "common_name": n.get("common_name"), "organization": n.get("organization_name"),
        "organization_identifier": n.get("organization_identifier"), "serial_number": n.get("serial_number"),
        "given_name": n.get("given_name"), "surname": n.get("surname"), "country": n.get("country_name"),
    }.items() if v}


def _when(value: dt.datetime | None) -> dict[str, str] | None:
    """A time for the page, to the second: a signing and a revocation in the same minute must
    show their order (Asia/Bangkok, Buddhist era in Thai)."""
    if value is None:
        return None
    local = value.astimezone(BANGKOK)
    offset = local.strftime("%z")
    return {"iso": value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            "th": f"{thai_date(local.date())} เวลา {local:%H:%M:%S} น.",
            "en": f"{english_date(local.date())}, {local:%H:%M:%S} (UTC{offset[:3]}:{offset[3:]})"}


def _reason(code: str | None) -> dict[str, str | None]:
    th, en = REVOCATION_REASONS.get(code, REVOCATION_REASONS[None])
    return {"code": code, "th": th, "en": en}


def _revoked_in(data: RevocationData | None, cert: Any) -> tuple[dt.datetime, str | None] | None:
    """The revocation time and RFC 5280 5.3.1 reason of ``cert`` in today's OCSP responses, if
    they say it is revoked."""
    from asn1crypto import ocsp as aocsp

    for der in (data.ocsps if data else ()):
        basic = aocsp.OCSPResponse.load(der).basic_ocsp_response
        for single in basic["tbs_response_data"]["responses"]:
            if single["cert_id"]["serial_number"].native != cert.serial_number:
                continue
            if single["cert_status"].name == "revoked":
                info = single["cert_status"].chosen
                return info["revocation_time"].native, info["revocation_reason"].native
    return None


@dataclass(frozen=True)
class _Material:
    """The DSS's certificates, OCSP responses and CRLs, parsed once per document."""

    certs: list
    ocsps: list
    crls: list

    @classmethod
    def of(cls, reader: PdfFileReader) -> "_Material":
        from asn1crypto import crl as acrl
        from asn1crypto import ocsp as aocsp
        from pyhanko.pdf_utils.decode_limits import DecodePurpose

        try:
            dss = DocumentSecurityStore.read_dss(reader)
        except Exception:  # noqa: BLE001 - no (or an unreadable) DSS: validate with what the CMS holds
            return cls([], [], [])
        return cls(list(dss.load_certs()),
                   [aocsp.OCSPResponse.load(r.get_object().read_data(DecodePurpose.OCSP_RESPONSE)) for r in dss.ocsps],
                   [acrl.CertificateList.load(r.get_object().read_data(DecodePurpose.CRL)) for r in dss.crls])


def _timestamp_time(sig: Any) -> dt.datetime | None:
    """genTime of the signature's time-stamp token, read without validating it (that comes next)."""
    from pyhanko.sign.validation.generic_cms import extract_tst_data_iter

    try:
        for tst in extract_tst_data_iter(sig.signer_info, signed=False):
            return tst["encap_content_info"]["content"].parsed["gen_time"].native
    except Exception:  # noqa: BLE001 - an unreadable token: judged without it
        return None
    return None


def _issuer_of(cert: ax509.Certificate, known: list) -> ax509.Certificate | None:
    """The issuer of ``cert`` among ``known``: same name, and where both carry them, the issuer's
    subjectKeyIdentifier equal to the certificate's authorityKeyIdentifier (RFC 5280 4.2.1.1).
    After a rollover two issuing CAs may share one name; their keys tell them apart."""
    named = [c for c in known if c.subject == cert.issuer]
    aki = cert.authority_key_identifier
    if aki is not None:
        keyed = [c for c in named if c.key_identifier == aki]
        if keyed:
            return keyed[0]
    return named[-1] if named else None


def _fallback(index: int, sig: Any, exc: Exception) -> dict[str, Any]:
    """A signature that cannot even be processed is reported, completely, as not confirmed."""
    return {"index": index, "field": sig.field_name, "kind": "signature", "subfilter": "", "signer": {},
            "issuer": {}, "notes": [], "chain": [], "verdict": "indeterminate",
            "verdict_text": dict(zip(("th", "en"), VERDICTS["indeterminate"])),
            "reason": say(REASONS, "indeterminate", detail=type(exc).__name__),
            "modifications": {"level": "UNKNOWN", "text": {"th": "ไม่ทราบ", "en": "unknown"}, "certification": None,
                              "certification_text": None, "allowed": None, "covers_whole_file": False}}


def status_today(revocation_now: RevocationNow | None, cert: ax509.Certificate, known: list) -> RevocationData | None:
    """Today's status data for ``cert`` and its issuers (found among ``known``), from govca's
    in-process sources; None when there are none or they fail (today's status is then unknown)."""
    if revocation_now is None:
        return None
    pairs, current = [], cert
    for _ in range(8):
        issuer = _issuer_of(current, known)
        if issuer is None or issuer.subject == current.subject:
            break
        pairs.append((current.dump(), issuer.dump()))
        current = issuer
    if not pairs:
        return None
    try:
        with held():  # govca's own status sources (database): not interrupted midway
            return revocation_now(pairs)
    except Exception:  # noqa: BLE001 - today's status is then reported as unknown
        return None


class Verifier:
    def __init__(self, trust: Callable[[], TrustSettings], revocation_now: RevocationNow | None,
                 clock: Callable[[], dt.datetime], max_bytes: int, budgets: Budgets = DEFAULT_BUDGETS,
                 english_name: Callable[[str], str | None] | None = None) -> None:
        """``english_name``: the English name behind a govca certificate (by serial, hex), when
        govca knows it; certificates name officials in Thai only."""
        self.trust, self.revocation_now, self.clock, self.max_bytes = trust, revocation_now, clock, max_bytes
        self.budgets, self.english_name = budgets, english_name

    def verify(self, pdf: bytes) -> dict[str, Any]:
        """The report on every signature. The whole verification runs under the budgets of
        signer/pdf_guard.py: the parse (with the signature and field counts) under its own,
        all the validation under ``verify_seconds`` and the memory budget."""
        return self.verify_with_files(pdf)[0]

    def verify_with_files(self, pdf: bytes) -> tuple[dict[str, Any], list[bytes | None]]:
        """:meth:`verify`, and the bytes of the associated files the report lists under
        ``attachments`` (ISO 32000-2 14.13; signer/verification/attachments.py), in its order,
        for the page's download links; the report itself carries no file's bytes."""
        now = self.clock()
        roots = [ax509.Certificate.load(r) for r in self.trust().roots]
        with guard(self.budgets.verify_seconds, "verifying the PDF", self.budgets):
            reader = read_pdf(pdf, self.max_bytes, self.budgets)
            reports = self._all(reader, roots, now)
            attachments, contents = associated_section(reader)
        verdicts = {r["verdict"] for r in reports}
        overall = "invalid" if "invalid" in verdicts else "indeterminate" if ("indeterminate" in verdicts
                                                                             or not reports) else "valid"
        return {
            "document": {"sha256": hashlib.sha256(pdf).hexdigest(), "size": len(pdf),
                         "signatures": len(reports)},
            "verdict": overall, "verdict_text": dict(zip(("th", "en"), VERDICTS[overall])),
            "reason": say(REASONS, "no_signatures") if not reports else None,
            "checked_at": _when(now), "signatures": reports, "attachments": attachments,
        }, contents

    def _all(self, reader: PdfFileReader, roots: list, now: dt.datetime) -> list[dict[str, Any]]:
        material = _Material.of(reader)
        # One context for every time-stamp of the document, so that its caches are shared.
        ts_context = self._context(roots, material, None, None, hard=False)
        reports = []
        for index, sig in enumerate(reader.embedded_signatures):
            try:
                reports.append(self._one(index, sig, roots, material, ts_context, now))
            except Exception as exc:  # noqa: BLE001 - a signature we cannot even parse is not confirmed
                reports.append(_fallback(index, sig, exc))
        return reports

    # --- one signature -----------------------------------------------------------------------
    def _context(self, roots: list, material: "_Material", extra: RevocationData | None,
                 moment: dt.datetime | None, hard: bool = True) -> ValidationContext:
        # Hard-fail needs revocation data: with none in the document (B-B, B-T) and none of ours
        # (a foreign CA), the pass is soft-fail and the status is reported as unknown.
        ocsps, crls = list(material.ocsps), list(material.crls)
        if extra is not None:
            from asn1crypto import crl as acrl
            from asn1crypto import ocsp as aocsp
            ocsps += [aocsp.OCSPResponse.load(o) for o in extra.ocsps]
            crls += [acrl.CertificateList.load(c) for c in extra.crls]
        kwargs: dict[str, Any] = {"trust_roots": roots, "other_certs": material.certs, "ocsps": ocsps, "crls": crls,
                                  "allow_fetching": False, "retroactive_revinfo": True,
                                  "revocation_mode": "hard-fail" if hard and (ocsps or crls) else "soft-fail"}
        if moment is not None:
            kwargs["moment"] = moment
        return ValidationContext(**kwargs)

    def _current(self, cert: ax509.Certificate, known: list) -> RevocationData | None:
        return status_today(self.revocation_now, cert, known)

    def _one(self, index: int, sig: Any, roots: list, material: "_Material", ts_context: ValidationContext,
             now: dt.datetime) -> dict[str, Any]:
        is_ts = sig.sig_object.get("/Type") == "/DocTimeStamp"
        cert = sig.signer_cert
        base: dict[str, Any] = {"index": index, "field": sig.field_name,
                                "kind": "document_timestamp" if is_ts else "signature",
                                "subfilter": str(sig.sig_object.get("/SubFilter", "")).lstrip("/"),
                                "signer": _name(cert.subject), "issuer": _name(cert.issuer), "notes": []}
        if not is_ts and self.english_name is not None:
            serial = f"{cert.serial_number:X}"
            with held():  # a database read: not interrupted by the watchdog
                name_en = self.english_name(serial if len(serial) % 2 == 0 else "0" + serial)
            if name_en:
                base["signer"]["name_en"] = name_en
        if is_ts:
            status = validate_pdf_timestamp(sig, validation_context=ts_context)
            base["signing_time"] = _when(status.timestamp)
            base["tsa"] = _name(cert.subject)
        else:
            known = material.certs + list(roots) + [c.chosen for c in sig.signed_data["certificates"] or []
                                                    if c.name == "certificate"]
            today = self._current(cert, known)
            claimed = _timestamp_time(sig)
            # Judged at the time the signature's time-stamp proves, with the document's data and
            # today's status data: a revocation after that time leaves the signature valid.
            status = validate_pdf_signature(sig, signer_validation_context=self._context(roots, material, today, claimed),
                                            ts_validation_context=ts_context)
            ts = status.timestamp_validity
            moment = ts.timestamp if ts is not None and ts.intact and ts.valid and ts.trusted else None
            if claimed is not None and moment is None:
                # The time-stamp does not hold: judge the signature now instead.
                status = validate_pdf_signature(sig, signer_validation_context=self._context(roots, material, today,
                                                                                              None),
                                                ts_validation_context=ts_context)
            base["signing_time"] = _when(moment or status.signer_reported_dt)
            base["signing_time_source"] = "timestamp" if moment else "claimed"
            if ts is not None:
                base["tsa"] = _name(ts.signing_cert.subject)
            if moment is None:
                base["notes"].append(say(NOTES, "claimed_time"))
            base["certificate"] = self._cert_status(cert, status, today, now)
            base["pades_level"] = self._level(sig, ts is not None, material)
        base["chain"] = [{"subject": _name(c.subject), "serial": f"{c.serial_number:X}",
                          "not_before": _when(c.not_valid_before), "not_after": _when(c.not_valid_after)}
                         for c in (list(status.validation_path) if status.validation_path else [cert])][::-1]
        base["modifications"] = self._modifications(sig, status)
        verdict, reason = self._verdict(status, base, is_ts)
        base["verdict"], base["reason"] = verdict, reason
        base["verdict_text"] = dict(zip(("th", "en"), VERDICTS[verdict]))
        return base

    def _cert_status(self, cert: Any, status: Any, today: RevocationData | None, now: dt.datetime) -> dict[str, Any]:
        details = status.revocation_details
        out: dict[str, Any] = {"at_signing": "revoked" if status.revoked else "good" if status.trusted else "unknown",
                               "valid_until": _when(cert.not_valid_after)}
        found = ((details.revocation_date, details.revocation_reason.native) if details is not None
                 else _revoked_in(today, cert))
        revoked_at = found[0] if found is not None else None
        if found is not None:
            out["revoked_at"], out["revocation_reason"] = _when(revoked_at), _reason(found[1])
        if cert.not_valid_after < now:
            out["today"] = "expired"
        elif revoked_at is not None and revoked_at <= now:
            out["today"] = "revoked"
        elif today is not None and today.ocsps and status.trusted:
            out["today"] = "good"
        else:
            out["today"] = "unknown"
        return out

    @staticmethod
    def _level(sig: Any, timestamped: bool, material: "_Material") -> str:
        """EN 319 142-1 6.2-6.5: B-T adds a signature time-stamp, B-LT validation data in the DSS,
        B-LTA a document time-stamp covering it."""
        if not timestamped:
            return "B-B"
        if not (material.ocsps or material.crls):
            return "B-T"
        later_ts = any(s.sig_object.get("/Type") == "/DocTimeStamp" and s.signed_revision > sig.signed_revision
                       for s in sig.reader.embedded_signatures)
        return "B-LTA" if later_ts else "B-LT"

    @staticmethod
    def _modifications(sig: Any, status: Any) -> dict[str, Any]:
        level = status.modification_level
        # Bytes covered by the signature were changed: there is no "after signing" revision to
        # compare, so pyHanko's level (NONE) would contradict the verdict.
        name = "ALTERED" if not status.intact else level.name if level is not None else "UNKNOWN"
        docmdp = sig.docmdp_level.name if sig.docmdp_level is not None else None
        return {"level": name, "text": dict(zip(("th", "en"), CHANGES.get(name, ("ไม่ทราบ", "unknown")))),
                "certification": docmdp,
                "certification_text": dict(zip(("th", "en"), CERTIFICATION[docmdp])) if docmdp in CERTIFICATION else None,
                "allowed": status.docmdp_ok, "covers_whole_file": str(status.coverage).endswith("ENTIRE_FILE")}

    @staticmethod
    def _verdict(status: Any, base: dict, is_ts: bool) -> tuple[str, dict[str, str]]:
        mods = base["modifications"]
        changes = mods["text"]
        if not status.intact:
            return "invalid", say(REASONS, "altered")
        if not status.valid:
            return "invalid", say(REASONS, "bad_signature")
        if status.docmdp_ok is False:
            return "invalid", say(REASONS, "modified", changes_th=changes["th"], changes_en=changes["en"])
        if status.revoked:
            when = base.get("certificate", {}).get("revoked_at") or {"th": "-", "en": "-"}
            why = base.get("certificate", {}).get("revocation_reason") or _reason(None)
            return "invalid", say(REASONS, "revoked", revoked_th=when["th"], revoked_en=when["en"],
                                  reason_th=why["th"], reason_en=why["en"])
        if not status.trusted:
            indic = getattr(status.trust_problem_indic, "name", "")
            if "CHAIN" in indic or "NO_CERTIFICATE" in indic:
                return "indeterminate", say(REASONS, "untrusted")
            if "OUT_OF_BOUNDS" in indic or "EXPIRED" in indic:
                return "indeterminate", say(REASONS, "expired")
            if "REVOCATION" in indic or "TRY_LATER" in indic:
                return "indeterminate", say(REASONS, "no_revocation")
            return "indeterminate", say(REASONS, "untrusted")
        cert = base.get("certificate", {})
        if cert.get("today") == "revoked" and cert.get("revoked_at"):
            why = cert.get("revocation_reason") or _reason(None)
            signed = base.get("signing_time") or {"th": "-", "en": "-"}
            base["notes"].append(say(NOTES, "revoked_later", revoked_th=cert["revoked_at"]["th"],
                                     revoked_en=cert["revoked_at"]["en"], reason_th=why["th"], reason_en=why["en"],
                                     signed_th=signed["th"], signed_en=signed["en"]))
        if cert.get("today") == "expired":
            base["notes"].append(say(NOTES, "expired_now"))
        if mods["level"] in ("FORM_FILLING", "ANNOTATIONS") and status.docmdp_ok and not is_ts:
            base["notes"].append(say(NOTES, "allowed_changes", changes_th=changes["th"], changes_en=changes["en"]))
        if is_ts and mods["level"] not in ("NONE", "LTA_UPDATES", "UNKNOWN"):
            return "valid", say(REASONS, "valid_timestamp_changed", changes_th=changes["th"], changes_en=changes["en"])
        return "valid", say(REASONS, "valid_timestamp" if is_ts else "valid")
