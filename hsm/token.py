"""The one module that opens PKCS#11 sessions.

python-pkcs11 initialises the library without mutexes (C_Initialize(NULL)), so SoftHSM is not
thread-safe here: every token call in a process is serialised by one lock. Parallelism comes
from processes, each opening the library itself after a fork (docs/field-notes.md). A second login
in one process raises UserAlreadyLoggedIn, so each process keeps one logged-in session.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import DuplicateKeyError, HsmError, KeyNotFoundError, TokenNotFoundError, UnsupportedMechanismError
from .mechanisms import DIGEST_INFO_PREFIX, KeyType, Mechanism, select_token_call
from .pin import PinSource
from .uri import KeyUri

_LOCK = threading.RLock()
_OPEN: dict[tuple[str, str], tuple[int, Any]] = {}
_HANDLES: dict[tuple[int, str, bytes], Any] = {}
_ACTIVE_CONF: dict[str, str] = {}
_KEYS: dict[tuple[int, str, str], "HsmKey"] = {}
# Per process: (token, object class, label) -> [(CKA_ID, handle)] of every key object, read in one pass.
# SoftHSM's file store touches every object on each C_FindObjects (~13 ms with 800 key pairs
# here), so a service with thousands of officials' keys looks each up by one pass, not a search.
_INDEX: dict[tuple[str, Any, str], list[tuple[bytes, Any]]] = {}
_INDEXED: set[Any] = set()


@dataclass(frozen=True)
class TokenConfig:
    """Where a token is: PKCS#11 module path, token label, PIN source, optional SoftHSM conf."""

    module: str
    token_label: str
    pin_source: PinSource
    softhsm_conf: str | None = None


@dataclass(frozen=True)
class KeyObjectInfo:
    """One key object as the token reports it (for `govca hsm keys`)."""

    label: str
    key_id: str
    object_class: str
    key_type: str
    sensitive: bool | None
    extractable: bool | None
    uri: str


class Pkcs11Token:
    """A token. Its keys' only operation is :meth:`HsmKey.sign`."""

    def __init__(self, config: TokenConfig) -> None:
        self.config = config

    # --- session handling -------------------------------------------------------------
    def _session(self) -> Any:
        """The process's logged-in session, opened lazily (after any fork). Caller holds _LOCK."""
        key = (self.config.module, self.config.token_label, self.config.softhsm_conf or "")
        pid = os.getpid()
        cached = _OPEN.get(key)
        if cached and cached[0] == pid:
            return cached[1]
        import pkcs11

        conf = self.config.softhsm_conf
        stale_fork = any(p != pid for p, _ in _OPEN.values())
        switched_conf = conf is not None and _ACTIVE_CONF.get(self.config.module, conf) != conf
        if conf is not None:
            # SoftHSM reads its configuration at C_Initialize, so a different token directory (a
            # fresh token per test) needs the library re-initialised; in a service there is one.
            os.environ["SOFTHSM2_CONF"] = conf
        lib = pkcs11.lib(self.config.module)
        if stale_fork or switched_conf:
            # A forked child inherits the parent's handles, which are not valid in it.
            _OPEN.clear()
            _HANDLES.clear()
            _KEYS.clear()
            _INDEX.clear()
            _INDEXED.clear()
            lib.reinitialize()
        if conf is not None:
            _ACTIVE_CONF[self.config.module] = conf
        try:
            token = lib.get_token(token_label=self.config.token_label)
        except pkcs11.NoSuchToken as exc:
            raise TokenNotFoundError(f"no PKCS#11 token labelled {self.config.token_label!r}") from exc
        pin = self.config.pin_source.read()
        try:
            session = token.open(user_pin=pin, rw=True)
        except pkcs11.PinIncorrect as exc:
            raise HsmError(f"login to token {self.config.token_label!r} refused: wrong user PIN") from exc
        except pkcs11.UserAlreadyLoggedIn:
            session = token.open(rw=True)
        _OPEN[key] = (pid, session)
        return session

    def check(self) -> None:
        """Raise unless the token answers (used by health checks)."""
        with _LOCK:
            self._session().generate_random(64)

    # --- keys ----------------------------------------------------------------------------
    def generate_key_pair(self, key_type: KeyType, label: str) -> "HsmKey":
        """Generate a key pair inside the token: private key sensitive, non-extractable, private."""
        import pkcs11
        from pkcs11 import Attribute
        from pkcs11.util.ec import encode_named_curve_parameters

        key_id = secrets.token_bytes(16)
        private_template = {
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.PRIVATE: True,
            Attribute.SIGN: True,
            Attribute.DECRYPT: False,
            Attribute.UNWRAP: False,
            Attribute.DERIVE: False,
        }
        public_template = {Attribute.VERIFY: True, Attribute.ENCRYPT: False, Attribute.WRAP: False}
        with _LOCK:
            session = self._session()
            if self._search(session, label, pkcs11.ObjectClass.PRIVATE_KEY) is not None:
                raise DuplicateKeyError(f"the token already holds a key labelled {label!r}")
            if key_type.is_rsa:
                public, private = session.generate_keypair(
                    pkcs11.KeyType.RSA, key_type.bits, store=True, label=label, id=key_id,
                    public_template=public_template, private_template=private_template,
                )
            else:
                params = session.create_domain_parameters(
                    pkcs11.KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters(key_type.curve_name)},
                    local=True,
                )
                public, private = params.generate_keypair(
                    store=True, label=label, id=key_id,
                    public_template=public_template, private_template=private_template,
                )
            for cls_, obj in ((pkcs11.ObjectClass.PUBLIC_KEY, public), (pkcs11.ObjectClass.PRIVATE_KEY, private)):
                if (self.config.token_label, cls_) in _INDEXED:
                    _INDEX.setdefault((self.config.token_label, cls_, label), []).append((key_id, obj))
        return self.get_key(KeyUri(self.config.token_label, label, key_id))

    def get_key(self, uri: KeyUri | str) -> "HsmKey":
        """The key pair at ``uri``. Looked up (and its public key exported) once per process."""
        import pkcs11

        cache_key = (os.getpid(), self.config.token_label, str(uri))
        cached = _KEYS.get(cache_key)
        if cached is not None:
            return cached
        if isinstance(uri, str):
            uri = KeyUri.parse(uri)
        if uri.token != self.config.token_label:
            raise KeyNotFoundError(f"key URI names token {uri.token!r}, this is {self.config.token_label!r}")
        with _LOCK:
            session = self._session()
            private = self._find(session, uri.label, pkcs11.ObjectClass.PRIVATE_KEY, uri.key_id)
            public = self._find(session, uri.label, pkcs11.ObjectClass.PUBLIC_KEY, uri.key_id)
            if private is None or public is None:
                raise KeyNotFoundError(f"no key pair {uri} in the token")
            key_type, public_key = _export_public(private, public)
            key_id = bytes(private[pkcs11.Attribute.ID])
        key = HsmKey(self, KeyUri(uri.token, uri.label, key_id), key_type, public_key)
        _KEYS[cache_key] = key
        return key

    def list_key_objects(self) -> list[KeyObjectInfo]:
        import pkcs11
        from pkcs11 import Attribute, ObjectClass

        out: list[KeyObjectInfo] = []
        with _LOCK:
            session = self._session()
            for cls_, name in ((ObjectClass.PRIVATE_KEY, "private"), (ObjectClass.PUBLIC_KEY, "public"),
                               (ObjectClass.SECRET_KEY, "secret")):
                for obj in session.get_objects({Attribute.CLASS: cls_}):
                    sensitive = extractable = None
                    if cls_ != ObjectClass.PUBLIC_KEY:
                        sensitive = bool(obj[Attribute.SENSITIVE])
                        extractable = bool(obj[Attribute.EXTRACTABLE])
                    label = obj[Attribute.LABEL]
                    key_id = bytes(obj[Attribute.ID])
                    out.append(KeyObjectInfo(
                        label=label, key_id=key_id.hex(), object_class=name,
                        key_type=pkcs11.KeyType(obj[Attribute.KEY_TYPE]).name,
                        sensitive=sensitive, extractable=extractable,
                        uri=str(KeyUri(self.config.token_label, label, key_id, name if name != "secret" else "secret-key")),
                    ))
        return sorted(out, key=lambda o: (o.label, o.object_class))

    def _find(self, session: Any, label: str, object_class: Any, key_id: bytes = b"") -> Any:
        """The handle of a key object, from the process's index; a miss re-reads the index once
        (a key made by another process since). Caller holds _LOCK, after _session()."""
        from pkcs11 import Attribute

        token = self.config.token_label
        for attempt in (1, 2):
            if (token, object_class) in _INDEXED:
                found = [h for i, h in _INDEX.get((token, object_class, label), ()) if not key_id or i == key_id]
                if len(found) > 1:
                    raise HsmError(f"{len(found)} objects share the label {label!r}; address the key by id")
                if found or attempt == 2:
                    return found[0] if found else None
            for stale in [k for k in _INDEX if k[:2] == (token, object_class)]:
                del _INDEX[stale]
            for obj in session.get_objects({Attribute.CLASS: object_class}):
                _INDEX.setdefault((token, object_class, obj[Attribute.LABEL]), []).append((bytes(obj[Attribute.ID]), obj))
            _INDEXED.add((token, object_class))
        return None

    @staticmethod
    def _search(session: Any, label: str, object_class: Any) -> Any:
        """An exact C_FindObjects by label, for checks that must see every process's keys."""
        from pkcs11 import Attribute

        found = list(session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label}))
        return found[0] if found else None

    def _sign(self, key: "HsmKey", data: bytes, mechanism: Mechanism, prehashed: bool) -> bytes:
        import pkcs11

        if not mechanism.fits(key.key_type):
            raise UnsupportedMechanismError(f"{mechanism.value} does not fit a {key.key_type.value} key")
        call = select_token_call(mechanism, prehashed)
        payload = data
        if call.prepare in ("digest", "digest_info") and not prehashed:
            payload = hashlib.new(mechanism.hash_name, data).digest()
        if prehashed and len(payload) != hashlib.new(mechanism.hash_name).digest_size:
            raise UnsupportedMechanismError(f"a {mechanism.hash_name} digest must be "
                                            f"{hashlib.new(mechanism.hash_name).digest_size} bytes")
        if call.prepare == "digest_info":
            payload = DIGEST_INFO_PREFIX[mechanism.hash_name] + payload
        with _LOCK:
            session = self._session()
            # Object handles are per process; looking the key up once per process saves a
            # C_FindObjects round trip on every signature.
            cache_key = (os.getpid(), key.uri.label, key.uri.key_id)
            private = _HANDLES.get(cache_key)
            if private is None:
                private = self._find(session, key.uri.label, pkcs11.ObjectClass.PRIVATE_KEY, key.uri.key_id)
                if private is None:
                    raise KeyNotFoundError(f"no private key {key.uri} in the token")
                _HANDLES[cache_key] = private
            signature = private.sign(payload, mechanism=call.mechanism, mechanism_param=call.mechanism_param)
        return _ecdsa_der(bytes(signature)) if call.der_encode_ecdsa else bytes(signature)


def _ecdsa_der(raw: bytes) -> bytes:
    """r||s from CKM_ECDSA as Ecdsa-Sig-Value, SEQUENCE { r INTEGER, s INTEGER } (RFC 3279 2.2.3)."""
    half = len(raw) // 2
    parts = []
    for value in (raw[:half], raw[half:]):
        value = value.lstrip(b"\x00") or b"\x00"
        if value[0] & 0x80:
            value = b"\x00" + value
        parts.append(b"\x02" + bytes([len(value)]) + value)
    body = b"".join(parts)
    return b"\x30" + (bytes([len(body)]) if len(body) < 0x80 else b"\x81" + bytes([len(body)])) + body


def _export_public(private: Any, public: Any) -> tuple[KeyType, Any]:
    import pkcs11
    from pkcs11 import Attribute
    from pkcs11.util.ec import encode_ec_public_key
    from pkcs11.util.rsa import encode_rsa_public_key

    if private.key_type == pkcs11.KeyType.RSA:
        pub = serialization.load_der_public_key(_rsa_spki(encode_rsa_public_key(public)))
        assert isinstance(pub, rsa.RSAPublicKey)
        return KeyType(f"rsa{pub.key_size}"), pub
    if private.key_type == pkcs11.KeyType.EC:
        pub = serialization.load_der_public_key(encode_ec_public_key(public))
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        curve = {"secp256r1": KeyType.EC_P256, "secp384r1": KeyType.EC_P384}.get(pub.curve.name)
        if curve is None:
            raise HsmError(f"unsupported curve {pub.curve.name}")
        return curve, pub
    raise HsmError(f"unsupported key type {private[Attribute.KEY_TYPE]}")


def _rsa_spki(pkcs1: bytes) -> bytes:
    from asn1crypto import keys

    return keys.PublicKeyInfo({
        "algorithm": {"algorithm": "rsa"},
        "public_key": keys.RSAPublicKey.load(pkcs1),
    }).dump()


@dataclass(frozen=True)
class HsmKey:
    """A private key held in a token. Its one operation is ``sign``; the key never leaves."""

    token: Pkcs11Token
    uri: KeyUri
    key_type: KeyType
    public_key: Any

    def sign(self, data: bytes, mechanism: Mechanism, prehashed: bool = False) -> bytes:
        """Sign ``data`` (or, with ``prehashed``, its digest). ECDSA signatures come DER-encoded."""
        return self.token._sign(self, data, mechanism, prehashed)

    def public_key_der(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def iter_private_flags(token: Pkcs11Token) -> Iterator[KeyObjectInfo]:
    """Every private or secret key object, for custody checks."""
    return (o for o in token.list_key_objects() if o.object_class != "public")
