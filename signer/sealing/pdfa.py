"""PDF/A kept through sealing (ISO 19005-1/-2/-3), and the PDF/A-3 parts of govca's own sample.

- :func:`read_claim` reads a document's PDF/A claim from the catalog's ``/Metadata`` XMP
  (``pdfaid:part``, ``pdfaid:conformance``; ISO 19005-3 6.6.4).
- :func:`plan` decides, before anything is signed, whether a seal can keep the claim: data parts
  need PDF/A-3 (ISO 19005-1 6.1.11 forbids embedded files; ISO 19005-2 6.8 allows only PDF/A
  files); the stamp paints in DeviceRGB, which needs an RGB PDF/A output intent (ISO 19005-2/-3
  6.2.4.3). Otherwise a :class:`PdfaError` (422) names the clause, or, with the option
  ``"pdfa": "without-stamp"``, the seal goes into an invisible field.
- pyHanko rewrites the XMP packet in each incremental revision it writes (signature, DSS,
  document time-stamp): ``xmp:ModifyDate`` and ``pdf:Producer`` from its own values, the Info
  dictionary's ``/ModDate`` from a second clock reading and ``/Producer`` as "<old>; pyHanko x".
  :func:`_update_meta_consistently` (installed on pyHanko's incremental writer for documents that
  claim PDF/A) reads the clock once and writes the Info dictionary's producer into the XMP, so
  the two stay equivalent (ISO 19005-3 6.6.2.3.1, ISO 19005-1 6.7.3); ``pdfaid`` is kept as is.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata import model
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from ..docdata import safe_xml
from ..errors import BadInputError, SignerError
from ..pdf_guard import mapped

PDFAID_NS = "http://www.aiim.org/pdfa/ns/id/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP_MAX_BYTES = 4 * 1024 * 1024
PDFA_MODES = ("refuse", "without-stamp")


class PdfaError(SignerError):
    """The seal as asked would break the document's PDF/A conformance."""

    status = 422
    title = "Unprocessable Content"


@dataclass(frozen=True)
class PdfaClaim:
    part: int
    conformance: str  # A, B or U ("" when absent)

    def __str__(self) -> str:
        return f"PDF/A-{self.part}{self.conformance.lower()}"


def _xmp_bytes(root: Any) -> bytes | None:
    try:
        ref = root.raw_get("/Metadata")
    except KeyError:
        return None
    stream = ref.get_object() if isinstance(ref, generic.IndirectObject) else ref
    if not isinstance(stream, generic.StreamObject):
        return None
    return stream.data


def read_claim(root: Any) -> PdfaClaim | None:
    """The PDF/A claim of the catalog ``root``'s XMP packet (ISO 19005-3 6.6.4: ``pdfaid:part``
    and ``pdfaid:conformance`` as properties of an ``rdf:Description``), or None."""
    data = _xmp_bytes(root)
    if not data:
        return None
    tree = safe_xml.parse(data, what="the document's XMP metadata (catalog /Metadata)", max_bytes=XMP_MAX_BYTES)
    values: dict[str, str] = {}
    for desc in tree.iter(f"{{{RDF_NS}}}Description"):
        for key in ("part", "conformance"):
            attr = desc.get(f"{{{PDFAID_NS}}}{key}")
            child = desc.find(f"{{{PDFAID_NS}}}{key}")
            value = attr if attr is not None else (child.text if child is not None else None)
            if value is not None:
                values.setdefault(key, value.strip())
    if "part" not in values:
        return None
    try:
        part = int(values["part"])
    except ValueError:
        raise BadInputError(f"the document's XMP metadata has pdfaid:part {values['part'][:20]!r}, not a number "
                            "(ISO 19005-3 6.6.4)") from None
    return PdfaClaim(part, values.get("conformance", "").upper())


def rgb_output_intent(root: Any) -> bool:
    """Whether the catalog has a PDF/A output intent (``/S /GTS_PDFA1``) whose destination profile
    is an RGB ICC profile (``/N 3``): what DeviceRGB needs (ISO 19005-2/-3 6.2.4.3)."""
    try:
        intents = root["/OutputIntents"]
    except KeyError:
        return False
    for intent in intents if isinstance(intents, generic.ArrayObject) else ():
        intent = intent.get_object()
        if not isinstance(intent, generic.DictionaryObject) or intent.get("/S") != "/GTS_PDFA1":
            continue
        try:
            profile = intent["/DestOutputProfile"]
        except KeyError:
            continue
        if isinstance(profile, generic.StreamObject) and int(profile.get("/N", 0)) == 3:
            return True
    return False


@dataclass(frozen=True)
class PdfaPlan:
    claim: PdfaClaim | None
    stamp: bool  # whether the visible stamp may be drawn


def plan(reader: Any, data_parts: int, stamp: bool, mode: str = "refuse") -> PdfaPlan:
    """What a seal of ``reader``'s document may add without breaking its PDF/A claim. Refusals
    are :class:`PdfaError` (422) naming the clause. Objects the input checks did not read (the
    XMP packet, the output intents) may be broken: a 4xx in plain words (pdf_guard.mapped)."""
    with mapped("reading the document's PDF/A claim"):
        return _plan(reader, data_parts, stamp, mode)


def _plan(reader: Any, data_parts: int, stamp: bool, mode: str) -> PdfaPlan:
    claim = read_claim(reader.root)
    if claim is None:
        return PdfaPlan(None, stamp)
    if data_parts and claim.part < 3:
        clause = ("ISO 19005-1 6.1.11 forbids embedded files" if claim.part == 1
                  else "ISO 19005-2 6.8 allows only PDF/A files as embedded files")
        raise PdfaError(f"the document claims {claim}: data parts cannot be embedded ({clause}); send a PDF/A-3 "
                        "document (ISO 19005-3 6.8) or no data parts")
    if stamp and not rgb_output_intent(reader.root):
        if mode != "without-stamp":
            raise PdfaError(f"the document claims {claim} and has no RGB PDF/A output intent (/OutputIntents with "
                            "/S /GTS_PDFA1 and an ICC profile of 3 components): the stamp's DeviceRGB colours would "
                            "break it (ISO 19005-2/-3 6.2.4.3); send options {\"pdfa\": \"without-stamp\"} to seal "
                            "without a visible stamp")
        stamp = False
    return PdfaPlan(claim, stamp)


# --- Info and XMP kept equivalent in the revisions pyHanko writes ------------------------------

def _claims_pdfa(writer: BasePdfFileWriter) -> bool:
    try:
        xmp = writer.root["/Metadata"].xmp
    except Exception:  # noqa: BLE001 - no packet, or one pyHanko cannot read: left to pyHanko
        return False
    return any(name.ns == PDFAID_NS for root in xmp for name, _ in root)


def _update_meta_consistently(self: BasePdfFileWriter) -> None:
    pdfa = _claims_pdfa(self)
    if pdfa and self._meta.last_modified == "now":
        # One clock reading for /ModDate and xmp:ModifyDate (ISO 19005-3 6.6.2.3.1), whole seconds
        # (a PDF date has no fractions, ISO 32000-1 7.9.4).
        self._meta.last_modified = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    BasePdfFileWriter._update_meta(self)
    if pdfa and self._info is not None:
        sync_producer(self)


def sync_producer(writer: BasePdfFileWriter) -> None:
    """Write the Info dictionary's ``/Producer`` into the XMP's ``pdf:Producer`` (pyHanko writes
    only its own name there, and appends it to the Info entry): ISO 19005-3 6.6.2.3.1 Table 3."""
    info = writer._info.get_object()
    producer = info.get("/Producer")
    stream = writer.root["/Metadata"]
    if producer is None or not hasattr(stream, "xmp"):
        return
    fields = {k: v for root in stream.xmp for k, v in root}
    if fields.get(model.PDF_PRODUCER) == model.XmpValue(str(producer)):
        return
    fields[model.PDF_PRODUCER] = model.XmpValue(str(producer))
    stream._xmp = [model.XmpStructure(fields)]
    stream._reserialise()
    stream._encoded_data = None
    writer.update_container(stream)


IncrementalPdfFileWriter._update_meta = _update_meta_consistently  # type: ignore[method-assign]


# --- PDF/A-3 parts of a new document (the demo's e-License) -----------------------------------

def srgb_profile() -> bytes:
    """An sRGB ICC profile (lcms2 through Pillow)."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def add_output_intent(writer: BasePdfFileWriter) -> None:
    """A PDF/A output intent with an sRGB destination profile (ISO 19005-3 6.2.3; ``/N 3``)."""
    icc = generic.StreamObject({generic.pdf_name("/N"): generic.NumberObject(3)}, stream_data=srgb_profile())
    icc.compress()
    intent = generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/OutputIntent"),
        generic.pdf_name("/S"): generic.pdf_name("/GTS_PDFA1"),
        generic.pdf_name("/OutputConditionIdentifier"): generic.pdf_string("sRGB IEC61966-2.1"),
        generic.pdf_name("/Info"): generic.pdf_string("sRGB IEC61966-2.1"),
        generic.pdf_name("/DestOutputProfile"): writer.add_object(icc),
    })
    writer.root["/OutputIntents"] = generic.ArrayObject([writer.add_object(intent)])
    writer.update_root()


def declare_pdfa(writer: BasePdfFileWriter, *, title: str, author: str, creator: str, now: dt.datetime,
                 part: int = 3, conformance: str = "U") -> None:
    """The Info dictionary and an XMP packet saying the same (ISO 19005-3 6.6.2.3.1), the XMP
    with ``pdfaid:part``/``pdfaid:conformance`` (6.6.4). pyHanko serialises the packet when the
    writer writes, from the writer's metadata: both get one modification time ``now``."""
    from pyhanko.pdf_utils.metadata import xmp_xml

    now = now.replace(microsecond=0)
    meta = writer.document_meta
    meta.title, meta.author, meta.creator, meta.created, meta.last_modified = title, author, creator, now, now
    meta.xmp_extra = []
    pdfaid = model.XmpStructure.of(
        (model.ExpandedName(ns=PDFAID_NS, local_name="part"), model.XmpValue(str(part))),
        (model.ExpandedName(ns=PDFAID_NS, local_name="conformance"), model.XmpValue(conformance)))
    stream = xmp_xml.MetadataStream.from_xmp([pdfaid])
    writer.root["/Metadata"] = writer.add_object(stream)
    info = generic.DictionaryObject({
        generic.pdf_name(key): generic.TextStringObject(value) for key, value in (
            ("/Title", title), ("/Author", author), ("/Creator", creator), ("/Producer", model.VENDOR))})
    info["/CreationDate"] = info["/ModDate"] = generic.pdf_date(now)
    writer._info = writer.add_object(info)
    writer.update_root()
