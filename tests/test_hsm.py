"""hsm/: key generation in the token, pkcs11: URIs, PIN sources, the signing mechanisms and the
cryptography adapter. Each test gets a fresh SoftHSM2 token with a random PIN."""
from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID

from hsm import (DuplicateKeyError, KeyNotFoundError, KeyType, KeyUri, Mechanism, PinSource, PinSourceError,
                 Pkcs11Token, Pkcs11UriError, TokenConfig, UnsupportedMechanismError, as_cryptography_key,
                 find_softhsm_module, init_softhsm_token, write_pin_file, write_softhsm_conf)


@pytest.fixture
def token(tmp_path: Path) -> Pkcs11Token:
    conf = write_softhsm_conf(tmp_path / "hsm")
    pin = secrets.token_urlsafe(12)
    label = f"t-{secrets.token_hex(4)}"
    init_softhsm_token(conf, label, secrets.token_urlsafe(12), pin)
    write_pin_file(tmp_path / "pin", pin)
    return Pkcs11Token(TokenConfig(find_softhsm_module(), label, PinSource.parse("file:pin", tmp_path), str(conf)))


def _verify(key, data: bytes, sig: bytes, mech: Mechanism) -> None:  # type: ignore[no-untyped-def]
    pub = key.public_key
    if mech.family == "ecdsa":
        pub.verify(sig, data, ec.ECDSA(mech.hash_algorithm))
    elif mech.family == "rsa-pss":
        pub.verify(sig, data, padding.PSS(padding.MGF1(mech.hash_algorithm), mech.hash_algorithm.digest_size),
                   mech.hash_algorithm)
    else:
        pub.verify(sig, data, padding.PKCS1v15(), mech.hash_algorithm)


@pytest.mark.parametrize("key_type", list(KeyType))
def test_generated_private_keys_are_sensitive_private_and_not_extractable(token: Pkcs11Token,
                                                                          key_type: KeyType) -> None:
    key = token.generate_key_pair(key_type, f"k-{key_type.value}")
    assert key.key_type is key_type
    assert key.public_key.key_size == key_type.bits
    private = [o for o in token.list_key_objects() if o.object_class == "private"]
    assert len(private) == 1 and private[0].sensitive is True and private[0].extractable is False
    assert private[0].uri == str(key.uri)


@pytest.mark.parametrize("key_type,mechanism", [
    (KeyType.RSA2048, Mechanism.RSA_PKCS1V15_SHA256), (KeyType.RSA2048, Mechanism.RSA_PKCS1V15_SHA384),
    (KeyType.RSA2048, Mechanism.RSA_PSS_SHA256), (KeyType.RSA2048, Mechanism.RSA_PSS_SHA512),
    (KeyType.EC_P256, Mechanism.ECDSA_SHA256), (KeyType.EC_P384, Mechanism.ECDSA_SHA384),
])
def test_signatures_from_the_token_verify_with_cryptography(token: Pkcs11Token, key_type: KeyType,
                                                            mechanism: Mechanism) -> None:
    key = token.generate_key_pair(key_type, "signer")
    data = os.urandom(1000)
    sig = key.sign(data, mechanism)
    _verify(key, data, sig, mechanism)
    with pytest.raises(InvalidSignature):
        _verify(key, data + b"x", sig, mechanism)
    # The same signature mechanism over a host-computed digest (used by remote signing).
    digest = hashes.Hash(mechanism.hash_algorithm)
    digest.update(data)
    _verify(key, data, key.sign(digest.finalize(), mechanism, prehashed=True), mechanism)


def test_rfc3279_2_2_3_ecdsa_signatures_are_der_encoded(token: Pkcs11Token) -> None:
    key = token.generate_key_pair(KeyType.EC_P256, "ec")
    sig = key.sign(b"data", Mechanism.ECDSA_SHA256)
    assert sig[0] == 0x30 and sig[1] == len(sig) - 2  # SEQUENCE { r INTEGER, s INTEGER }


def test_mechanism_must_fit_the_key(token: Pkcs11Token) -> None:
    key = token.generate_key_pair(KeyType.EC_P256, "ec")
    with pytest.raises(UnsupportedMechanismError):
        key.sign(b"data", Mechanism.RSA_PKCS1V15_SHA256)


def test_keys_are_found_again_by_pkcs11_uri_and_labels_are_unique(token: Pkcs11Token) -> None:
    key = token.generate_key_pair(KeyType.EC_P256, "seal/กรม")
    again = token.get_key(str(key.uri))
    assert again.public_key_der() == key.public_key_der()
    with pytest.raises(DuplicateKeyError):
        token.generate_key_pair(KeyType.EC_P256, "seal/กรม")
    with pytest.raises(KeyNotFoundError):
        token.get_key(KeyUri(token.config.token_label, "nosuch", b""))


def test_rfc7512_uri_round_trips_and_refuses_a_pin() -> None:
    uri = KeyUri("govca", "ca root;x", bytes.fromhex("01ff"))
    text = str(uri)
    assert text == "pkcs11:token=govca;object=ca%20root%3Bx;id=%01%FF;type=private"
    assert KeyUri.parse(text) == uri
    for bad in ("pkcs11:token=t;object=o;pin-value=1234", "pkcs11:token=t;object=o?pin-value=1234",
                "file:token=t", "pkcs11:object=o", "pkcs11:token=t;object=o;bogus=1"):
        with pytest.raises(Pkcs11UriError):
            KeyUri.parse(bad)
    with pytest.raises(Pkcs11UriError) as info:
        KeyUri.parse("pkcs11:token=t;object=o;pin-value=s3cret")
    assert "s3cret" not in str(info.value)


def test_pin_file_must_be_mode_0600_and_env_must_be_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pin"
    write_pin_file(path, "1234")
    assert PinSource.parse(f"file:{path}").read() == "1234"
    path.chmod(0o644)
    with pytest.raises(PinSourceError, match="0600"):
        PinSource.parse(f"file:{path}").read()
    monkeypatch.delenv("GOVCA_TEST_PIN", raising=False)
    with pytest.raises(PinSourceError, match="GOVCA_TEST_PIN"):
        PinSource.parse("env:GOVCA_TEST_PIN").read()
    monkeypatch.setenv("GOVCA_TEST_PIN", "5678")
    assert PinSource.parse("env:GOVCA_TEST_PIN").read() == "5678"
    with pytest.raises(PinSourceError):
        PinSource.parse("literal:1234")


def test_cryptography_builders_sign_with_the_hsm_adapter(token: Pkcs11Token) -> None:
    key = token.generate_key_pair(KeyType.EC_P384, "ca")
    adapter = as_cryptography_key(key)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "adapter")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(adapter, hashes.SHA384()))
    cert.verify_directly_issued_by(cert)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(name).last_update(now)
           .next_update(now + dt.timedelta(days=1)).sign(adapter, hashes.SHA384()))
    assert crl.is_signature_valid(key.public_key)
    with pytest.raises(TypeError):
        adapter.private_numbers()


def _generate_in_another_process(config: TokenConfig, label: str) -> str:
    return str(Pkcs11Token(config).generate_key_pair(KeyType.EC_P256, label).uri)


def test_a_key_made_by_another_process_after_this_one_indexed_the_token_is_found(token: Pkcs11Token) -> None:
    """Key handles come from a per-process index of the token (hsm/token.py): a miss re-reads it,
    so a key enrolled by the CLI while a server runs is usable by that server."""
    import multiprocessing

    first = token.generate_key_pair(KeyType.EC_P256, "before")
    assert token.get_key(str(first.uri)).uri == first.uri  # this process has indexed the token
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        uri = pool.apply(_generate_in_another_process, (token.config, "after"))
    key = token.get_key(uri)
    sig = key.sign(b"data", Mechanism.ECDSA_SHA256)
    _verify(key, b"data", sig, Mechanism.ECDSA_SHA256)
    with pytest.raises(KeyNotFoundError):
        token.get_key(KeyUri(token.config.token_label, "never-made", b"\x01"))


def test_hmac_key_is_made_in_the_token_sensitive_and_not_extractable(token: Pkcs11Token) -> None:
    import hashlib

    from hsm.mac import mac_key

    with pytest.raises(KeyNotFoundError):
        mac_key(token, "pin-mac")
    key = mac_key(token, "pin-mac", create=True)
    assert key.mac(b"x") == mac_key(token, "pin-mac").mac(b"x") != key.mac(b"y")
    assert len(key.mac(b"x")) == hashlib.sha256().digest_size
    info = [o for o in token.list_key_objects() if o.label == "pin-mac"]
    assert [(o.object_class, o.sensitive, o.extractable) for o in info] == [("secret", True, False)]


def test_two_tokens_in_one_process_each_log_in_with_their_own_pin(token: Pkcs11Token, tmp_path: Path) -> None:
    """Issue 11 custody by context: the CA token and the service token are opened side by side in an
    administrator command; each instance keeps its own session, and sessions_open() names both."""
    from hsm import sessions_open

    conf = token.config.softhsm_conf
    assert conf is not None
    pin = secrets.token_urlsafe(12)
    label = f"s-{secrets.token_hex(4)}"
    init_softhsm_token(Path(conf), label, secrets.token_urlsafe(12), pin)
    write_pin_file(tmp_path / "service.pin", pin)
    other = Pkcs11Token(TokenConfig(token.config.module, label, PinSource.parse("file:service.pin", tmp_path), conf,
                                    role="service"))
    a, b = token.generate_key_pair(KeyType.EC_P256, "a"), other.generate_key_pair(KeyType.EC_P256, "b")
    for key in (a, b):
        _verify(key, b"data", key.sign(b"data", Mechanism.ECDSA_SHA256), Mechanism.ECDSA_SHA256)
    assert [o.label for o in other.list_key_objects()] == ["b", "b"]
    with pytest.raises(KeyNotFoundError):
        other.get_key(a.uri)  # a key URI of the other token is refused, whatever its label
    assert {token.label, other.label} <= sessions_open()


def test_an_unreadable_pin_source_is_one_error_naming_the_tokens_role_and_source(tmp_path: Path) -> None:
    conf = write_softhsm_conf(tmp_path / "hsm")
    init_softhsm_token(conf, "govca-ca", secrets.token_urlsafe(12), secrets.token_urlsafe(12))
    ca = Pkcs11Token(TokenConfig(find_softhsm_module(), "govca-ca", PinSource.parse("file:hsm/ca.pin", tmp_path),
                                 str(conf), role="CA"))
    with pytest.raises(PinSourceError) as info:
        ca.open()
    assert str(info.value) == f"CA token govca-ca: token user PIN file {tmp_path / 'hsm/ca.pin'} does not exist"
    assert "govca-ca" not in __import__("hsm").sessions_open()


def test_token_state_is_per_instance_and_hmac_keys_use_only_public_token_methods() -> None:
    """Issue 11: hsm/token.py keeps no module-level dicts or sets (each Pkcs11Token owns its session,
    handles and index), and hsm/mac.py drives the token through call(), find_secret_key() and
    generate_secret_key() rather than private state."""
    import inspect

    import hsm.mac
    import hsm.mechanisms
    import hsm.token

    assert not [name for name, value in vars(hsm.token).items()  # the mechanisms' constant table aside
                if isinstance(value, (dict, set)) and not name.startswith("__")
                and getattr(hsm.mechanisms, name, None) is not value]
    source = inspect.getsource(hsm.mac)
    assert "_LOCK" not in source and "._find" not in source and "._session" not in source


def test_tokens_of_two_softhsm_configurations_take_turns_in_one_process(token: Pkcs11Token, tmp_path: Path) -> None:
    """SoftHSM reads its conf at C_Initialize: switching to another token directory re-initialises
    the library (hsm/library.py), and each token instance then drops its stale session and handles
    and logs in again, so both keep signing."""
    conf = write_softhsm_conf(tmp_path / "other-hsm")
    pin = secrets.token_urlsafe(12)
    init_softhsm_token(conf, "other", secrets.token_urlsafe(12), pin)
    write_pin_file(tmp_path / "other.pin", pin)
    other = Pkcs11Token(TokenConfig(token.config.module, "other", PinSource.parse("file:other.pin", tmp_path),
                                    str(conf)))
    a, b = token.generate_key_pair(KeyType.EC_P256, "a"), other.generate_key_pair(KeyType.EC_P256, "b")
    for _ in range(2):
        for key in (a, b):
            _verify(key, b"turns", key.sign(b"turns", Mechanism.ECDSA_SHA256), Mechanism.ECDSA_SHA256)
    assert [o.label for o in token.list_key_objects()] == ["a", "a"]
    assert [o.label for o in other.list_key_objects()] == ["b", "b"]
