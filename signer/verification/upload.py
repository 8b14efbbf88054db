"""What an upload to the verification page or POST /api/v1/verify is, and the verification it gets.

- A PDF starts with ``%PDF-`` (ISO 32000-2 7.5.2; readers look within the first 1024 bytes):
  the PDF verifier (verify.py), with its associated files (attachments.py).
- An XML document starts with ``<``, after an optional byte order mark and white space
  (XML 1.0 2.1 ``document``, 2.8 ``prolog``; 4.3.3 the BOM): parsed by
  :func:`signer.docdata.safe_xml.parse` first (no DOCTYPE, entities or network: a hostile one is
  a 400 before anything else reads it), then its XAdES signatures verified (xades.py, ETSI
  EN 319 132-1) and its data shown (data_view.py).
- Anything else: 415, "not a PDF or an XML document".
"""
from __future__ import annotations

from typing import Any

from ..docdata import safe_xml
from ..errors import BadInputError, UnsupportedMediaError
from ..pdf_guard import guard
from .data_view import tree_view
from .verify import Verifier
from .xades import verify_xades

BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def sniff(data: bytes) -> str:
    """``pdf`` or ``xml``; a refusal for an empty file or one that is neither."""
    if not data:
        raise BadInputError("the file is empty; send a PDF or an XML document")
    head = data[:1024]
    if head.lstrip().startswith(b"%PDF-"):
        return "pdf"
    for bom in BOMS:
        if head.startswith(bom):
            rest = head[len(bom):]
            text = rest.decode("utf-16-le" if bom == b"\xff\xfe" else "utf-16-be", "ignore") \
                if bom != BOMS[0] else rest.decode("utf-8", "ignore")
            if text.lstrip().startswith("<"):
                return "xml"
    if head.lstrip().startswith(b"<"):
        return "xml"
    if b"%PDF-" in head:
        return "pdf"  # the PDF checks say what is wrong with it (signer/pdf_checks.py)
    raise UnsupportedMediaError("the file is not a PDF (it does not start with %PDF-) or an XML document "
                                "(it does not start with <)")


def check_upload(verifier: Verifier, data: bytes) -> tuple[dict[str, Any], list[bytes | None]]:
    """The report on an uploaded file, and the bytes of the associated files it lists (a PDF's;
    none for XML)."""
    if sniff(data) == "pdf":
        return verifier.verify_with_files(data)
    budgets = verifier.budgets
    # The PDF budgets' time and memory watchdog bounds the XML verification too (signer/pdf_guard.py).
    with guard(budgets.verify_seconds, "verifying the XML document", budgets):
        report = verify_xades(data, verifier.trust(), verifier.clock, verifier.revocation_now,
                              max_bytes=verifier.max_bytes)
        report["data"] = tree_view(safe_xml.parse(data, what="the XML document", max_bytes=verifier.max_bytes))
    report["attachments"] = {"files": [], "left_out": 0}
    return report, []

