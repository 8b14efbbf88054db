"""Where a stamp may go on a page: the page's visible area and the least readable stamp box
(pure PDF geometry, shared by the pre-signing checks and the sealing; holds no key)."""
from __future__ import annotations

from typing import Any

from .errors import BadInputError

STAMP_SIZE = (300, 120)  # points; signer/sealing/stamp.py lays the stamp out for this box
STAMP_MARGIN = 36
MIN_STAMP_SCALE = 0.5
"""The least a stamp may be scaled down. signer/sealing/stamp.py lays the stamp out for
:data:`STAMP_SIZE` and shrinks it, text and QR code as one block, to fit a smaller box: at half
size its 10 pt text is 5 pt (about 1.8 mm, fine print) and the QR code 48 pt with modules of
about 1 pt (0.37 mm), still read by a phone. Below that the text is no longer readable."""
MIN_STAMP_SIZE = (int(STAMP_SIZE[0] * MIN_STAMP_SCALE), int(STAMP_SIZE[1] * MIN_STAMP_SCALE))
"""(150, 60) points: a box at least this wide and this high keeps the stamp at
:data:`MIN_STAMP_SCALE` or more, whatever its aspect (the block keeps its own)."""

Rect = tuple[float, float, float, float]


def _inherited(node: Any, key: str) -> Any:
    """An inheritable page attribute (ISO 32000-1 7.7.3.4, Table 30): the page's own, else its
    nearest ancestor's; the walk up /Parent is bounded."""
    for _ in range(64):
        if node is None:
            return None
        node = node.get_object()
        if key in node:
            return node[key]
        node = node.get("/Parent")
    return None


def _rect(value: Any) -> Rect | None:
    """A rectangle of four numbers, normalised to lower-left then upper-right (ISO 32000-1
    7.9.5); None if it is not one."""
    try:
        if value is None or len(value) != 4:
            return None
        x1, y1, x2, y2 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def visible_area(page_node: Any) -> Rect | None:
    """Where a page is shown: its /CropBox clipped to its /MediaBox, or the /MediaBox without a
    (valid) /CropBox (ISO 32000-1 14.11.2), in default user space. None without a valid /MediaBox."""
    media = _rect(_inherited(page_node, "/MediaBox"))
    if media is None:
        return None
    crop = _rect(_inherited(page_node, "/CropBox"))
    if crop is None:
        return media
    return (max(media[0], crop[0]), max(media[1], crop[1]), min(media[2], crop[2]), min(media[3], crop[3]))


def check_stamp_box(box: tuple[int, int, int, int], page_node: Any, page_number: int) -> None:
    """Refuse a stamp box too small to read (:data:`MIN_STAMP_SIZE`) or not wholly on the
    page's visible area (:func:`visible_area`). ``box``: x1, y1, x2, y2 in PDF points (1/72 inch),
    the origin at the lower-left corner of the page, x to the right, y up; ``page_number`` 1-based.

    :raises BadInputError: "invalid options: ..." saying what a box must be."""
    x1, y1, x2, y2 = box
    width, height = x2 - x1, y2 - y1
    if width < MIN_STAMP_SIZE[0] or height < MIN_STAMP_SIZE[1]:
        raise BadInputError(
            f"invalid options: box {list(box)} is {width} x {height} pt, too small for a readable stamp; it must be "
            f"at least {MIN_STAMP_SIZE[0]} pt wide and {MIN_STAMP_SIZE[1]} pt high (the stamp is laid out for "
            f"{STAMP_SIZE[0]} x {STAMP_SIZE[1]} pt and shrinks to fit, at most to half size)")
    area = visible_area(page_node)
    if area is None:
        raise BadInputError(f"page {page_number} has no valid /MediaBox (four numbers; ISO 32000-1 7.7.3.3, Table 30)")
    if not (x1 >= area[0] and y1 >= area[1] and x2 <= area[2] and y2 <= area[3]):
        shown = ", ".join(f"{v:g}" for v in area)
        raise BadInputError(
            f"invalid options: box {list(box)} is not within page {page_number}'s visible area [{shown}] "
            "(its /CropBox, else its /MediaBox; ISO 32000-1 14.11.2): the box is in PDF points (1/72 inch) "
            "from the lower-left corner of the page, x to the right, y up")
