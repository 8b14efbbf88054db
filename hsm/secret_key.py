"""A secret key held in the token, addressed by its label: what the HMAC key (hsm/mac.py) and
the AES key (hsm/aead.py) share. The key is generated in the token (CKA_SENSITIVE true,
CKA_EXTRACTABLE false, forced by :meth:`Pkcs11Token.generate_secret_key`) and never leaves it."""
from __future__ import annotations

from typing import Any, TypeVar

from .errors import KeyNotFoundError
from .token import Pkcs11Token

K = TypeVar("K", bound="SecretKey")


class SecretKey:
    """A secret key labelled ``label`` in ``token``. Subclasses add its one operation."""

    def __init__(self, token: Pkcs11Token, label: str) -> None:
        self.token, self.label = token, label

    def _handle(self) -> Any:
        """The object handle, from the token's index. Valid inside token.call() only."""
        key = self.token.find_secret_key(self.label)
        if key is None:
            raise KeyNotFoundError(f"no secret key {self.label!r} in token {self.token.config.token_label!r}")
        return key


def find_or_create(cls: type[K], token: Pkcs11Token, label: str, create: bool, key_type: Any, bits: int,
                   usage: dict) -> K:
    """The key labelled ``label``; generated in the token first (``key_type``, ``bits``, the
    ``usage`` attributes) when ``create`` and absent, else KeyNotFoundError."""
    key = cls(token, label)

    def find_or_make(_session: Any) -> None:
        if token.find_secret_key(label) is None:
            if not create:
                key._handle()  # raises the one KeyNotFoundError
            token.generate_secret_key(label, key_type, bits, usage)

    token.call(find_or_make)
    return key
