"""Parse an OCSPRequest (RFC 6960 4.1) into what the responder needs, or refuse it.

asn1crypto parses lazily, so every field is touched here, inside one guard: garbage becomes
MalformedRequestError, never an exception further on.
"""
from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import ocsp as aocsp

from .der import DerError, read_tlv
from .errors import MalformedRequestError

HASHES = {"sha1", "sha256", "sha384", "sha512"}
MAX_NONCE = 32  # RFC 8954 2.1: a nonce of 1 to 32 octets


@dataclass(frozen=True)
class CertIdRequest:
    hash_alg: str
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int
    der: bytes  # the CertID as sent, echoed in the SingleResponse


@dataclass(frozen=True)
class ParsedRequest:
    cert_ids: tuple[CertIdRequest, ...]
    nonce_value: bytes | None  # the nonce extension's extnValue contents, echoed as sent


def parse_request(der: bytes, max_cert_ids: int) -> ParsedRequest:
    if not der:
        raise MalformedRequestError("empty OCSP request")
    try:
        req = aocsp.OCSPRequest.load(der, strict=True)
        tbs = req["tbs_request"]
        if tbs["version"].native not in (None, "v1"):
            raise MalformedRequestError("unsupported OCSP request version (RFC 6960 4.1.1)")
        cert_ids = []
        for item in tbs["request_list"]:
            cid = item["req_cert"]
            # The CertID is echoed in the response (RFC 6960 4.2.1), so all of it must decode.
            cid.native  # noqa: B018
            params = cid["hash_algorithm"]["parameters"]
            if params.native is not None:
                raise MalformedRequestError("CertID hash algorithm parameters must be NULL or absent (RFC 5754 2)")
            cert_ids.append(CertIdRequest(
                hash_alg=cid["hash_algorithm"]["algorithm"].native,
                issuer_name_hash=bytes(cid["issuer_name_hash"].native),
                issuer_key_hash=bytes(cid["issuer_key_hash"].native),
                serial=int(cid["serial_number"].native),
                der=cid.dump(),
            ))
            item["single_request_extensions"].native  # noqa: B018 - force a parse of the whole item
        nonce = None
        for ext in tbs["request_extensions"] or []:
            if ext["extn_id"].dotted == "1.3.6.1.5.5.7.48.1.2":
                nonce = bytes(ext["extn_value"].contents)
            elif ext["critical"].native:
                raise MalformedRequestError(f"unsupported critical request extension {ext['extn_id'].dotted}")
        req["optional_signature"].native  # noqa: B018
    except MalformedRequestError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoding failure of untrusted bytes is "malformed"
        raise MalformedRequestError(f"not a DER OCSPRequest: {type(exc).__name__}") from None
    if not cert_ids:
        raise MalformedRequestError("OCSP request lists no certificates (RFC 6960 4.1.1)")
    if len(cert_ids) > max_cert_ids:
        raise MalformedRequestError(f"OCSP request lists {len(cert_ids)} certificates; at most {max_cert_ids}")
    if nonce is not None and not (1 <= len(_inner_nonce(nonce) or b"") <= MAX_NONCE):
        raise MalformedRequestError("the nonce must be an OCTET STRING of 1 to 32 octets (RFC 6960 4.4.1, RFC 8954 2.1)")
    return ParsedRequest(tuple(cert_ids), nonce)


_HASH_OIDS = {  # DER of the hash OIDs a CertID may use, and their digest sizes
    bytes.fromhex("06052b0e03021a"): ("sha1", 20),
    bytes.fromhex("0609608648016503040201"): ("sha256", 32),
    bytes.fromhex("0609608648016503040202"): ("sha384", 48),
    bytes.fromhex("0609608648016503040203"): ("sha512", 64),
}
_NONCE_OID = bytes.fromhex("06092b0601050507300102")


def parse_request_fast(der: bytes, max_cert_ids: int) -> ParsedRequest | None:
    """The common shape only, read strictly without asn1crypto: an unsigned v1 request, CertIDs
    without single extensions, at most a non-critical nonce. Anything else returns None and
    goes to :func:`parse_request`, which judges it in full."""
    try:
        tag, start, end = read_tlv(der, 0)
        if tag != 0x30 or end != len(der):
            return None
        tag, start, end = read_tlv(der, start)  # tbsRequest, with no optionalSignature after it
        if tag != 0x30 or end != len(der):
            return None
        tag, list_start, list_end = read_tlv(der, start, end)
        if tag != 0x30:
            return None  # version or requestorName present
        nonce = None
        if list_end != end:
            tag, ext_start, ext_end = read_tlv(der, list_end, end)
            if tag != 0xA2 or ext_end != end:
                return None
            nonce = _fast_nonce(der, ext_start, ext_end)
            if nonce is None:
                return None
        cert_ids = []
        pos = list_start
        while pos < list_end:
            tag, req_start, req_end = read_tlv(der, pos, list_end)
            if tag != 0x30:
                return None
            cid = _fast_cert_id(der, req_start, req_end)
            if cid is None:
                return None
            cert_ids.append(cid)
            pos = req_end
    except DerError:
        return None
    if not cert_ids or len(cert_ids) > max_cert_ids:
        return None  # the full parser gives the precise refusal
    if nonce is not None and not (1 <= len(_inner_nonce(nonce) or b"") <= MAX_NONCE):
        return None
    return ParsedRequest(tuple(cert_ids), nonce)


def _fast_cert_id(der: bytes, start: int, end: int) -> CertIdRequest | None:
    tag, cid_start, cid_end = read_tlv(der, start, end)
    if tag != 0x30 or cid_end != end:
        return None  # singleRequestExtensions present
    tag, alg_start, alg_end = read_tlv(der, cid_start, cid_end)
    if tag != 0x30:
        return None
    tag, oid_start, oid_end = read_tlv(der, alg_start, alg_end)
    known = _HASH_OIDS.get(der[alg_start:oid_end])
    if known is None or der[oid_end:alg_end] not in (b"", b"\x05\x00"):
        return None
    name_tag, name_start, name_end = read_tlv(der, alg_end, cid_end)
    key_tag, key_start, key_end = read_tlv(der, name_end, cid_end)
    serial_tag, serial_start, serial_end = read_tlv(der, key_end, cid_end)
    if (name_tag, key_tag, serial_tag) != (0x04, 0x04, 0x02) or serial_end != cid_end:
        return None
    if name_end - name_start != known[1] or key_end - key_start != known[1]:
        return None
    body = der[serial_start:serial_end]
    # X.690 8.3.2: minimal two's complement; a negative serial goes to the full parser.
    if not body or body[0] & 0x80 or (len(body) > 1 and body[0] == 0 and not body[1] & 0x80):
        return None
    return CertIdRequest(known[0], der[name_start:name_end], der[key_start:key_end], int.from_bytes(body, "big"),
                         der[start:end])


def _fast_nonce(der: bytes, start: int, end: int) -> bytes | None:
    tag, exts_start, exts_end = read_tlv(der, start, end)
    if tag != 0x30 or exts_end != end:
        return None
    tag, ext_start, ext_end = read_tlv(der, exts_start, exts_end)
    if tag != 0x30 or ext_end != exts_end:
        return None  # more than one extension
    oid_tag, oid_start, oid_end = read_tlv(der, ext_start, ext_end)
    if der[ext_start:oid_end] != _NONCE_OID:
        return None
    tag, val_start, val_end = read_tlv(der, oid_end, ext_end)
    if tag == 0x01:  # critical BOOLEAN: DER omits the DEFAULT FALSE, so only TRUE may appear
        return None
    if tag != 0x04 or val_end != ext_end:
        return None
    return der[val_start:val_end]


def _inner_nonce(value: bytes) -> bytes | None:
    """The nonce octets: the extnValue must hold one DER OCTET STRING (RFC 6960 4.4.1), else None."""
    try:
        tag, start, end = read_tlv(value, 0)
    except DerError:
        return None
    if tag != 0x04 or end != len(value):
        return None
    return value[start:end]
