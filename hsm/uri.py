"""`pkcs11:` URIs (RFC 7512) naming a key by token label, object label and id.

The PIN is never part of a URI here: RFC 7512 2.3 allows ``pin-value`` but it would put a
secret in configuration and logs, so such URIs are refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from .errors import Pkcs11UriError

_PATH_ATTRS = {"token", "object", "id", "type", "manufacturer", "model", "serial", "library-description",
               "library-manufacturer", "library-version", "slot-description", "slot-id", "slot-manufacturer"}
_REFUSED = {"pin-value", "pin-source"}
_TYPES = {"private", "public", "cert", "secret-key", "data"}


def _pct(value: bytes) -> str:
    # RFC 7512 2.3: every octet outside the unreserved set is percent-encoded.
    return quote(value, safe="-._~")


@dataclass(frozen=True)
class KeyUri:
    """A key's address in a token: ``pkcs11:token=T;object=L;id=%01%02;type=private``."""

    token: str
    label: str
    key_id: bytes
    object_type: str = "private"

    def __post_init__(self) -> None:
        if self.object_type not in _TYPES:
            raise Pkcs11UriError(f"unknown pkcs11 object type {self.object_type!r} (RFC 7512 2.3)")

    def __str__(self) -> str:
        parts = [f"token={_pct(self.token.encode())}", f"object={_pct(self.label.encode())}"]
        if self.key_id:
            parts.append("id=" + "".join(f"%{b:02X}" for b in self.key_id))
        parts.append(f"type={self.object_type}")
        return "pkcs11:" + ";".join(parts)

    @classmethod
    def parse(cls, uri: str) -> "KeyUri":
        if not uri.startswith("pkcs11:"):
            raise Pkcs11UriError("a key URI must start with 'pkcs11:' (RFC 7512 2.3)")
        path, _, query = uri[len("pkcs11:"):].partition("?")
        attrs: dict[str, bytes] = {}
        for segment in filter(None, path.split(";")):
            name, sep, value = segment.partition("=")
            if not sep:
                raise Pkcs11UriError(f"pkcs11 URI attribute {name!r} has no value (RFC 7512 2.3)")
            if name in _REFUSED:
                raise Pkcs11UriError("a pkcs11 URI must not carry a PIN; configure a PIN source instead")
            if name not in _PATH_ATTRS:
                raise Pkcs11UriError(f"unknown pkcs11 URI attribute {name!r} (RFC 7512 2.3)")
            if name in attrs:
                raise Pkcs11UriError(f"pkcs11 URI attribute {name!r} given twice (RFC 7512 2.3)")
            attrs[name] = unquote_to_bytes(value)
        for segment in filter(None, query.split("&")):
            if segment.partition("=")[0] in _REFUSED:
                raise Pkcs11UriError("a pkcs11 URI must not carry a PIN; configure a PIN source instead")
        if "token" not in attrs or "object" not in attrs:
            raise Pkcs11UriError("a key URI needs both 'token' and 'object'")
        try:
            return cls(
                token=attrs["token"].decode("utf-8"),
                label=attrs["object"].decode("utf-8"),
                key_id=attrs.get("id", b""),
                object_type=attrs.get("type", b"private").decode("ascii"),
            )
        except UnicodeDecodeError as exc:
            raise Pkcs11UriError("pkcs11 URI token/object must be UTF-8") from exc
