"""The one module that opens PKCS#11 sessions.

Each :class:`Pkcs11Token` owns its per-process state: one logged-in session, the object handles
it looked up, an index of the token's key objects and the keys it exported. The PKCS#11 library
itself is process-global; ``hsm/library.py`` keeps its lock and notices forks and SoftHSM conf
changes, after which a token drops its state and logs in again (docs/field-notes.md). Two tokens
(the CA token and the service token) in one process each have their own login.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import (DuplicateKeyError, HsmError, KeyNotFoundError, PinSourceError, TokenNotFoundError,
                     UnsupportedMechanismError)
from .library import library
from .mechanisms import DIGEST_INFO_PREFIX, KeyType, Mechanism, select_token_call
from .pin import PinSource
from .uri import KeyUri

T = TypeVar("T")
OPEN_ATTEMPTS = 6  # finding the token and logging in, against SoftHSM's multi-process file store


@dataclass(frozen=True)
class TokenConfig:
    """Where a token is: PKCS#11 module path, token label, PIN source, optional SoftHSM conf.
    ``role`` ("CA", "service") names the token's security context in error messages."""

    module: str
    token_label: str
    pin_source: PinSource
    softhsm_conf: str | None = None
    role: str = ""


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


class _State:
    """What one token instance holds in one process and library generation."""

    def __init__(self, pid: int | None, generation: int) -> None:
        self.pid, self.generation = pid, generation
        self.session: Any = None
        self.handles: dict[tuple[str, bytes], Any] = {}
        self.keys: dict[str, "HsmKey"] = {}
        # (object class, label) -> [(CKA_ID, handle)] of every key object, read in one pass.
        # SoftHSM's file store touches every object on each C_FindObjects (~13 ms with 800 key
        # pairs here), so a service with thousands of officials' keys looks each up by one pass.
        self.index: dict[tuple[Any, str], list[tuple[bytes, Any]]] = {}
        self.indexed: set[Any] = set()


class Pkcs11Token:
    """A token. Its key pairs' only operation is :meth:`HsmKey.sign`."""

    def __init__(self, config: TokenConfig) -> None:
        self.config = config
        self._library = library(config.module)
        self._state = _State(None, -1)

    @property
    def label(self) -> str:
        return self.config.token_label

    def _where(self) -> str:
        return f"{self.config.role + ' ' if self.config.role else ''}token {self.config.token_label}"

    # --- session handling -------------------------------------------------------------
    def _session(self) -> Any:
        """This instance's logged-in session, opened lazily (after any fork). Caller holds the lock."""
        import pkcs11

        state, library_ = self._state, self._library
        conf = self.config.softhsm_conf
        if state.session is not None and state.pid == os.getpid() == library_.pid \
                and state.generation == library_.generation and conf in (None, library_.conf):
            return state.session
        lib = library_.load(conf)
        if state.session is not None and state.pid == library_.pid and state.generation == library_.generation:
            return state.session
        pin: str | None = None
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            state = self._state = _State(self._library.pid, self._library.generation)
            try:
                token = lib.get_token(token_label=self.config.token_label)
                pin = self._pin() if pin is None else pin
                session = self._login(token, pin)
                break
            except (pkcs11.NoSuchToken, pkcs11.GeneralError, pkcs11.UserPinNotInitialized) as exc:
                # SoftHSM's file store, read while another process writes it (a login rewrites the
                # token's files), fails its integrity check: the token is missing or looks blank
                # until the library re-reads its directory (SoftHSMv2 issue #757). Other causes
                # stay: a token that is not there is still not there after the last attempt.
                if attempt == OPEN_ATTEMPTS:
                    if isinstance(exc, pkcs11.NoSuchToken):
                        raise TokenNotFoundError(f"no PKCS#11 token labelled {self.config.token_label!r}") from exc
                    raise HsmError(f"{self._where()} could not be opened ({type(exc).__name__})") from exc
                time.sleep(0.02 * attempt)
                lib = self._library.reinitialise()
        state.session = session
        self._library.logged_in.add(self.config.token_label)
        return session

    def _pin(self) -> str:
        try:
            return self.config.pin_source.read()
        except PinSourceError as exc:
            raise PinSourceError(f"{self._where()}: {exc}") from None

    def _login(self, token: Any, pin: str) -> Any:
        import pkcs11

        try:
            return token.open(user_pin=pin, rw=True)
        except pkcs11.PinIncorrect as exc:
            raise HsmError(f"login to {self._where()} refused: wrong user PIN") from exc
        except pkcs11.UserAlreadyLoggedIn:
            # Login is per token and process: another instance (a legacy shared token) logged in.
            return token.open(rw=True)

    def open(self) -> None:
        """Log in now (reading the PIN source), so a command fails before it writes anything."""
        with self._library.lock:
            self._session()

    def check(self) -> None:
        """Raise unless the token answers (used by health checks)."""
        self.call(lambda session: session.generate_random(64))

    @contextlib.contextmanager
    def locked_session(self) -> Iterator[Any]:
        """The logged-in session, with the library lock held for the block (for hsm/ modules
        that drive other mechanisms, e.g. HMAC and AES-GCM). Handles are valid only inside it."""
        with self._library.lock:
            yield self._session()

    def call(self, fn: Callable[[Any], T]) -> T:
        """``fn(session)`` under the library lock, with this token logged in."""
        with self._library.lock:
            return fn(self._session())

    # --- secret keys (HMAC, AES) ----------------------------------------------------------
    def find_secret_key(self, label: str) -> Any | None:
        """The handle of the secret key labelled ``label``, or None. Use inside :meth:`call`."""
        import pkcs11

        with self._library.lock:
            return self._find(self._session(), label, pkcs11.ObjectClass.SECRET_KEY)

    def generate_secret_key(self, label: str, key_type: Any, bits: int, template: dict) -> Any:
        """Generate and store a secret key (a pkcs11.KeyType, e.g. GENERIC_SECRET or AES) with a
        random CKA_ID; ``template`` sets its attributes (CKA_SENSITIVE true and CKA_EXTRACTABLE
        false are forced). Returns the handle; use inside :meth:`call`."""
        import pkcs11
        from pkcs11 import Attribute

        template = {**template, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.PRIVATE: True}
        key_id = secrets.token_bytes(16)
        with self.locked_session() as session:
            if self._search(session, label, pkcs11.ObjectClass.SECRET_KEY) is not None:
                raise DuplicateKeyError(f"{self._where()} already holds a secret key labelled {label!r}")
            try:
                handle = session.generate_key(key_type, bits, label=label, id=key_id, store=True, template=template)
            except pkcs11.PKCS11Error as exc:
                raise HsmError(f"generating secret key {label!r} failed: {type(exc).__name__}") from exc
            self._remember(pkcs11.ObjectClass.SECRET_KEY, label, key_id, handle)
            return handle

    # --- key pairs ---------------------------------------------------------------------------
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
        with self.locked_session() as session:
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
            self._remember(pkcs11.ObjectClass.PUBLIC_KEY, label, key_id, public)
            self._remember(pkcs11.ObjectClass.PRIVATE_KEY, label, key_id, private)
            # Built from the handles just made: no read of the token's index (which costs a pass
            # over every key object, thousands with officials' keys) to find what is in hand.
            key_type_made, public_key = _export_public(private, public)
            uri = KeyUri(self.config.token_label, label, key_id)
            key = HsmKey(self, uri, key_type_made, public_key)
            self._state.keys[str(uri)] = key
            self._state.handles[(label, key_id)] = private
        return key

    def get_key(self, uri: KeyUri | str) -> "HsmKey":
        """The key pair at ``uri``. Looked up (and its public key exported) once per process."""
        import pkcs11

        text = uri if isinstance(uri, str) else str(uri)
        cached = self._state.keys.get(text)  # the hot path (every OCSP answer, seal, CSC signature)
        if cached is not None:
            return cached
        if isinstance(uri, str):
            uri = KeyUri.parse(uri)
        if uri.token != self.config.token_label:
            raise KeyNotFoundError(f"key URI names token {uri.token!r}, this is {self.config.token_label!r}")
        with self.locked_session() as session:
            private = self._find(session, uri.label, pkcs11.ObjectClass.PRIVATE_KEY, uri.key_id)
            public = self._find(session, uri.label, pkcs11.ObjectClass.PUBLIC_KEY, uri.key_id)
            if private is None or public is None:
                raise KeyNotFoundError(f"no key pair {uri} in the token")
            key_type, public_key = _export_public(private, public)
            key_id = bytes(private[pkcs11.Attribute.ID])
            key = HsmKey(self, KeyUri(uri.token, uri.label, key_id), key_type, public_key)
            self._state.keys[text] = key
        return key

    def list_key_objects(self) -> list[KeyObjectInfo]:
        import pkcs11
        from pkcs11 import Attribute, ObjectClass

        out: list[KeyObjectInfo] = []
        with self.locked_session() as session:
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

    def private_key_attributes(self, uri: KeyUri | str) -> dict:
        """What the token itself reports about the private key at ``uri`` and about itself (for a
        key ceremony's transcript): PKCS#11 CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE,
        CKA_NEVER_EXTRACTABLE, CKA_PRIVATE, CKA_SIGN, the key's label and id, the token's label,
        serial number, manufacturer and model. Read from the token, not from what govca asked for."""
        import pkcs11
        from pkcs11 import Attribute

        if isinstance(uri, str):
            uri = KeyUri.parse(uri)
        with self.locked_session() as session:
            found = list(session.get_objects({Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY,
                                              Attribute.LABEL: uri.label, Attribute.ID: uri.key_id}))
            if len(found) != 1:
                raise KeyNotFoundError(f"no private key {uri} in the token ({len(found)} found)")
            key, token = found[0], session.token
            flags = {name: bool(key[attr]) for name, attr in (
                ("CKA_SENSITIVE", Attribute.SENSITIVE), ("CKA_EXTRACTABLE", Attribute.EXTRACTABLE),
                ("CKA_ALWAYS_SENSITIVE", Attribute.ALWAYS_SENSITIVE),
                ("CKA_NEVER_EXTRACTABLE", Attribute.NEVER_EXTRACTABLE), ("CKA_PRIVATE", Attribute.PRIVATE),
                ("CKA_SIGN", Attribute.SIGN))}
            return {"token_label": token.label, "token_serial": str(token.serial, "ascii", "replace").strip()
                    if isinstance(token.serial, bytes) else str(token.serial).strip(),
                    "token_manufacturer": str(token.manufacturer_id).strip(), "token_model": str(token.model).strip(),
                    "key_label": key[Attribute.LABEL], "key_id": bytes(key[Attribute.ID]).hex(),
                    "key_type": pkcs11.KeyType(key[Attribute.KEY_TYPE]).name, **flags}

    # --- the index of key objects ---------------------------------------------------------------
    def _remember(self, object_class: Any, label: str, key_id: bytes, handle: Any) -> None:
        """Add a key this instance just made to its index (if the index was read already)."""
        if object_class in self._state.indexed:
            self._state.index.setdefault((object_class, label), []).append((key_id, handle))

    def _find(self, session: Any, label: str, object_class: Any, key_id: bytes = b"") -> Any:
        """The handle of a key object, from this instance's index; a miss re-reads the index once
        (a key made by another process since). Caller holds the lock, after _session()."""
        from pkcs11 import Attribute

        state = self._state
        for attempt in (1, 2):
            if object_class in state.indexed:
                found = [h for i, h in state.index.get((object_class, label), ()) if not key_id or i == key_id]
                if len(found) > 1:
                    raise HsmError(f"{len(found)} objects share the label {label!r}; address the key by id")
                if found or attempt == 2:
                    return found[0] if found else None
            for stale in [k for k in state.index if k[0] == object_class]:
                del state.index[stale]
            for obj in session.get_objects({Attribute.CLASS: object_class}):
                state.index.setdefault((object_class, obj[Attribute.LABEL]), []).append((bytes(obj[Attribute.ID]), obj))
            state.indexed.add(object_class)
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
        with self._library.lock:
            session = self._session()
            # Object handles are per process; looking the key up once saves a C_FindObjects
            # round trip on every signature.
            handles = self._state.handles
            private = handles.get((key.uri.label, key.uri.key_id))
            if private is None:
                private = self._find(session, key.uri.label, pkcs11.ObjectClass.PRIVATE_KEY, key.uri.key_id)
                if private is None:
                    raise KeyNotFoundError(f"no private key {key.uri} in the token")
                handles[(key.uri.label, key.uri.key_id)] = private
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
