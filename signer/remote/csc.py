"""The remote-signing core behind the CSC API adapters (ขมธอ. 36-2566, CEN EN 419 241-1).

Credentials are officials (SCAL 2: PIN + TOTP, the SAD bound to the exact hashes, at most
numSignatures signatures, a short expiry) and agency seals (SCAL 1). Five wrong PIN/OTP
attempts lock an official's credential for a configurable time. Every authorisation attempt and
every signature is audited with the credential, the hashes and the outcome.

Whatever authorises a signature is bound to keys in the service token (sensitive, not
extractable): a SAD row counts only with an HMAC computed in the HSM over its content (the SAD's
digest, the credential, the hashes, the budget, the expiry), made only after the official's PIN
and OTP were checked (EN 419 241-1 SCAL2 sole control, ขมธอ. 36-2566); an access token only with
an HSM MAC over its client and expiry (signer/credentials.py). The database keeps the remaining
budget, the consumed hashes and the locks, never the authority to sign: a row written by hand, or
one whose hashes, budget or expiry were raised, signs nothing.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Iterator, NoReturn

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import delete

from hsm import HsmError, KeyNotFoundError, Mechanism
from policies.status import CertStatus

from .officials import CscSadRow, Official, OfficialRepository, OfficialStatus
from ..credentials import AccessTokens
from ..errors import SignerError
from ..pins import Mac
from ..registry import ApiClient, SignerRepository

RSA_ALGOS = {"1.2.840.113549.1.1.11": Mechanism.RSA_PKCS1V15_SHA256, "1.2.840.113549.1.1.12": Mechanism.RSA_PKCS1V15_SHA384,
             "1.2.840.113549.1.1.13": Mechanism.RSA_PKCS1V15_SHA512}
EC_ALGOS = {"1.2.840.10045.4.3.2": Mechanism.ECDSA_SHA256, "1.2.840.10045.4.3.3": Mechanism.ECDSA_SHA384,
            "1.2.840.10045.4.3.4": Mechanism.ECDSA_SHA512}
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
HASH_OIDS = {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384", "2.16.840.1.101.3.4.2.3": "sha512"}
# CSC v1 credentials/authorize: one answer for a wrong PIN and a wrong OTP (which factor was wrong
# is not told to the caller; the audit record says it).
V1_INVALID_FACTORS = "The PIN or OTP is invalid"
# RFC 6238 5.2: a right code already used, with the right PIN (v1 and v2 alike).
OTP_REUSED = "The OTP was already used; wait for the next code"
CURVES = {"secp256r1": "1.2.840.10045.3.1.7", "secp384r1": "1.3.132.0.34"}
SAD_KEY_LABEL = "govca-sad-mac-v1"
KEYS_MISSING = ("Remote signing is not set up: the service token lacks its authorisation keys (an administrator "
                "runs `govca official upgrade-keys`)")
log = logging.getLogger("govca.csc")


class CscError(Exception):
    """A CSC error: ``error`` code and description (CSC v1/v2 error model), and the HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class CscSettings:
    lock_after: int = 5                 # wrong PIN/OTP attempts before the credential locks
    lock_minutes: int = 15
    sad_seconds: int = 300              # SAD lifetime
    official_multisign: int = 10        # numSignatures budget of one SCAL2 authorisation
    seal_multisign: int = 100


@dataclass(frozen=True)
class Credential:
    id: str
    kind: str  # "official" | "seal"
    agency_code: str
    label: str
    key_uri: str
    cert_der: bytes
    chain_der: tuple[bytes, ...]
    scal: str
    multisign: int
    enabled: bool
    official_id: int | None = None

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.cert_der)

    def key_info(self) -> dict[str, Any]:
        key = self.cert.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            # docs/csc.md interop rule 1: combined signature-algorithm OIDs, not bare rsaEncryption,
            # and only those signHash serves (RSASSA-PSS is not, so it is not offered).
            return {"status": "enabled" if self.enabled else "disabled", "algo": list(RSA_ALGOS),
                    "len": key.key_size}
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return {"status": "enabled" if self.enabled else "disabled", "algo": list(EC_ALGOS),
                "len": key.curve.key_size, "curve": CURVES[key.curve.name]}


@functools.lru_cache(maxsize=4096)
def _not_after(cert_der: bytes) -> dt.datetime:
    return x509.load_der_x509_certificate(cert_der).not_valid_after_utc


class RemoteSigning:
    def __init__(self, officials: OfficialRepository, repo: SignerRepository, keys: Any,
                 cert_status: Callable[[str, str], CertStatus], audit: Callable[[str, str, str, str, dict], None],
                 audit_in: Callable[[Any, str, str, str, str, dict], None],
                 tokens: AccessTokens, sad_mac: Mac, clock: Callable[[], dt.datetime],
                 settings: CscSettings = CscSettings()) -> None:
        """``audit`` writes an audit event in its own transaction; ``audit_in(session, ...)`` in the
        caller's, so a state change and its audit record commit together. ``tokens`` and ``sad_mac``
        compute their MACs in the service token (keys govca-token-mac-v1, govca-sad-mac-v1)."""
        self.officials, self.repo, self.keys, self.cert_status = officials, repo, keys, cert_status
        self.audit, self.audit_in, self.clock, self.settings = audit, audit_in, clock, settings
        self.tokens, self.sad_mac = tokens, sad_mac

    # --- service authorisation (auth/login) -------------------------------------------------
    def login(self, client: ApiClient, lifetime: int = 3600) -> tuple[str, int]:
        """An access token of at most an hour, MAC'd in the HSM (signer/credentials.py)."""
        with keys_present():
            return self.tokens.issue(client.id, self.clock().timestamp(), lifetime)

    def client_of_token(self, token: str) -> int | None:
        """The API client id of a CSC access token, if its HSM MAC checks and it expires within the hour."""
        with keys_present():
            return self.tokens.client_of(token, self.clock().timestamp())

    # --- credentials ---------------------------------------------------------------------------
    def credentials(self, client: ApiClient) -> list[Credential]:
        creds = []
        for o in self.officials.list(client.agency_code):
            if o.key_uri and o.cert_der:
                creds.append(self._official_credential(o))
        for seal in self.repo.seals_of(client.agency_code):
            usable = self.cert_status(seal.ca_name, seal.serial_hex) is CertStatus.GOOD and seal.not_after > self.clock()
            creds.append(Credential(f"seal-{seal.serial_hex}", "seal", seal.agency_code, seal.serial_hex, seal.key_uri,
                                    seal.cert_der, seal.chain_der, "1", self.settings.seal_multisign, usable))
        return creds

    def _official_credential(self, o: Official) -> Credential:
        """An official's credential is enabled only while the official is active AND the
        certificate is good and unexpired (RFC 5280 6.1.3 (a)(2)-(3): a relying party would refuse
        a signature made with a revoked or expired certificate, so none is made)."""
        assert o.key_uri and o.cert_der and o.ca_name and o.cert_serial
        usable = (o.status is OfficialStatus.ACTIVE and self.cert_status(o.ca_name, o.cert_serial) is CertStatus.GOOD
                  and _not_after(o.cert_der) > self.clock())
        return Credential(f"official-{o.id}", "official", o.agency_code, o.name_en, o.key_uri, o.cert_der,
                          o.chain_der, "2", self.settings.official_multisign, usable, o.id)

    def credential(self, client: ApiClient, credential_id: Any, action: str = "csc.credential") -> Credential:
        """One credential by id, of the client's agency only (looked up directly, not by listing).
        A credential of another agency is refused exactly like an unknown one, and audited as a
        probe (ขมธอ. 36-2566: every attempt to use a credential is recorded)."""
        actor = f"api:client-{client.id}"
        if not isinstance(credential_id, str) or not credential_id:
            self.audit(actor, action, "-", "refused", {"error": "credentialID missing"})
            raise CscError("invalid_request", "Missing (or invalid type) string parameter credentialID")
        kind, _, ident = credential_id.partition("-")
        owner = None
        try:
            if kind == "official" and ident.isdigit():
                o = self.officials.get(int(ident))
                owner = o.agency_code
                if o.agency_code == client.agency_code and o.key_uri and o.cert_der:
                    return self._official_credential(o)
            elif kind == "seal" and ident:
                seal = self.repo.get_seal(ident)
                owner = seal.agency_code
                if seal.agency_code == client.agency_code:
                    usable = self.cert_status(seal.ca_name, seal.serial_hex) is CertStatus.GOOD and seal.not_after > self.clock()
                    return Credential(credential_id, "seal", seal.agency_code, seal.serial_hex, seal.key_uri,
                                      seal.cert_der, seal.chain_der, "1", self.settings.seal_multisign, usable)
        except SignerError:
            pass
        subject = credential_id[:80]
        if owner is not None and owner != client.agency_code:
            self.audit(actor, action, subject, "refused", {"error": "probe: a credential of another agency",
                                                           "credential": subject, "credential_agency": owner,
                                                           "client_agency": client.agency_code})
        else:
            self.audit(actor, action, subject, "refused", {"error": "unknown credential", "credential": subject})
        raise CscError("invalid_request", "Invalid parameter credentialID")

    # --- authorisation (credentials/authorize) ------------------------------------------------
    def authorize(self, client: ApiClient, cred: Credential, num_signatures: Any, hashes: list[bytes] | None,
                  pin: str | None, otp: str | None, version: int) -> tuple[str, int]:
        actor = f"api:client-{client.id}"
        detail = {"credential": cred.id, "hashes": [h.hex() for h in hashes or []]}

        def refuse(error: str, exc: CscError) -> NoReturn:
            """A refusal before the factor check: audited all the same (every attempt is)."""
            self.audit(actor, "csc.authorize", cred.id, "refused", {**detail, "error": error})
            raise exc

        if not cred.enabled:
            refuse("disabled", CscError("invalid_request", "The credential identified by credentialID is disabled"))
        if not isinstance(num_signatures, int) or isinstance(num_signatures, bool):
            refuse("numSignatures missing", CscError("invalid_request",
                                                     "Missing (or invalid type) integer parameter numSignatures"))
        if num_signatures < 1:
            refuse("numSignatures below 1", CscError("invalid_request", "Invalid value for parameter numSignatures"))
        if num_signatures > cred.multisign:
            refuse("numSignatures over the limit", CscError("invalid_request", "Numbers of signatures is too high"))
        if cred.scal == "2":
            # SCAL2: the SAD is bound to the hashes to be signed, one per signature.
            if not hashes or len(hashes) != num_signatures:
                name = "hash" if version == 1 else "hashes"
                refuse("hashes missing", CscError("invalid_request", f"Missing (or invalid type) array parameter {name}"))
            if not isinstance(pin, str) or not pin:
                refuse("PIN missing", CscError("invalid_request", "Missing (or invalid type) string parameter PIN"))
            if not isinstance(otp, str) or not otp:
                refuse("OTP missing", CscError("invalid_request", "Missing (or invalid type) string parameter OTP"))
            assert cred.official_id is not None
        sad = secrets.token_urlsafe(32)
        now = self.clock()
        expires = (now + dt.timedelta(seconds=self.settings.sad_seconds)).replace(microsecond=0)
        refused: CscError | None = None
        # One transaction, the official's row locked FOR UPDATE from the factor check on: the lock,
        # the check, the failure count (or the TOTP code consumed), the SAD and the audit record
        # commit together, one request at a time per official, so no more than lock_after wrong
        # factors are ever judged (EN 419 241-1; RFC 6238 5.2: a code is accepted once).
        with keys_present(), self.officials.write() as s:  # a key missing from the token: 503, nothing written
            s.execute(delete(CscSadRow).where(CscSadRow.expires_at <= now))  # expired SADs purged
            if cred.scal == "2":
                official_id: int = cred.official_id  # type: ignore[assignment]
                check = self.officials.check_factors(official_id, pin, otp, now, session=s)  # type: ignore[arg-type]
                if check.locked:
                    self.audit_in(s, actor, "csc.authorize", cred.id, "refused", {**detail, "error": "locked"})
                    refused = CscError("invalid_request", "PIN locked" if version == 1 else "Credential locked")
                elif check.pin_ok and check.reused:
                    refused = self._reused(s, actor, cred, version, detail)
                elif not (check.pin_ok and check.step is not None
                          and self.officials.consume_step(s, official_id, check.step, now)):
                    refused = self._failed(s, actor, cred, version, detail, check.pin_ok, now)
            if refused is None:
                # Only now, the factors checked and the code consumed, does the HSM MAC the SAD.
                digest = hashlib.sha256(sad.encode()).hexdigest()
                bound = sorted({h.hex() for h in hashes or []}) if cred.scal == "2" else []
                mac = self.sad_mac(sad_message(digest, cred.id, bound, num_signatures, expires))
                s.add(CscSadRow(sad_sha256=digest, credential_id=cred.id, hashes=json.dumps(bound),
                                remaining=num_signatures, budget=num_signatures, consumed="[]", mac=mac.hex(),
                                expires_at=expires, created_at=now))
                if cred.scal == "2":
                    self.officials.upgrade_seed(s, cred.official_id)  # type: ignore[arg-type]
                self.audit_in(s, actor, "csc.authorize", cred.id, "success",
                              {**detail, "numSignatures": num_signatures})
        if refused is not None:
            raise refused
        return sad, self.settings.sad_seconds

    def _failed(self, s: Any, actor: str, cred: Credential, version: int, detail: dict, pin_ok: bool,
                now: dt.datetime) -> CscError:
        """A wrong PIN or OTP (or a code already used), counted and audited in the authorisation
        transaction. The answer does not say which factor was wrong (v1 and v2 alike)."""
        official_id: int = cred.official_id  # type: ignore[assignment]
        attempts = self.officials.count_failure(s, official_id, now, self.settings.lock_after, self.settings.lock_minutes)
        self.audit_in(s, actor, "csc.authorize", cred.id, "refused",
                      {**detail, "error": "invalid_pin" if not pin_ok else "invalid_otp",
                       "failed_attempts": attempts})
        if version == 2:
            return CscError("invalid_authentication_data", "The authentication data is invalid")
        return CscError("invalid_request", V1_INVALID_FACTORS)

    def _reused(self, s: Any, actor: str, cred: Credential, version: int, detail: dict) -> CscError:
        """The right PIN and a right TOTP code whose step was already used (RFC 6238 5.2: a code
        is accepted once): audited in the authorisation transaction, not counted towards the lock.
        The answer says only that the code was already used, and is given only when the PIN was
        right; with a wrong PIN the attempt is a wrong factor like any other (:meth:`_failed`)."""
        self.audit_in(s, actor, "csc.authorize", cred.id, "refused", {**detail, "error": "otp_reused"})
        return CscError("invalid_authentication_data" if version == 2 else "invalid_request", OTP_REUSED)

    # --- signatures/signHash --------------------------------------------------------------------
    def sign_hash(self, client: ApiClient, cred: Credential, sad: Any, hashes: list[bytes], sign_algo: Any,
                  hash_algo: Any) -> list[bytes]:
        actor = f"api:client-{client.id}"
        detail = {"credential": cred.id, "hashes": [h.hex() for h in hashes]}
        try:
            mechanism = self._mechanism(cred, sign_algo, hash_algo)
            size = hashlib.new(mechanism.hash_name).digest_size
            if any(len(h) != size for h in hashes):
                raise CscError("invalid_request", "Invalid digest value length")
            if not cred.enabled:
                raise CscError("invalid_request", "The credential identified by credentialID is disabled")
        except CscError as exc:
            self.audit(actor, "csc.signHash", cred.id, "refused", {**detail, "error": exc.description})
            raise
        self.redeem(client, cred, sad, hashes, "csc.signHash")
        key = self.keys.get_key(cred.key_uri)
        signatures = [key.sign(h, mechanism, prehashed=True) for h in hashes]
        self.audit(actor, "csc.signHash", cred.id, "success", {**detail, "mechanism": mechanism.value})
        return signatures

    def redeem(self, client: ApiClient, cred: Credential, sad: Any, hashes: list[bytes], action: str,
               error: CscError | None = None) -> None:
        """Spend ``len(hashes)`` signatures of a SAD issued for ``cred`` (SCAL2: only on the hashes it
        was issued for), before anything is signed, so a SAD never signs more than it allows."""
        detail = {"credential": cred.id, "hashes": [h.hex() for h in hashes]}
        if not isinstance(sad, str) or not sad:
            raise CscError("invalid_request", "Missing (or invalid type) string parameter SAD")
        now = self.clock()
        digest = hashlib.sha256(sad.encode()).hexdigest()
        try:
            with self.officials.write() as s:
                row = s.get(CscSadRow, digest, with_for_update=True)
                if row is None or row.credential_id != cred.id:
                    raise CscError("invalid_request", "Invalid parameter SAD")
                if row.expires_at <= now:  # a lowered expiry only shortens the SAD: told as such
                    raise CscError("invalid_request", "SAD expired")
                if not self._genuine(row, digest):
                    detail["sad_error"] = "no HSM MAC over this row's content"
                    raise CscError("invalid_request", "Invalid parameter SAD")
                if row.remaining < len(hashes):
                    raise CscError("invalid_request", "Numbers of signatures is too high")
                open_hashes = set(json.loads(row.hashes)) - set(json.loads(row.consumed or "[]"))
                if cred.scal == "2" and not {h.hex() for h in hashes} <= open_hashes:
                    raise error or CscError("invalid_request", "Hash is not authorized by the SAD.")
                row.remaining -= len(hashes)
                if cred.scal == "2":
                    row.consumed = json.dumps(sorted(set(json.loads(row.consumed or "[]")) | {h.hex() for h in hashes}))
        except CscError as exc:
            self.audit(f"api:client-{client.id}", action, cred.id, "refused", {**detail, "error": exc.description})
            raise

    def _genuine(self, row: CscSadRow, digest: str) -> bool:
        """The row's authority: an HSM MAC over the SAD's digest, its credential, the exact hashes,
        the budget and the expiry as issued. The remaining count may only be lower than the budget."""
        if row.mac is None or row.budget is None or not 0 <= row.remaining <= row.budget:
            return False
        try:
            hashes, consumed, mac = json.loads(row.hashes), json.loads(row.consumed or "[]"), bytes.fromhex(row.mac)
        except ValueError:
            return False
        if not all(isinstance(v, list) and all(isinstance(h, str) for h in v) for v in (hashes, consumed)):
            return False
        with keys_present():
            expected = self.sad_mac(sad_message(digest, row.credential_id, sorted(hashes), row.budget,
                                                row.expires_at))
        return hmac.compare_digest(expected, mac)

    def material(self, cred: Credential) -> Any:
        from ..sealing.pades import SigningMaterial

        return SigningMaterial(cred.cert_der, cred.chain_der, self.keys.get_key(cred.key_uri))

    @staticmethod
    def _mechanism(cred: Credential, sign_algo: Any, hash_algo: Any) -> Mechanism:
        if not isinstance(sign_algo, str) or not sign_algo:
            raise CscError("invalid_request", "Missing (or invalid type) string parameter signAlgo")
        is_rsa = isinstance(cred.cert.public_key(), rsa.RSAPublicKey)
        if is_rsa and sign_algo in RSA_ALGOS:
            return RSA_ALGOS[sign_algo]
        if not is_rsa and sign_algo in EC_ALGOS:
            return EC_ALGOS[sign_algo]
        if is_rsa and sign_algo == RSA_ENCRYPTION:
            if hash_algo not in HASH_OIDS:
                raise CscError("invalid_request", "Missing (or invalid type) string parameter hashAlgo"
                               if not hash_algo else "Invalid parameter hashAlgo")
            return Mechanism(f"rsa-pkcs1v15-{HASH_OIDS[hash_algo]}")
        raise CscError("invalid_request", "Invalid parameter signAlgo")


def sad_message(sad_sha256: str, credential_id: str, hashes: list[str], budget: int, expires: dt.datetime) -> bytes:
    """What the HSM MACs for a SAD: a version tag, the SHA-256 of the SAD, the credential, the
    sorted hex digests it may sign (empty for SCAL1), numSignatures and the expiry (Unix seconds),
    as one unambiguous JSON array."""
    return json.dumps(["govca CSC SAD v1", sad_sha256, credential_id, hashes, budget, int(expires.timestamp())],
                      separators=(",", ":")).encode()


@contextlib.contextmanager
def keys_present() -> Iterator[None]:
    """A missing authorisation key in the service token is a 503 naming the administrator's
    command, not an internal error (keys are made by administrator commands, never by serve)."""
    try:
        yield
    except HsmError as exc:
        log.error("remote signing refused: %s", exc)
        missing = isinstance(exc, KeyNotFoundError)
        raise CscError("invalid_request", KEYS_MISSING if missing else "The service token is not available",
                       503) from None


def b64_list(value: Any, name: str) -> list[bytes]:
    """A JSON array of base64 strings (CSC hash arrays), or a CscError."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CscError("invalid_request", f"Missing (or invalid type) array parameter {name}")
    if not value:
        raise CscError("invalid_request", "Empty hash array")
    try:
        return [base64.b64decode(v, validate=True) for v in value]
    except ValueError:
        raise CscError("invalid_request", f"Invalid Base64 {name} string parameter") from None
