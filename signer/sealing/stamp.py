"""The visible stamp of a sealed document (docs/profile.md, "Signed documents").

The stamp shows, Thai first and English second: the agency's name, the signer (the CN of the
seal or official certificate), the signing time in the Buddhist-era and Gregorian calendars
(both in Asia/Bangkok time), the document id, and a QR code that opens the public verification
page for the document.

It is a pyHanko :class:`~pyhanko.stamp.QRStampStyle`, so the same style serves a visible
signature field (``PdfSignatureMetadata``/``PdfSigner`` with ``stamp_style=stamp_style()`` and
``appearance_text_params=stamp_text_params(info)``) and a plain stamp
(:class:`~pyhanko.stamp.QRStamp` with ``box=BoxConstraints(*STAMP_BOX)``).

Thai text is set with a Thai OpenType font through pyHanko's HarfBuzz-backed
:class:`~pyhanko.pdf_utils.font.opentype.GlyphAccumulatorFactory`, so that above and below
vowels and tone marks are positioned by the font's GPOS/GSUB rules rather than stacked blindly.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import QRPosition, QRStampStyle

from ..thai import (DEFAULT_FONT, BANGKOK, english_date, require_aware,
                    english_datetime, thai_date, thai_datetime)
from ..errors import StampError
from .stamp_font import SharedSubsetFontFactory

__all__ = [
    "BANGKOK",
    "DEFAULT_FONT",
    "STAMP_BOX",
    "SIGNED_BY",
    "STAMP_TEXT",
    "StampError",
    "StampInfo",
    "check_glyph_coverage",
    "english_date",
    "english_datetime",
    "stamp_style",
    "stamp_text_params",
    "thai_date",
    "thai_datetime",
]

STAMP_BOX: tuple[int, int] = (300, 120)
"""Default size of the stamp, (width, height) in PDF points. The layout is tuned for it; larger
boxes leave white space, smaller ones shrink the content to fit."""

SIGNED_BY = {
    "seal": "ประทับตราโดย / Sealed by",
    "official": "ลงนามโดย / Signed by",
}
"""The line before the signer, by the kind of signer: an agency's electronic seal is affixed
(ประทับตรา, "sealed"), an official signs (ลงนาม, "signed")."""

STAMP_TEXT = (
    "%(agency_th)s\n"
    "%(agency_en)s\n"
    "%(signed_by)s:\n"
    "%(signer)s\n"
    "%(date_th)s\n"
    "%(date_en)s\n"
    "เลขที่เอกสาร / Document ID: %(document_id)s"
)
"""Template of the stamp's text; its parameters are the keys of :func:`stamp_text_params`
(pyHanko also passes ``ts``, unused here, and reads ``url`` for the QR code)."""

FONT_SIZE = 10
"""Text size in points. pyHanko writes ``Tf`` with ``%d``, so sizes are whole points."""

LEADING = 14
"""Line spacing in points: 1.4 em leaves room for Thai marks stacked above and below the line,
and seven lines fit the height of :data:`STAMP_BOX`."""

QR_SIZE = 96
"""Side of the QR code in points (about 34 mm; a 45-module code, URL of ~80 characters, then
has 2.1 pt modules). With it the text column is 186 pt wide: 18.6 em at :data:`FONT_SIZE`, room
for the longest date lines and a 35-character English agency name before anything shrinks."""

BORDER_COLOR = (0.08, 0.2, 0.45)
"""Dark blue, the colour of Thai government seals."""

_THAI_LETTERS = "".join(chr(c) for c in range(0x0E01, 0x0E3B)) + "".join(
    chr(c) for c in range(0x0E3F, 0x0E5C)
)



@dataclass(frozen=True)
class StampInfo:
    """What the visible stamp of one sealed document says."""

    agency_th: str
    """The sealing agency's name in Thai, e.g. ``กรมพัฒนาธุรกิจการค้า``."""

    agency_en: str
    """The sealing agency's name in English, e.g. ``Department of Business Development``."""

    signer: str
    """The CN of the seal or official certificate that signs."""

    signed_at: datetime
    """The signing time; must be timezone-aware (it is shown in Asia/Bangkok time)."""

    document_id: str
    """The registered document id, the one the verification page looks up."""

    verify_url: str
    """The URL of the document's public verification page; the QR code encodes it."""

    kind: str = "seal"
    """Who signs: ``"seal"`` (an agency's seal: "ประทับตราโดย / Sealed by") or ``"official"``
    (an official's signature: "ลงนามโดย / Signed by"); a key of :data:`SIGNED_BY`."""

    def __post_init__(self) -> None:
        for name in ("agency_th", "agency_en", "signer", "document_id", "verify_url"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise StampError(f"StampInfo.{name} must be a non-empty string")
            # A line break would add a line to the stamp and push the rest out of the box.
            if any(c in value for c in "\r\n\x0b\x0c\x85\u2028\u2029"):
                raise StampError(f"StampInfo.{name} must be a single line")
        require_aware(self.signed_at)
        if self.kind not in SIGNED_BY:
            raise StampError(f"StampInfo.kind must be one of {sorted(SIGNED_BY)}, not {self.kind!r}")
        if not self.verify_url.startswith(("https://", "http://")):
            raise StampError("StampInfo.verify_url must be an http(s) URL")


def stamp_text_params(info: StampInfo) -> dict[str, str]:
    """The values :data:`STAMP_TEXT` interpolates, plus ``url`` for the QR code.

    Returns a fresh dict on each call: pyHanko's ``QRStampStyle.create_stamp`` pops ``url``.
    """
    return {
        "agency_th": info.agency_th,
        "agency_en": info.agency_en,
        "signed_by": SIGNED_BY[info.kind],
        "signer": info.signer,
        "date_th": thai_datetime(info.signed_at),
        "date_en": english_datetime(info.signed_at),
        "document_id": info.document_id,
        "url": info.verify_url,
    }


@functools.lru_cache(maxsize=8)
def _font_codepoints(font_path: str) -> frozenset[int]:
    from fontTools import ttLib

    with ttLib.TTFont(font_path, lazy=True) as font:
        return frozenset(font.getBestCmap())


def check_glyph_coverage(text: str, font_path: str = DEFAULT_FONT) -> None:
    """Make sure every character of ``text`` (line breaks aside) has a glyph in the font.

    A missing glyph renders as an empty box (tofu) on a legal document, so callers check the
    final stamp text (``STAMP_TEXT % stamp_text_params(info)``) before they seal.

    :raises StampError: naming the characters the font lacks.
    """
    have = _font_codepoints(font_path)
    missing = sorted({c for c in text if c not in "\r\n" and ord(c) not in have})
    if missing:
        listed = ", ".join(f"U+{ord(c):04X} {c!r}" for c in missing[:8])
        more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        raise StampError(f"font {font_path} has no glyph for {listed}{more}")


@functools.lru_cache(maxsize=4)
def stamp_style(font_path: str = DEFAULT_FONT) -> QRStampStyle:
    """The stamp style: QR code on the left, seven lines of Thai and English text on the right.

    Cached per process and font, so the font is checked once. The style is immutable and safe
    to share between threads; pyHanko creates a fresh glyph accumulator for each stamp it
    renders, which embeds the per-process font subset of signer/sealing/stamp_font.py.

    :raises StampError: if the font lacks the Thai letters or the template's characters.
    """
    check_glyph_coverage(_THAI_LETTERS + STAMP_TEXT + "".join(SIGNED_BY.values()), font_path)
    # One font for Thai and Latin: a pyHanko text box has a single font, and Laksaman covers
    # both. The script is left for HarfBuzz to guess per line, so Thai lines get the Thai
    # shaper and English lines the default one.
    font = SharedSubsetFontFactory(font_path, font_size=FONT_SIZE)
    text_box_style = TextBoxStyle(
        font=font,
        font_size=FONT_SIZE,
        leading=LEADING,
        box_layout_rule=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN,
            y_align=layout.AxisAlignment.ALIGN_MID,
            # The bottom margin holds the descenders (and below vowels) of the last line,
            # which pyHanko puts on the text box's bottom edge.
            margins=layout.Margins(left=2, right=2, top=2, bottom=6),
        ),
    )
    return QRStampStyle(
        stamp_text=STAMP_TEXT,
        text_box_style=text_box_style,
        qr_position=QRPosition.LEFT_OF_TEXT,
        qr_inner_size=QR_SIZE,
        innsep=3,
        border_width=1,
        border_color=BORDER_COLOR,
        # Shrink (never stretch) the QR code and text as one block to fit the box, so long
        # agency names stay on the stamp instead of running off its edge.
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN,
            y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins.uniform(4),
            inner_content_scaling=layout.InnerScaling.SHRINK_TO_FIT,
        ),
    )
