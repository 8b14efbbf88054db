"""The hsm package's error hierarchy. Messages never contain a PIN."""


class HsmError(Exception):
    """Base of every error raised by hsm/."""


class TokenNotFoundError(HsmError):
    """No token with the configured label is present in the PKCS#11 module."""


class KeyNotFoundError(HsmError):
    """No key object matches the given pkcs11: URI."""


class DuplicateKeyError(HsmError):
    """A key with this label already exists in the token."""


class PinSourceError(HsmError):
    """The PIN could not be obtained (unset variable, unsafe file mode, no terminal)."""


class UnsupportedMechanismError(HsmError):
    """The mechanism does not fit the key type, or is unknown."""


class Pkcs11UriError(HsmError):
    """A pkcs11: URI is malformed or carries attributes we refuse (a PIN)."""
