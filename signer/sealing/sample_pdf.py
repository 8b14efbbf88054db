"""A sample Thai e-License (ใบอนุญาตอิเล็กทรอนิกส์) to seal in demos and tests.

One A4 page of Thai and English text written with pyHanko's own PDF writer and text boxes, in
the same Thai OpenType font as the stamp (embedded as subsets), with the lower right corner
(:data:`STAMP_ORIGIN`, :data:`~signer.sealing.stamp.STAMP_BOX`) left free for the seal's stamp.

It is PDF/A-3u (ISO 19005-3; docs/pdfa.md): every font embedded with a ToUnicode map (pyHanko's
glyph accumulator writes one per subset, 6.2.11.7.2), DeviceRGB/DeviceGray only under an sRGB
output intent (6.2.3, 6.2.4.3), Info and XMP equivalent (6.6.2.3.1) with ``pdfaid`` part 3
conformance U (6.6.4), a trailer /ID (6.1.3), no transparency, no JavaScript, no encryption. Given
``data_xml`` (an e-License 1 document, signer/docdata/schemas.py), it carries that XML as an
associated file, ``/AFRelationship /Data``, ``application/xml`` (6.8; ISO 32000-2 14.13).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import date
from io import BytesIO

from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import PdfResources
from pyhanko.pdf_utils.font.api import FontEngine, FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter, PageObject, PdfFileWriter

from .stamp import BORDER_COLOR, DEFAULT_FONT, STAMP_BOX, english_date, thai_date

__all__ = ["A4", "BOLD_FONT", "STAMP_ORIGIN", "STAMP_RECT", "sample_elicense_pdf"]

A4 = (595.28, 841.89)
"""A4 in PDF points, (width, height)."""

BOLD_FONT = "/usr/share/fonts/opentype/tlwg/Laksaman-Bold.otf"

MARGIN = 56
"""Page margin in points (about 2 cm)."""

STAMP_ORIGIN: tuple[int, int] = (round(A4[0] - MARGIN - STAMP_BOX[0]), MARGIN)
"""Lower left corner, in page coordinates, of the area kept free for the stamp."""

STAMP_RECT: tuple[int, int, int, int] = (
    STAMP_ORIGIN[0], STAMP_ORIGIN[1], STAMP_ORIGIN[0] + STAMP_BOX[0], STAMP_ORIGIN[1] + STAMP_BOX[1]
)
"""The same area as (x1, y1, x2, y2), the form of a signature field's box (``SigFieldSpec.box``)."""

TITLE_COLOR = BORDER_COLOR


@dataclass
class _SharedEngineFactory(FontEngineFactory):
    """Hands every text box on the page the same glyph accumulator, so that each font face is
    embedded once, as one subset, instead of once per text box.

    Sharing is safe here because a text box shapes its lines as soon as its content is set,
    at the size it has just written into the engine; nothing is shaped later.
    """

    base: GlyphAccumulatorFactory
    engine: FontEngine | None = None

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream=None) -> FontEngine:
        if self.engine is None:
            self.engine = self.base.create_font_engine(writer, obj_stream)
        if self.engine.writer is not writer:
            raise ValueError("a shared font engine serves a single PDF writer")
        return self.engine


@dataclass(frozen=True)
class _Line:
    text: str
    bold: bool = False
    size: int = 14
    centred: bool = False
    color: tuple[float, float, float] | None = None


class _Page:
    """Collects text boxes and rules onto one page, top to bottom."""

    def __init__(self, writer: PdfFileWriter):
        self.writer = writer
        self.resources = PdfResources()
        self.fonts = {
            False: _SharedEngineFactory(GlyphAccumulatorFactory(DEFAULT_FONT)),
            True: _SharedEngineFactory(GlyphAccumulatorFactory(BOLD_FONT)),
        }
        self.ops: list[bytes] = []
        self.y = A4[1] - MARGIN  # the top of the next line
        self.width = A4[0] - 2 * MARGIN

    def line(self, line: _Line, leading: float | None = None) -> None:
        leading = round(leading or line.size * 1.6)
        style = TextBoxStyle(
            font=self.fonts[line.bold],
            font_size=line.size,
            leading=leading,
            text_color=line.color,
            # The default inner scaling (shrink to fit) keeps a long licensee name on the page.
            box_layout_rule=layout.SimpleBoxLayoutRule(
                x_align=(
                    layout.AxisAlignment.ALIGN_MID
                    if line.centred
                    else layout.AxisAlignment.ALIGN_MIN
                ),
                y_align=layout.AxisAlignment.ALIGN_MAX,
            ),
        )
        box = TextBox(
            style,
            writer=self.writer,
            resources=self.resources,
            box=layout.BoxConstraints(width=self.width, height=leading),
            font_name="FB" if line.bold else "FR",
        )
        box.content = line.text
        self.y -= leading
        # pyHanko puts the baseline on the box's bottom edge; lift it by the descent (~0.3 em).
        baseline_lift = round(line.size * 0.3, 2)
        self.ops.append(
            b"q 1 0 0 1 %g %g cm %s Q" % (MARGIN, self.y + baseline_lift, box.render())
        )

    def space(self, points: float) -> None:
        self.y -= points

    def rule(self, width: float = 0.8) -> None:
        r, g, b = TITLE_COLOR
        self.ops.append(
            b"q %g %g %g RG %g w %g %g m %g %g l S Q"
            % (r, g, b, width, MARGIN, self.y, A4[0] - MARGIN, self.y)
        )

    def frame(self) -> None:
        r, g, b = TITLE_COLOR
        inset = MARGIN / 2
        self.ops.append(
            b"q %g %g %g RG 2 w %g %g %g %g re S 0.6 w %g %g %g %g re S Q"
            % (
                r, g, b,
                inset, inset, A4[0] - 2 * inset, A4[1] - 2 * inset,
                inset + 4, inset + 4, A4[0] - 2 * inset - 8, A4[1] - 2 * inset - 8,
            )
        )

    def finish(self) -> None:
        contents = generic.StreamObject(stream_data=b"\n".join(self.ops))
        contents.compress()
        page = PageObject(
            contents=self.writer.add_object(contents),
            media_box=(0, 0, *A4),
            resources=self.resources.as_pdf_object(),
        )
        self.writer.insert_page(page)


def sample_elicense_pdf(
    *,
    agency_th: str,
    agency_en: str,
    licensee_th: str,
    licence_no: str,
    issued_on: date,
    data_xml: bytes | None = None,
    data_name: str = "e-license.xml",
    now: dt.datetime | None = None,
) -> bytes:
    """A one-page A4 e-License issued by ``agency_*`` to ``licensee_th``, as PDF/A-3u bytes; with
    ``data_xml``, that XML embedded as the associated file ``data_name`` (``/Data``).

    The area from :data:`STAMP_ORIGIN` spanning :data:`~signer.sealing.stamp.STAMP_BOX` is left blank.
    """
    from .attachments import DataPart, embed_data_parts
    from .pdfa import add_output_intent, declare_pdfa

    now = now or dt.datetime.now(dt.timezone.utc)
    writer = PdfFileWriter()
    declare_pdfa(writer, title=f"ใบอนุญาตอิเล็กทรอนิกส์ / e-License {licence_no}", author=agency_en,
                 creator="govca sample e-License", now=now)
    add_output_intent(writer)
    if data_xml is not None:
        embed_data_parts(writer, [DataPart(data_name, "application/xml", data_xml,
                                           description=f"e-License {licence_no} (urn:govca:schema:e-license:1)")], now)

    page = _Page(writer)
    page.frame()
    page.space(12)
    page.line(_Line(agency_th, bold=True, size=20, centred=True, color=TITLE_COLOR))
    page.line(_Line(agency_en, size=14, centred=True, color=TITLE_COLOR))
    page.space(10)
    page.rule()
    page.space(24)
    page.line(_Line("ใบอนุญาตอิเล็กทรอนิกส์", bold=True, size=28, centred=True))
    page.line(_Line("Electronic Licence (e-License)", size=16, centred=True))
    page.space(28)

    def entry(label_th: str, label_en: str, value: str) -> None:
        page.line(_Line(f"{label_th} / {label_en}", size=12, color=(0.3, 0.3, 0.3)), leading=18)
        page.line(_Line(value, bold=True, size=16), leading=26)
        page.space(8)

    entry("เลขที่ใบอนุญาต", "Licence No.", licence_no)
    entry("ผู้ได้รับอนุญาต", "Licensee", licensee_th)
    entry(
        "วันที่ออกใบอนุญาต",
        "Date of issue",
        f"{thai_date(issued_on)}  ({english_date(issued_on)})",
    )
    page.space(16)
    for text in (
        "ใบอนุญาตฉบับนี้ออกในรูปแบบอิเล็กทรอนิกส์",
        "และลงลายมือชื่อดิจิทัลด้วยตราประทับอิเล็กทรอนิกส์ของหน่วยงาน",
        "ตรวจสอบความถูกต้องได้โดยสแกนคิวอาร์โค้ดในตราประทับ หรือเปิดลิงก์ในตราประทับ",
    ):
        page.line(_Line(text, size=14), leading=22)
    page.space(6)
    for text in (
        "This licence is issued in electronic form and sealed with the agency's electronic seal.",
        "Check that it is genuine by scanning the QR code in the seal, or by following its link.",
    ):
        page.line(_Line(text, size=12, color=(0.3, 0.3, 0.3)), leading=18)
    page.finish()

    out = BytesIO()
    writer.write(out)
    return out.getvalue()
