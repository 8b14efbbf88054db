"""Validation of an XAdES-signed XML document (ETSI EN 319 132-1 baseline B-B to B-LTA) for people:
the same report shape as :meth:`signer.verification.verify.Verifier.verify` gives for a PDF, one
entry per ds:Signature with one of the three EN 319 102-1 verdicts (valid, invalid, indeterminate).

- XMLDSig core and the B-B signed properties (SigningCertificateV2 digests): signxml's
  XAdESVerifier, with the signer's certificate named (trust is decided below, not by signxml).
- The signature time-stamp (EN 319 132-1 5.3) and archive time-stamps (5.5.2): message imprint over
  the canonical octets each covers (signer/xades/model.py), token signature and TSA path (pyHanko).
- The signer's certificate path (pyhanko-certvalidator) against the trust roots, nothing fetched,
  with the document's CertificateValues/RevocationValues (B-LT, B-LTA) and, when given, govca's
  in-process status of today, at the time the signature time-stamp proves.

Call: ``verify_xades(data, trust, clock, revocation_now=None, detached={"receipt.xml": bytes})``.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from typing import Any, Callable

from asn1crypto import cms
from asn1crypto import crl as acrl
from asn1crypto import ocsp as aocsp
from asn1crypto import x509 as ax509
from lxml import etree

from ..docdata.safe_xml import parse
from ..revinfo import RevocationData
from ..xades import model
from ..xades.model import NS
from .text import NOTES, REASONS, VERDICTS, say
from .verify import RevocationNow, TrustSettings, _name, _reason, _revoked_in, _when, status_today

MAX_XML_BYTES = 50 * 1024 * 1024


def verify_xades(data: bytes, trust: TrustSettings, clock: Callable[[], dt.datetime],
                 revocation_now: RevocationNow | None = None, *, detached: dict[str, bytes] | None = None,
                 max_bytes: int = MAX_XML_BYTES) -> dict[str, Any]:
    """The report on every XAdES signature of ``data``. ``detached``: the files a detached
    signature references, by the name its ds:Reference URI gives. Unsafe or malformed XML is a
    :class:`~signer.errors.BadInputError` (signer/docdata/safe_xml.py), as an unreadable PDF is."""
    now = clock()
    root = parse(data, what="the XML document", max_bytes=max_bytes).getroot()
    roots = [ax509.Certificate.load(r) for r in trust.roots]
    reports = []
    for index, sig in enumerate(model.signatures(root)):
        if index > 0:  # signxml checks the first ds:Signature of the root; govca seals with one
            reports.append(_fallback(index, sig, "only the first signature of an XML document is checked"))
            continue
        try:
            reports.append(_Check(root, sig, roots, revocation_now, detached or {}, now).report(index))
        except Exception as exc:  # noqa: BLE001 - a signature that cannot even be processed is not confirmed
            reports.append(_fallback(index, sig, type(exc).__name__))
    verdicts = {r["verdict"] for r in reports}
    overall = "invalid" if "invalid" in verdicts else "indeterminate" if ("indeterminate" in verdicts
                                                                         or not reports) else "valid"
    return {"document": {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "signatures": len(reports),
                         "format": "xml"},
            "verdict": overall, "verdict_text": dict(zip(("th", "en"), VERDICTS[overall])),
            "reason": say(REASONS, "no_signatures") if not reports else None,
            "checked_at": _when(now), "signatures": reports}


def _fallback(index: int, sig: etree._Element, detail: str) -> dict[str, Any]:
    return {"index": index, "field": sig.get("Id") or "", "kind": "signature", "subfilter": "", "signer": {},
            "issuer": {}, "notes": [], "chain": [], "verdict": "indeterminate",
            "verdict_text": dict(zip(("th", "en"), VERDICTS["indeterminate"])),
            "reason": say(REASONS, "indeterminate", detail=detail), "modifications": _mods("UNKNOWN")}


def _mods(level: str) -> dict[str, Any]:
    from .text import CHANGES

    return {"level": level, "text": dict(zip(("th", "en"), CHANGES.get(level, ("ไม่ทราบ", "unknown")))),
            "certification": None, "certification_text": None, "allowed": None, "covers_whole_file": False}


def _tst(encapsulated: etree._Element | None, signed_input: bytes, context: Any) -> Any:
    """The pyHanko status of one RFC 3161 token over ``signed_input`` (imprint, signature, TSA path)."""
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus

    token = cms.ContentInfo.load(model.encapsulated(encapsulated))
    kwargs = asyncio.run(validate_tst_signed_data(token["content"], context,
                                                  lambda algo: hashlib.new(algo, signed_input).digest()))
    return TimestampSignatureStatus(**kwargs)


def _ok(status: Any) -> bool:
    return bool(status is not None and status.intact and status.valid and status.trusted)


class _Check:
    """One ds:Signature of one document, judged once."""

    def __init__(self, root: etree._Element, sig: etree._Element, roots: list, revocation_now: RevocationNow | None,
                 detached: dict[str, bytes], now: dt.datetime) -> None:
        self.root, self.sig, self.roots, self.revocation_now, self.detached, self.now = \
            root, sig, roots, revocation_now, detached, now
        ocsps, crls = model.revocation_values(sig)
        self.ocsps = [aocsp.OCSPResponse.load(o) for o in ocsps]
        self.crls = [acrl.CertificateList.load(c) for c in crls]
        self.certs = [ax509.Certificate.load(c)
                      for c in model.key_info_certificates(sig) + model.certificate_values(sig)]

    def context(self, moment: dt.datetime | None, extra: RevocationData | None = None, hard: bool = True) -> Any:
        from pyhanko_certvalidator import ValidationContext

        ocsps, crls = list(self.ocsps), list(self.crls)
        if extra is not None:
            ocsps += [aocsp.OCSPResponse.load(o) for o in extra.ocsps]
            crls += [acrl.CertificateList.load(c) for c in extra.crls]
        kwargs: dict[str, Any] = {"trust_roots": self.roots, "other_certs": self.certs, "ocsps": ocsps, "crls": crls,
                                  "allow_fetching": False, "retroactive_revinfo": True,
                                  "revocation_mode": "hard-fail" if hard and (ocsps or crls) else "soft-fail"}
        if moment is not None:
            kwargs["moment"] = moment
        return ValidationContext(**kwargs)

    def signing_cert(self) -> ax509.Certificate:
        """The certificate SigningCertificateV2 names first (EN 319 132-1 5.2.2), among KeyInfo's."""
        import base64

        keyinfo = [ax509.Certificate.load(c) for c in model.key_info_certificates(self.sig)]
        if not keyinfo:
            raise ValueError("no certificate in ds:KeyInfo")
        first = self.sig.find("ds:Object/xades:QualifyingProperties/xades:SignedProperties/"
                              "xades:SignedSignatureProperties/xades:SigningCertificateV2/xades:Cert/xades:CertDigest",
                              NS)
        if first is not None:
            algo = first.find("ds:DigestMethod", NS).get("Algorithm", "").rsplit("#", 1)[-1]
            value = base64.b64decode(first.findtext("ds:DigestValue", "", NS))
            for cert in keyinfo:
                if algo in ("sha256", "sha384", "sha512") and hashlib.new(algo, cert.dump()).digest() == value:
                    return cert
        return keyinfo[0]

    def core(self, cert: ax509.Certificate) -> tuple[str | None, list[bytes]]:
        """signxml's XMLDSig core + XAdES B-B check: (failure code or None, each reference's octets)."""
        from cryptography import x509
        from signxml.exceptions import InvalidDigest, InvalidSignature
        from signxml.xades import XAdESVerifier
        from signxml.xades.xades import XAdESSignatureConfiguration

        crypto_cert = x509.load_der_x509_certificate(cert.dump())
        # signxml checks the certificate's validity period at this time; the path and the time are
        # judged by pyhanko-certvalidator below, so signxml is given a moment inside the period.
        inside = min(max(self.now, crypto_cert.not_valid_before_utc), crypto_cert.not_valid_after_utc)
        config = XAdESSignatureConfiguration(expect_references=True, verification_time=inside,
                                             location="./" if self.sig.getparent() is not None else ".//")

        def resolve(uri: str) -> Any:
            if uri not in self.detached:
                return None
            return parse(self.detached[uri], what=f"the detached file {uri!r}").getroot()

        try:
            results = XAdESVerifier().verify(self.root, x509_cert=crypto_cert, expect_config=config,
                                             uri_resolver=resolve)
        except InvalidDigest:
            return "altered", []
        except InvalidSignature:
            return "bad_signature", []
        return None, [r.signed_data for r in results]

    def report(self, index: int) -> dict[str, Any]:
        cert = self.signing_cert()
        external = [r.get("URI") for r in self.sig.findall("ds:SignedInfo/ds:Reference", NS)
                    if r.get("URI") and not r.get("URI", "").startswith("#")]
        base: dict[str, Any] = {
            "index": index, "field": self.sig.get("Id") or "", "kind": "signature",
            "subfilter": model.SUBFILTERS["detached" if external else "enveloped"],
            "signer": _name(cert.subject), "issuer": _name(cert.issuer), "notes": [],
            "xades_level": model.level_of(self.sig).value, "archive_timestamps": []}
        whole = external or any(r.get("URI") == "" for r in self.sig.findall("ds:SignedInfo/ds:Reference", NS))
        if not whole:
            # XMLDSig 1.1 8.1.3 ("see what is signed"): the page shows the whole document, so a
            # signature over only part of it is not confirmed for it.
            return self._finish(base, "indeterminate", say(REASONS, "partial"), [cert], "UNKNOWN")
        missing = [u for u in external if u not in self.detached]
        if missing:
            return self._finish(base, "indeterminate", say(REASONS, "detached_missing", name=missing[0]), [cert],
                                "UNKNOWN")
        failure, octets = self.core(cert)
        if failure is not None:
            return self._finish(base, "invalid", say(REASONS, failure), [cert],
                                "ALTERED" if failure == "altered" else "NONE")
        ts_context = self.context(None, hard=False)
        usp = model.unsigned_signature_properties(self.sig)
        moment = None
        for ts in (usp.findall("xades:SignatureTimeStamp", NS) if usp is not None else []):
            status = _tst(ts.find("xades:EncapsulatedTimeStamp", NS), model.signature_timestamp_input(self.sig, ts),
                          ts_context)
            base["tsa"] = _name(status.signing_cert.subject)
            if _ok(status):
                moment = status.timestamp
                break
        for ats in (usp.findall("xades141:ArchiveTimeStamp", NS) if usp is not None else []):
            status = _tst(ats.find("xades:EncapsulatedTimeStamp", NS),
                          model.archive_timestamp_input(self.sig, ats, octets), ts_context)
            if not status.intact:
                return self._finish(base, "invalid", say(REASONS, "timestamp_altered"), [cert], "ALTERED")
            when = _when(status.timestamp)
            base["archive_timestamps"].append({"time": when, "tsa": _name(status.signing_cert.subject),
                                               "trusted": _ok(status)})
            if _ok(status):
                base["notes"].append(say(NOTES, "archive_timestamp", time_th=when["th"], time_en=when["en"],
                                         tsa=_name(status.signing_cert.subject).get("common_name")
                                         or status.signing_cert.subject.human_friendly))
        claimed = self.sig.findtext("ds:Object/xades:QualifyingProperties/xades:SignedProperties/"
                                    "xades:SignedSignatureProperties/xades:SigningTime", None, NS)
        base["signing_time"] = _when(moment) if moment else _when(_parse_time(claimed))
        base["signing_time_source"] = "timestamp" if moment else "claimed"
        if moment is None:
            base["notes"].append(say(NOTES, "claimed_time"))
        return self._path(base, cert, moment)

    def _path(self, base: dict[str, Any], cert: ax509.Certificate, moment: dt.datetime | None) -> dict[str, Any]:
        from pyhanko_certvalidator import CertificateValidator
        from pyhanko_certvalidator.errors import ExpiredError, InsufficientRevinfoError, NotYetValidError, RevokedError

        today = self._today(cert)
        validator = CertificateValidator(cert, intermediate_certs=self.certs,
                                         validation_context=self.context(moment, today))
        path, verdict, reason, revoked = [cert], "valid", say(REASONS, "valid"), None
        try:
            path = list(asyncio.run(validator.async_validate_usage(set())))
        except RevokedError as exc:
            revoked = (getattr(exc, "revocation_dt", None), getattr(getattr(exc, "reason", None), "native", None))
            when = _when(revoked[0]) or {"th": "-", "en": "-"}
            why = _reason(revoked[1])
            verdict, reason = "invalid", say(REASONS, "revoked", revoked_th=when["th"], revoked_en=when["en"],
                                             reason_th=why["th"], reason_en=why["en"])
        except (ExpiredError, NotYetValidError):
            verdict, reason = "indeterminate", say(REASONS, "expired")
        except InsufficientRevinfoError:
            verdict, reason = "indeterminate", say(REASONS, "no_revocation")
        except Exception:  # noqa: BLE001 - PathBuildingError or any other path failure: not trusted
            verdict, reason = "indeterminate", say(REASONS, "untrusted")
        base["certificate"] = self._status(cert, verdict, revoked, today)
        if verdict == "valid" and base["certificate"]["today"] == "revoked":
            at, why = base["certificate"]["revoked_at"], base["certificate"]["revocation_reason"]
            signed = base.get("signing_time") or {"th": "-", "en": "-"}
            base["notes"].append(say(NOTES, "revoked_later", revoked_th=at["th"], revoked_en=at["en"],
                                     reason_th=why["th"], reason_en=why["en"], signed_th=signed["th"],
                                     signed_en=signed["en"]))
        if verdict == "valid" and base["certificate"]["today"] == "expired":
            base["notes"].append(say(NOTES, "expired_now"))
        return self._finish(base, verdict, reason, path, "NONE")

    def _today(self, cert: ax509.Certificate) -> RevocationData | None:
        """Today's status for the certificate and its issuers from govca's in-process source, if any."""
        return status_today(self.revocation_now, cert, self.certs + self.roots)

    def _status(self, cert: ax509.Certificate, verdict: str, revoked: tuple | None,
                today: RevocationData | None) -> dict[str, Any]:
        out: dict[str, Any] = {"at_signing": "revoked" if revoked else "good" if verdict == "valid" else "unknown",
                               "valid_until": _when(cert.not_valid_after)}
        found = revoked if revoked and revoked[0] else _revoked_in(today, cert)
        if found is not None:
            out["revoked_at"], out["revocation_reason"] = _when(found[0]), _reason(found[1])
        if cert.not_valid_after < self.now:
            out["today"] = "expired"
        elif found is not None and found[0] <= self.now:
            out["today"] = "revoked"
        elif today is not None and today.ocsps and verdict == "valid":
            out["today"] = "good"
        else:
            out["today"] = "unknown"
        return out

    @staticmethod
    def _finish(base: dict[str, Any], verdict: str, reason: dict[str, str], path: list, mods: str) -> dict[str, Any]:
        base["chain"] = [{"subject": _name(c.subject), "serial": f"{c.serial_number:X}",
                          "not_before": _when(c.not_valid_before), "not_after": _when(c.not_valid_after)}
                         for c in path][::-1]
        base.setdefault("signing_time", None)
        base["modifications"] = _mods(mods)
        base["verdict"], base["reason"] = verdict, reason
        base["verdict_text"] = dict(zip(("th", "en"), VERDICTS[verdict]))
        return base


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
