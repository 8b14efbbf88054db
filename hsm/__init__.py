"""Key custody: the only package that speaks PKCS#11."""
from .adapters import as_cryptography_key
from .errors import (DuplicateKeyError, HsmError, KeyNotFoundError, PinSourceError, Pkcs11UriError,
                     TokenNotFoundError, UnsupportedMechanismError)
from .library import sessions_open
from .aead import DecryptionError, HsmAeadKey, aead_key
from .mac import HsmMacKey, mac_key
from .mechanisms import KeyType, Mechanism, default_mechanism
from .pin import PinSource, write_pin_file
from .softhsm import find_softhsm_module, init_softhsm_token, write_softhsm_conf
from .token import HsmKey, KeyObjectInfo, Pkcs11Token, TokenConfig
from .uri import KeyUri

__all__ = [
    "as_cryptography_key", "DuplicateKeyError", "HsmError", "KeyNotFoundError", "PinSourceError",
    "Pkcs11UriError", "TokenNotFoundError", "UnsupportedMechanismError", "KeyType", "Mechanism",
    "default_mechanism", "PinSource", "write_pin_file", "find_softhsm_module", "init_softhsm_token",
    "write_softhsm_conf", "HsmKey", "KeyObjectInfo", "Pkcs11Token", "TokenConfig", "KeyUri", "HsmMacKey", "mac_key",
    "HsmAeadKey", "aead_key", "DecryptionError", "sessions_open",
]
