"""signer/sealing/stamp_font.py: the stamp font subset once per process, with pyHanko's own per-stamp
subset as the fallback for any glyph outside it. The rendering itself is checked against the
golden image in tests/test_stamp.py."""
from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter

from signer.sealing.stamp import DEFAULT_FONT
from signer.sealing.stamp_font import SharedSubsetFontFactory, shared_subset

THAI_AND_ENGLISH = "กรมพัฒนาธุรกิจการค้า ผู้ใหญ่ ปั้ม ฎีกา Department of Business Development พ.ศ. 2569 DOC-AB23"


def _embed(text: str) -> tuple[GlyphAccumulator, bytes]:
    writer = PdfFileWriter()
    engine = SharedSubsetFontFactory(DEFAULT_FONT, font_size=7).create_font_engine(writer)
    engine.shape(text)
    engine.prepare_write()
    out = io.BytesIO()
    writer.write(out)
    return engine, out.getvalue()


def _font_program(pdf: bytes) -> bytes:
    reader = PdfFileReader(io.BytesIO(pdf))
    for idnum in range(1, int(reader.trailer["/Size"])):
        obj = reader.get_object(generic.Reference(idnum, 0, reader))
        if isinstance(obj, generic.StreamObject) and obj.get("/Subtype") == "/CIDFontType0C":
            return obj.data
    raise AssertionError("no embedded CFF font program")


def test_thai_and_english_use_the_shared_subset_without_running_fonttools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GlyphAccumulator, "_extract_subset", lambda self, options=None: pytest.fail("subset per stamp"))
    engine, pdf = _embed(THAI_AND_ENGLISH)
    shared = shared_subset(DEFAULT_FONT)
    assert shared is not None and set(engine._glyphs) <= shared.glyph_ids
    assert _font_program(pdf) == shared.cff  # the embedded program is the shared one, inflated intact


def test_a_glyph_outside_the_shared_subset_falls_back_to_pyhankos_own_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = GlyphAccumulator._extract_subset
    monkeypatch.setattr(GlyphAccumulator, "_extract_subset", lambda self, options=None: calls.append(1) or real(self))
    engine, pdf = _embed(THAI_AND_ENGLISH + " ©")  # U+00A9 is in the font, not in the shared set
    assert calls == [1] and _font_program(pdf) != shared_subset(DEFAULT_FONT).cff  # type: ignore[union-attr]
    assert not set(engine._glyphs) <= shared_subset(DEFAULT_FONT).glyph_ids  # type: ignore[union-attr]
