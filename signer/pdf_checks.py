"""Input checks on a PDF before it is signed: each refusal is a 4xx with a precise message."""
from __future__ import annotations

import io

from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm

from .errors import BadInputError, ConflictError, TooLargeError, UnsupportedMediaError


def read_pdf(data: bytes, max_bytes: int) -> PdfFileReader:
    """The checks every upload gets, to sign or to verify: size, PDF, not encrypted, readable."""
    if len(data) > max_bytes:
        raise TooLargeError(f"the PDF is {len(data):,} bytes; the limit is {max_bytes:,} bytes")
    if not data:
        raise BadInputError("the file is empty; send a PDF")
    if not data[:1024].lstrip().startswith(b"%PDF-"):
        raise UnsupportedMediaError("the file is not a PDF (it does not start with %PDF-)")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            raise BadInputError("the PDF is encrypted (password-protected); send it without a password or encryption")
        reader.root["/Pages"]  # noqa: B018 - the document catalog must resolve
        reader.embedded_signatures  # noqa: B018 - and the signature fields
    except BadInputError:
        raise
    except (PdfError, KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise BadInputError(f"the PDF cannot be read (broken cross-reference table or structure): {exc}") from None
    return reader


def check_pdf(data: bytes, max_bytes: int, certify: bool) -> PdfFileReader:
    """Refuse what cannot or must not be signed; returns the parsed reader."""
    reader = read_pdf(data, max_bytes)
    try:
        existing = _certification(reader)
    except (PdfError, KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise BadInputError(f"the PDF's certification signature cannot be read: {exc}") from None
    if existing is not None:
        if existing == MDPPerm.NO_CHANGES:
            raise ConflictError("the PDF is already certified with no changes allowed (DocMDP P=1); "
                                "it cannot be signed again")
        if certify:
            raise ConflictError("the PDF is already certified; a document has at most one certification "
                                "signature (ISO 32000-1 12.8.2.2): send certify=false to add an approval seal")
    return reader


def _certification(reader: PdfFileReader) -> MDPPerm | None:
    """The DocMDP permission of an existing certification signature, if any."""
    perms = reader.root.get("/Perms")
    if perms is None or "/DocMDP" not in perms:
        return None
    sig = perms["/DocMDP"]
    for ref in sig.get("/Reference", []):
        ref = ref.get_object()
        if ref.get("/TransformMethod") == "/DocMDP":
            params = ref.get("/TransformParams", {})
            return MDPPerm(int(params.get("/P", 2)))
    return MDPPerm.FILL_FORMS
