"""Distinguished names: the OpenSSL slash form, attribute short names, and their encodings.

RFC 5280 4.1.2.6 and appendix A fix each attribute's ASN.1 string type: countryName,
serialNumber and dnQualifier are PrintableString; the DirectoryString attributes are encoded
as UTF8String, which Thai text needs.
"""
from __future__ import annotations

import warnings

from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

from .errors import PolicyError


# cryptography warns, on every read of such a name, that a Thai attribute exceeds 64 UTF-8 bytes;
# the bound is in characters (see build_name), so that warning is noise.
warnings.filterwarnings("ignore", message="Attribute's length must be", category=UserWarning)


class NameSyntaxError(PolicyError):
    """A subject in slash form cannot be parsed."""


# short name -> (OID, ASN.1 string type). Aliases map to the same OID.
ATTRIBUTES: dict[str, tuple[ObjectIdentifier, _ASN1Type]] = {
    "C": (NameOID.COUNTRY_NAME, _ASN1Type.PrintableString),
    "ST": (NameOID.STATE_OR_PROVINCE_NAME, _ASN1Type.UTF8String),
    "L": (NameOID.LOCALITY_NAME, _ASN1Type.UTF8String),
    "street": (NameOID.STREET_ADDRESS, _ASN1Type.UTF8String),
    "O": (NameOID.ORGANIZATION_NAME, _ASN1Type.UTF8String),
    "OU": (NameOID.ORGANIZATIONAL_UNIT_NAME, _ASN1Type.UTF8String),
    "CN": (NameOID.COMMON_NAME, _ASN1Type.UTF8String),
    "GN": (NameOID.GIVEN_NAME, _ASN1Type.UTF8String),
    "SN": (NameOID.SURNAME, _ASN1Type.UTF8String),
    "title": (NameOID.TITLE, _ASN1Type.UTF8String),
    "pseudonym": (NameOID.PSEUDONYM, _ASN1Type.UTF8String),
    "serialNumber": (NameOID.SERIAL_NUMBER, _ASN1Type.PrintableString),
    "organizationIdentifier": (ObjectIdentifier("2.5.4.97"), _ASN1Type.UTF8String),
}
ALIASES = {"givenName": "GN", "surname": "SN", "commonName": "CN", "organizationName": "O",
           "organizationalUnitName": "OU", "countryName": "C", "localityName": "L",
           "stateOrProvinceName": "ST", "streetAddress": "street"}
_BY_OID = {oid.dotted_string: short for short, (oid, _) in ATTRIBUTES.items()}
# RFC 5280 appendix A upper bounds (ub-*), in characters.
UPPER_BOUNDS = {"C": 2, "CN": 64, "O": 64, "OU": 64, "L": 128, "ST": 128, "title": 64, "serialNumber": 64,
                "GN": 16384, "SN": 16384, "pseudonym": 128, "organizationIdentifier": 64, "street": 128}
_PRINTABLE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def short_name(oid: ObjectIdentifier) -> str:
    return _BY_OID.get(oid.dotted_string, oid.dotted_string)


def parse_slash_subject(text: str) -> tuple[tuple[str, str], ...]:
    """Parse ``/C=TH/O=Agency/CN=ชื่อ`` (backslash escapes a slash) into (short name, value) pairs."""
    if not text.startswith("/"):
        raise NameSyntaxError("a subject must be written in the slash form, starting with '/': /C=TH/O=.../CN=...")
    parts: list[str] = []
    current: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i + 1])
            i += 2
            continue
        if ch == "/":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    out: list[tuple[str, str]] = []
    for part in parts:
        name, sep, value = part.partition("=")
        name = ALIASES.get(name.strip(), name.strip())
        if not sep or not name:
            raise NameSyntaxError(f"subject component {part!r} is not NAME=VALUE")
        if name not in ATTRIBUTES:
            raise NameSyntaxError(f"unknown subject attribute {name!r}; known: {', '.join(ATTRIBUTES)}")
        value = value.strip()
        if not value:
            raise NameSyntaxError(f"subject attribute {name} is empty (RFC 5280 4.1.2.6)")
        out.append((name, value))
    return tuple(out)


def build_name(attrs: tuple[tuple[str, str], ...]) -> x509.Name:
    """Build a Name with each attribute in its RFC 5280 appendix A string type."""
    rdns = []
    for short, value in attrs:
        oid, asn1_type = ATTRIBUTES[short]
        if asn1_type is _ASN1Type.PrintableString and not set(value) <= _PRINTABLE:
            raise NameSyntaxError(f"{short} must be PrintableString characters (RFC 5280 appendix A): {value!r}")
        if short == "C" and (len(value) != 2 or not value.isupper()):
            raise NameSyntaxError(f"C must be a two-letter ISO 3166 code (RFC 5280 appendix A): {value!r}")
        bound = UPPER_BOUNDS.get(short)
        if bound is not None and len(value) > bound:
            raise NameSyntaxError(f"{short} is longer than {bound} characters (RFC 5280 appendix A)")
        # cryptography bounds the UTF-8 *bytes* (64 for CN), but X.520's ub-common-name counts
        # characters: a 22-letter Thai CN is 66 bytes. The bound in characters is checked above.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            attribute = x509.NameAttribute(oid, value, _type=asn1_type, _validate=False)
        rdns.append(x509.RelativeDistinguishedName([attribute]))
    return x509.Name(rdns)


def name_attributes(name: x509.Name) -> tuple[tuple[str, str], ...]:
    """(short name, value) pairs of a Name, in order; unknown attributes by dotted OID."""
    return tuple((short_name(a.oid), str(a.value)) for a in name)


def format_attrs(attrs: tuple[tuple[str, str], ...]) -> str:
    """The slash form of (short name, value) pairs (for display and `--subject` round trips)."""
    return "".join(f"/{k}={v.replace('/', chr(92) + '/')}" for k, v in attrs)


def format_name(name: x509.Name) -> str:
    return format_attrs(name_attributes(name))
