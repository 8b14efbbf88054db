"""Parsing XML that comes from outside (data parts, documents to seal with XAdES, uploads to the
verification page) without letting it reach anything else.

- No DOCTYPE at all: no external entity (XXE, OWASP XXE Prevention), no internal entity
  expansion (the "billion laughs"), no DTD fetched or read. A document that declares one is
  refused, it is not "cleaned".
- libxml2 loads nothing over the network and resolves no entity (``no_network``,
  ``resolve_entities=False``, ``load_dtd=False``).
- Depth and size are bounded: libxml2's own limit of 256 levels without ``huge_tree``, and
  :data:`MAX_ELEMENTS` elements.
Every refusal is a :class:`~signer.errors.BadInputError` with one sentence naming what was wrong.
"""
from __future__ import annotations

from lxml import etree

from ..errors import BadInputError, TooLargeError

MAX_ELEMENTS = 200_000
"""More elements than any official document has; a bound on the work a tree walk can cost."""

MAX_DEPTH = 64
"""Nesting deeper than this is refused (a receipt or licence is a handful of levels deep)."""


_DOCTYPE_MARKERS = tuple("<!DOCTYPE".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be"))


def _doctype(what: str) -> BadInputError:
    return BadInputError(f"{what} has a DOCTYPE declaration; govca refuses DTDs and entities in XML "
                         "(XXE and entity expansion)")


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers are not shared between threads.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_blank_text=False, collect_ids=False)


def parse(data: bytes, *, what: str = "the XML document", max_bytes: int | None = None) -> etree._ElementTree:
    """The parsed tree of ``data``, or a refusal naming the fault. ``what`` names the input in
    messages ("the data part 'licence.xml'")."""
    if max_bytes is not None and len(data) > max_bytes:
        raise TooLargeError(f"{what} is over the {max_bytes:,}-byte limit")
    if not data.strip():
        raise BadInputError(f"{what} is empty")
    if any(marker in data for marker in _DOCTYPE_MARKERS):
        # Refused before libxml2 reads the declaration at all (it would otherwise stop at the
        # first entity or network access with a message that hides the reason).
        raise _doctype(what)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise BadInputError(f"{what} is not well-formed XML: {_first_line(str(exc))}") from None
    except ValueError as exc:  # e.g. a str with an encoding declaration, or NUL bytes
        raise BadInputError(f"{what} is not well-formed XML: {_first_line(str(exc))}") from None
    tree = root.getroottree()
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise _doctype(what)
    _check_shape(root, what)
    return tree


def _check_shape(root: etree._Element, what: str) -> None:
    count = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, etree._Entity):
            raise BadInputError(f"{what} refers to an entity (&{node.name};); govca resolves no entities")
        count += 1
        if count > MAX_ELEMENTS:
            raise BadInputError(f"{what} has more than {MAX_ELEMENTS:,} elements")
        if depth > MAX_DEPTH:
            raise BadInputError(f"{what} is nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in node)


def _first_line(text: str) -> str:
    return text.splitlines()[0][:200] if text else "unreadable"
