"""The built-in Time-Stamp Authority (RFC 3161, RFC 5816): a TimeStampReq in, a TimeStampResp out.

Pure construction: the caller passes the time, the serial number and the unit (certificate and
HSM key); nothing here reads the clock, a database or the network. The one side effect is
``unit.key.sign``, which signs the DER of the signed attributes in the token. Malformed or
refused queries become rejection responses (RFC 3161 2.4.2), never exceptions.
"""
from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import cms, core, tsp
from asn1crypto import x509 as ax509

from hsm import KeyType, default_mechanism

TIME_STAMPING_EKU = "1.3.6.1.5.5.7.3.8"
# RFC 3161 2.4.1 lets a TSA refuse weak hash algorithms; docs/profile.md, TSA: SHA-256 or stronger.
ACCEPTED_HASHES = {"sha256": 32, "sha384": 48, "sha512": 64}
# RFC 3161 2.4.2: requesters MUST accept serial numbers up to 160 bits, so none is longer.
MAX_SERIAL_BITS = 160
SERIAL_RANDOM_BITS = 127



class FailInfo(str, enum.Enum):
    """PKIFailureInfo bits a rejection names (RFC 3161 2.4.2). Values are the RFC's spellings."""

    BAD_ALG = "badAlg"
    BAD_REQUEST = "badRequest"
    BAD_DATA_FORMAT = "badDataFormat"
    TIME_NOT_AVAILABLE = "timeNotAvailable"
    UNACCEPTED_POLICY = "unacceptedPolicy"
    UNACCEPTED_EXTENSION = "unacceptedExtension"
    ADD_INFO_NOT_AVAILABLE = "addInfoNotAvailable"
    SYSTEM_FAILURE = "systemFailure"

    @property
    def asn1_name(self) -> str:
        """The name asn1crypto's ``tsp.PKIFailureInfo`` gives the bit."""
        return _ASN1_FAIL_NAMES[self]


_ASN1_FAIL_NAMES = {
    FailInfo.BAD_ALG: "bad_alg", FailInfo.BAD_REQUEST: "bad_request", FailInfo.BAD_DATA_FORMAT: "bad_data_format",
    FailInfo.TIME_NOT_AVAILABLE: "time_not_available", FailInfo.UNACCEPTED_POLICY: "unaccepted_policy",
    FailInfo.UNACCEPTED_EXTENSION: "unaccepted_extensions", FailInfo.ADD_INFO_NOT_AVAILABLE: "add_info_not_available",
    FailInfo.SYSTEM_FAILURE: "system_failure",
}


class TsaRejection(Exception):
    """A query the TSA refuses: answered with status rejection and ``fail_info`` (RFC 3161 2.4.2)."""

    def __init__(self, fail_info: FailInfo | str, text: str) -> None:
        super().__init__(f"{FailInfo(fail_info).value}: {text}")
        self.fail_info = FailInfo(fail_info)
        self.text = text


class TimeStampResp(core.Sequence):
    """TimeStampResp (RFC 3161 2.4.2) with timeStampToken OPTIONAL, as the RFC has it.

    asn1crypto's ``tsp.TimeStampResp`` marks the token required and cannot parse a rejection;
    in-process consumers (a pyHanko ``TimeStamper``) should load responses with this class.
    """

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class TsaUnit:
    """One time-stamping unit: its certificate, the chain above it, its HSM key and its policy.

    Checked when built, so a unit that would issue tokens relying parties refuse cannot exist.
    """

    cert_der: bytes
    """The TSA certificate (DER): extendedKeyUsage timeStamping only, critical (RFC 3161 2.3)."""
    chain_der: tuple[bytes, ...]
    """The issuing CA certificate, then the root (DER); sent with the token when certReq is true."""
    key: Any
    """An ``hsm.HsmKey`` matching ``cert_der``: ``.sign(data, mechanism)``, ``.key_type``."""
    policy_oid: str
    """The TSA policy (RFC 3161 2.4.2 policy); a query asking for another is refused."""
    accuracy_ms: int
    """The accuracy stated in every token, in milliseconds (RFC 3161 2.4.2 accuracy)."""
    _cert: ax509.Certificate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cert = ax509.Certificate.load(self.cert_der)
        # RFC 3161 2.3: exactly one extendedKeyUsage, id-kp-timeStamping only, marked critical.
        eku = [e for e in cert["tbs_certificate"]["extensions"] if e["extn_id"].native == "extended_key_usage"]
        if (len(eku) != 1 or not eku[0]["critical"].native
                or [p.dotted for p in eku[0]["extn_value"].parsed] != [TIME_STAMPING_EKU]):
            raise ValueError("a TSA certificate needs extendedKeyUsage timeStamping only, critical (RFC 3161 2.3)")
        if not isinstance(self.key.key_type, KeyType):
            raise ValueError(f"no TSA signature algorithm for a {self.key.key_type} key")
        if self.key.public_key_der() != cert.public_key.dump():
            raise ValueError("the TSA key does not match the TSA certificate")
        if not 1 <= self.accuracy_ms <= 3_600_000:
            raise ValueError("accuracy_ms must be 1 ms to 1 hour (RFC 3161 2.4.2 accuracy)")
        core.ObjectIdentifier(self.policy_oid).dump()  # raises on a malformed OID
        object.__setattr__(self, "_cert", cert)


@dataclass(frozen=True)
class ParsedQuery:
    """A TimeStampReq (RFC 3161 2.4.1) the TSA accepts."""

    hash_algorithm: str
    """``sha256``, ``sha384`` or ``sha512``."""
    hashed_message: bytes
    message_imprint_der: bytes
    """The MessageImprint as sent (checked to be DER), copied into the TSTInfo (RFC 3161 2.4.2)."""
    req_policy: str | None
    nonce: int | None
    cert_req: bool


def parse_query(der: bytes, *, accepted_policy: str | None = None) -> ParsedQuery:
    """Parse and check a TimeStampReq, or raise :class:`TsaRejection`.

    With ``accepted_policy``, a reqPolicy other than it is refused (unacceptedPolicy).
    """
    # asn1crypto parses lazily, so every field is touched inside this one guard.
    try:
        req = tsp.TimeStampReq.load(der, strict=True)
        req.native  # noqa: B018 - decode the whole structure now
        # RFC 3161 3.4: the body is the DER encoding. Re-encoding must give the same bytes, so
        # what is echoed into the token (imprint, nonce) is DER too.
        is_der = req.dump(force=True) == der
        version = req["version"].native
        imprint = req["message_imprint"]
        # asn1crypto decodes SHA-2 parameters as NULL, so parameters other than absent or NULL
        # (RFC 5754 2) already fail here, as badDataFormat.
        hash_name = imprint["hash_algorithm"]["algorithm"].native
        hashed_message = bytes(imprint["hashed_message"].native)
        imprint_der = imprint.dump()
        req_policy = req["req_policy"].dotted if req["req_policy"].native is not None else None
        nonce = req["nonce"].native
        cert_req = bool(req["cert_req"].native)
        extensions = req["extensions"]
        has_extensions = extensions.native is not None
        extension_count = len(extensions) if has_extensions else 0
    except Exception as exc:  # noqa: BLE001 - any decoding failure of untrusted bytes is badDataFormat
        raise TsaRejection(FailInfo.BAD_DATA_FORMAT, f"not a DER TimeStampReq ({type(exc).__name__})") from None
    if not is_der:
        raise TsaRejection(FailInfo.BAD_DATA_FORMAT, "the TimeStampReq is not DER-encoded (RFC 3161 3.4)")
    # RFC 3161 2.4.1: version is v1.
    if version != "v1":
        raise TsaRejection(FailInfo.BAD_DATA_FORMAT, "unsupported TimeStampReq version (RFC 3161 2.4.1)")
    # RFC 3161 2.4.1: a TSA refuses a hash algorithm it does not know or holds weak (badAlg).
    if hash_name not in ACCEPTED_HASHES:
        raise TsaRejection(FailInfo.BAD_ALG, f"hash algorithm {hash_name} refused; use SHA-256, SHA-384 or "
                                             "SHA-512 (RFC 3161 2.4.1)")
    # RFC 3161 2.4.1: the hashed message's length matches the hash algorithm.
    if len(hashed_message) != ACCEPTED_HASHES[hash_name]:
        raise TsaRejection(FailInfo.BAD_DATA_FORMAT, f"a {hash_name} imprint is {ACCEPTED_HASHES[hash_name]} "
                                                     f"bytes, not {len(hashed_message)} (RFC 3161 2.4.1)")
    # RFC 3161 2.4.1: a requested policy the TSA does not serve is refused.
    if accepted_policy is not None and req_policy is not None and req_policy != accepted_policy:
        raise TsaRejection(FailInfo.UNACCEPTED_POLICY, f"policy {req_policy} is not served; this TSA issues "
                                                       f"under {accepted_policy} (RFC 3161 2.4.1)")
    # RFC 5280 4.1 (imported by RFC 3161): Extensions is SIZE (1..MAX).
    if has_extensions and extension_count == 0:
        raise TsaRejection(FailInfo.BAD_DATA_FORMAT, "an empty extensions field (RFC 5280 4.1)")
    # RFC 3161 2.4.1: an extension the server does not recognise, critical or not, is refused.
    if extension_count:
        raise TsaRejection(FailInfo.UNACCEPTED_EXTENSION, "this TSA recognises no request extensions "
                                                          "(RFC 3161 2.4.1)")
    return ParsedQuery(hash_algorithm=hash_name, hashed_message=hashed_message, message_imprint_der=imprint_der,
                       req_policy=req_policy, nonce=nonce, cert_req=cert_req)


def rejection(fail_info: FailInfo | str, text: str) -> bytes:
    """A TimeStampResp with status rejection, one failInfo bit and no token (RFC 3161 2.4.2)."""
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [text],
                                "fail_info": {FailInfo(fail_info).asn1_name}})
    return TimeStampResp({"status": status}).dump()


def new_serial() -> int:
    """A fresh token serial number: 127 random bits under a fixed top bit, positive.

    RFC 3161 2.4.2: serials are unique per TSA; random ones need no shared counter between
    worker processes, and at 128 bits they stay within the 160 bits requesters must accept.
    """
    return (1 << SERIAL_RANDOM_BITS) | secrets.randbits(SERIAL_RANDOM_BITS)


def build_gen_time(now: dt.datetime) -> dt.datetime:
    """genTime: UTC, truncated to the millisecond (RFC 3161 2.4.2 genTime)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(dt.timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def build_accuracy(accuracy_ms: int) -> tsp.Accuracy:
    """Accuracy with whole seconds in ``seconds`` and the rest in ``millis`` (1..999); a zero field
    is left out, since a missing field counts as zero (RFC 3161 2.4.2 accuracy)."""
    seconds, millis = divmod(accuracy_ms, 1000)
    value: dict[str, int] = {}
    if seconds:
        value["seconds"] = seconds
    if millis:
        value["millis"] = millis
    return tsp.Accuracy(value)


def build_tst_info(query: ParsedQuery, unit: TsaUnit, now: dt.datetime, serial: int) -> bytes:
    """DER of the TSTInfo (RFC 3161 2.4.2) for an accepted query."""
    if not 0 < serial < (1 << MAX_SERIAL_BITS):
        raise ValueError("serial must be positive and at most 160 bits (RFC 3161 2.4.2)")
    info: dict[str, Any] = {
        "version": "v1",
        "policy": unit.policy_oid,
        # RFC 3161 2.4.2: messageImprint has the same value as in the request.
        "message_imprint": tsp.MessageImprint.load(query.message_imprint_der),
        "serial_number": serial,
        "gen_time": build_gen_time(now),
        "accuracy": build_accuracy(unit.accuracy_ms),
        # ordering is left at its DEFAULT FALSE, so DER omits it.
        # RFC 3161 2.4.2 tsa: one of the subject names of the TSA certificate.
        "tsa": ax509.GeneralName(name="directory_name", value=unit._cert.subject),
    }
    if query.nonce is not None:
        # RFC 3161 2.4.2: the nonce MUST be present, with the request's value, if the request had one.
        info["nonce"] = query.nonce
    return tsp.TSTInfo(info).dump()


def build_signed_attributes(unit: TsaUnit, tst_info_der: bytes, digest_name: str) -> cms.CMSAttributes:
    """contentType, messageDigest (RFC 5652 5.3) and signingCertificateV2 (RFC 5816 2.2.1)."""
    cert = unit._cert
    # RFC 5816 2.2.1: ESSCertIDv2 over the TSA certificate; SHA-256, its DEFAULT, is left out.
    ess_cert_id = tsp.ESSCertIDv2({
        "cert_hash": hashlib.sha256(unit.cert_der).digest(),
        "issuer_serial": {"issuer": [ax509.GeneralName(name="directory_name", value=cert.issuer)],
                          "serial_number": cert.serial_number},
    })
    return cms.CMSAttributes([
        {"type": "content_type", "values": ["tst_info"]},
        {"type": "message_digest", "values": [hashlib.new(digest_name, tst_info_der).digest()]},
        {"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2({"certs": [ess_cert_id]})]},
    ])


def build_token(query: ParsedQuery, unit: TsaUnit, now: dt.datetime, serial: int) -> cms.ContentInfo:
    """The TimeStampToken: a CMS SignedData over the TSTInfo, signed by the unit's key (RFC 3161 2.4.2).

    Raises whatever ``unit.key.sign`` raises (an ``hsm.HsmError``): that is not bad input.
    """
    # How the unit's key signs: hsm's one rule (ecdsa-with-SHA384 for P-384, SHA-256 for P-256 and RSA).
    mechanism = default_mechanism(unit.key.key_type)
    digest_name, signature_algorithm = mechanism.hash_name, mechanism.cms_algorithm
    tst_info_der = build_tst_info(query, unit, now, serial)
    signed_attrs = build_signed_attributes(unit, tst_info_der, digest_name)
    # RFC 5652 5.4: the signature covers the DER of the attributes as a SET OF, not [0] IMPLICIT.
    signature = unit.key.sign(signed_attrs.dump(), mechanism)
    sig_alg: dict[str, Any] = {"algorithm": signature_algorithm}
    if signature_algorithm.endswith("_rsa"):
        sig_alg["parameters"] = core.Null()  # RFC 4055 5: NULL for sha256WithRSAEncryption
    signer_info = cms.SignerInfo({
        # RFC 5652 5.3: version 1 with issuerAndSerialNumber.
        "version": "v1",
        "sid": cms.SignerIdentifier(name="issuer_and_serial_number", value={
            "issuer": unit._cert.issuer, "serial_number": unit._cert.serial_number}),
        "digest_algorithm": {"algorithm": digest_name},
        "signed_attrs": signed_attrs,
        "signature_algorithm": sig_alg,
        "signature": signature,
    })
    signed_data: dict[str, Any] = {
        # RFC 5652 5.1: version 3 because eContentType is not id-data.
        "version": "v3",
        "digest_algorithms": [{"algorithm": digest_name}],
        "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(tst_info_der)},
        "signer_infos": [signer_info],
    }
    if query.cert_req:
        # RFC 3161 2.4.1 certReq: the TSA certificate MUST be in certificates; others may be.
        signed_data["certificates"] = [ax509.Certificate.load(d) for d in (unit.cert_der, *unit.chain_der)]
    # Otherwise RFC 3161 2.4.1: the certificates field MUST NOT be present.
    return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})


def build_response(query_der: bytes, unit: TsaUnit, now: dt.datetime, serial: int) -> bytes:
    """The DER TimeStampResp for ``query_der``: granted with a token, or a rejection.

    Never raises for bad input; raises only if the HSM cannot sign (see :func:`build_token`).
    """
    try:
        query = parse_query(query_der, accepted_policy=unit.policy_oid)
    except TsaRejection as refused:
        return rejection(refused.fail_info, refused.text)
    token = build_token(query, unit, now, serial)
    # RFC 3161 2.4.2: status granted carries a TimeStampToken.
    return TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()
