"""Parse an OCSPRequest (RFC 6960 4.1) into what the responder needs, or refuse it.

asn1crypto parses lazily, so every field is touched here, inside one guard: garbage becomes
MalformedRequestError, never an exception further on.
"""
from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import ocsp as aocsp

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
    if nonce is not None and not (1 <= len(_inner_nonce(nonce)) <= MAX_NONCE):
        raise MalformedRequestError("nonce must be 1 to 32 octets (RFC 8954 2.1)")
    return ParsedRequest(tuple(cert_ids), nonce)


def _inner_nonce(value: bytes) -> bytes:
    """The nonce octets: the extnValue holds an OCTET STRING (RFC 6960 4.4.1)."""
    from asn1crypto import core

    try:
        return bytes(core.OctetString.load(value, strict=True).native)
    except Exception:  # noqa: BLE001 - some clients send raw octets; judge their length as sent
        return value
