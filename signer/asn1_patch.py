"""Work around asn1crypto 1.5.1 mistaking definite lengths for indefinite ones (upstream issue
wbond/asn1crypto#249, fixed on its master branch but not released).

Every ``dump()`` treats a stored header whose last octet is 0x80 as BER indefinite length and
re-encodes the whole value from its native form. A definite length such as 0x0C80
(``30 82 0c 80``) also ends in 0x80, so a 3,200-byte CMS SignerInfo was rebuilt from scratch on
every dump: a seal then took 15-50 s instead of 0.1 s, about one document in eight. The
indefinite form is exactly one length octet 0x80 right after the tag (X.690 8.1.3.6); this
module rewrites the check to say that, in the pinned version only.
"""
from __future__ import annotations

import inspect
import textwrap

import asn1crypto
from asn1crypto import core

_BUGGY = "if self._header is not None and self._header[-1:] == b'\\x80':"
_FIXED = "if self._header is not None and _indefinite_header(self._header):"


def _indefinite_header(header: bytes) -> bool:
    """True if the DER/BER header ends with the indefinite-length octet (X.690 8.1.3.6)."""
    if header[-1:] != b"\x80":
        return False
    # Skip the identifier octets (X.690 8.1.2): one octet, or a high tag number form.
    pos = 1
    if header[0] & 0x1F == 0x1F:
        while pos < len(header) and header[pos] & 0x80:
            pos += 1
        pos += 1
    return pos == len(header) - 1


def apply() -> bool:
    """Patch the dump methods that carry the faulty test; True if applied."""
    if asn1crypto.__version__ != "1.5.1" or getattr(core, "_govca_indefinite_fix", False):
        return False
    core._indefinite_header = _indefinite_header  # type: ignore[attr-defined]
    for cls in (core.Asn1Value, core.Choice, core.Primitive, core.Sequence, core.SequenceOf):
        method = cls.__dict__.get("dump")
        if method is None:
            continue
        source = textwrap.dedent(inspect.getsource(method))
        if _BUGGY not in source:
            continue
        namespace: dict = {}
        exec(compile(source.replace(_BUGGY, _FIXED), inspect.getsourcefile(method) or "<asn1crypto>", "exec"),
             core.__dict__, namespace)
        cls.dump = namespace["dump"]
    core._govca_indefinite_fix = True  # type: ignore[attr-defined]
    return True
