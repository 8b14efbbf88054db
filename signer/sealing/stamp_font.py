"""The stamp's font, subset once per process instead of once per stamp.

pyHanko's :class:`GlyphAccumulator` embeds a subset of the font holding exactly the glyphs a stamp
used; fontTools builds that subset from the whole font each time, ~43 ms of a ~50 ms stamp. The
stamp's text is Thai and ASCII, so here the subset is made once per process for every Thai and
ASCII character (plus the alternate glyphs the font's GSUB rules can reach from them, which
HarfBuzz may pick for tone marks and vowels), with glyph ids kept as pyHanko keeps them; each stamp
then embeds those same bytes. It costs ~11 KB more per document (the shared subset compresses to
~18 KB). A stamp that uses any glyph outside the shared subset, or a font that is not CFF-based,
falls back to pyHanko's own per-stamp subset, so the output is always complete.
"""
from __future__ import annotations

import io
import threading
import zlib
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import CIDFontType0, GlyphAccumulator, GlyphAccumulatorFactory

SHARED_CODEPOINTS = tuple(range(0x20, 0x7F)) + tuple(range(0x0E01, 0x0E5C)) + (0xA0, 0x2013, 0x2014, 0x2019, 0x201C,
                                                                             0x201D, 0x2022)


@dataclass(frozen=True)
class SharedSubset:
    glyph_ids: frozenset[int]
    cff: bytes          # the compiled CFF font program
    cff_deflated: bytes


_CACHE: dict[str, SharedSubset | None] = {}
_LOCK = threading.Lock()


def shared_subset(font_file: str) -> SharedSubset | None:
    """The per-process subset of ``font_file`` for SHARED_CODEPOINTS; None for a non-CFF font."""
    with _LOCK:
        if font_file not in _CACHE:
            _CACHE[font_file] = _build(font_file)
        return _CACHE[font_file]


def _build(font_file: str) -> SharedSubset | None:
    from fontTools import subset, ttLib

    tt = ttLib.TTFont(font_file)
    if "CFF " not in tt:
        return None
    # Glyph ids retained, as GlyphAccumulator._extract_subset does for name-keyed CFF (pyHanko
    # writes raw glyph ids), and the GSUB closure taken (GSUB is kept for that; only the CFF
    # table is embedded).
    options = subset.Options(layout_closure=True, retain_gids=True, notdef_outline=True)
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(unicodes=[c for c in SHARED_CODEPOINTS if c in tt.getBestCmap()])
    gid = {name: i for i, name in enumerate(tt.getGlyphOrder())}
    subsetter.subset(tt)
    kept = frozenset(gid[name] for name in subsetter.glyphs_retained)
    buf = io.BytesIO()
    tt["CFF "].cff.compile(buf, tt)
    return SharedSubset(kept, buf.getvalue(), zlib.compress(buf.getvalue()))


class SharedSubsetAccumulator(GlyphAccumulator):
    """A GlyphAccumulator that embeds the shared subset when every glyph it used is in it."""

    def __init__(self, font_file: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.font_file = font_file

    def prepare_write(self) -> None:
        if self._write_prepared:
            return
        shared = shared_subset(self.font_file)
        if (shared is not None and isinstance(self.cidfont_obj, CIDFontType0)
                and set(self._glyphs) <= shared.glyph_ids):
            self._subset_created = True  # the font program is the shared one: skip fontTools
            font = self.cidfont_obj

            def set_font_file(writer: Any) -> Any:
                stream = generic.StreamObject(
                    {generic.pdf_name("/Subtype"): generic.pdf_name("/CIDFontType0C"),
                     generic.pdf_name("/Filter"): generic.pdf_name("/FlateDecode")},
                    stream_data=shared.cff, encoded_data=shared.cff_deflated)
                ref = writer.add_object(stream)
                font._font_descriptor[generic.pdf_name("/FontFile3")] = ref
                return ref

            font.set_font_file = set_font_file  # type: ignore[method-assign]
        super().prepare_write()


@dataclass(frozen=True)
class SharedSubsetFontFactory(GlyphAccumulatorFactory):
    """GlyphAccumulatorFactory whose engines embed the per-process shared subset."""

    def create_font_engine(self, writer: Any, obj_stream: Any = None) -> GlyphAccumulator:
        # As GlyphAccumulatorFactory.create_font_engine, with the subclass.
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()
        with open(self.font_file, "rb") as fh:
            handle = io.BytesIO(fh.read())
        return SharedSubsetAccumulator(
            self.font_file, writer=writer, font_handle=handle, font_size=self.font_size,
            ot_script_tag=self.ot_script_tag, ot_language_tag=self.ot_language_tag,
            writing_direction=self.writing_direction, bcp47_lang_code=self.bcp47_lang_code, obj_stream=obj_stream)
