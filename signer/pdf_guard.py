"""The budgets every uploaded PDF is read under, and the watchdog that enforces time and memory.

One hardened parse (signer/pdf_checks.py) uses this module for every PDF entry point: sealing
(/api/v1/sign), CSC signDoc, and verification (/verify, /api/v1/verify). Three layers:

1. structural pre-checks on the raw bytes, before any parser runs: ``startxref`` and ``/Prev``
   inside the file (ISO 32000-1 7.5.5, 7.5.6), and the object count an xref table or stream
   declares (ISO 32000-1 7.5.4, 7.5.8) against the file's length and an absolute cap;
2. pyHanko's reader with :class:`~pyhanko.pdf_utils.decode_limits.DecodeLimits` (decompressed
   bytes per stream and per document);
3. a watchdog (:func:`guard`): an ``ITIMER_REAL`` timer whose handler stops the work when the
   time budget has passed or the process grew by more than the memory budget. After a memory
   overrun the worker asks to be retired (:func:`retire_requested`): the web layer answers, then
   the process exits and gunicorn replaces it.

Past a budget: :class:`BudgetError` (422, or 413 for size), the budget named in the detail.
Within budget, a failure to read is a :class:`~signer.errors.BadInputError` in plain words.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Iterator

from pyhanko.pdf_utils.decode_limits import DecodeLimits, DocumentDecodeBudget, StreamDecodeLimits
from pyhanko.pdf_utils.misc import PdfDecodeLimitError, PdfError

from .errors import BadInputError, BudgetError, SignerError, TooLargeError

MiB = 1024 * 1024
log = logging.getLogger("govca.signer.pdf")


def _decode_limits() -> DecodeLimits:
    # pyHanko 0.38's defaults are 256 MiB per stream and per document; a seal or a licence needs
    # far less, and the memory budget below must hold the decoded data too.
    return DecodeLimits(per_stream=StreamDecodeLimits(max_ratio=1100, ratio_floor=MiB, max_output_size=64 * MiB),
                        document_budget=DocumentDecodeBudget(base_allowance=128 * MiB, max_ratio=20))


@dataclass(frozen=True)
class Budgets:
    """What one uploaded PDF may cost. ``bytes_per_object``: an object takes at least that many
    bytes of the file (``1 0 obj null endobj`` takes 19; packed in an object stream, fewer)."""

    max_bytes: int = 50 * MiB
    max_objects: int = 500_000
    bytes_per_object: int = 1
    max_sections: int = 1000  # cross-reference sections: one per revision
    max_depth: int = 64  # page tree and field tree levels
    max_pages: int = 5_000  # the walk parses every page object: ~0.2 ms each
    max_fields: int = 300
    max_signatures: int = 32
    parse_seconds: float = 2.0
    verify_seconds: float = 8.0
    memory_bytes: int = 250 * MiB
    tick_seconds: float = 0.05
    decode: DecodeLimits = field(default_factory=_decode_limits)

    def object_limit(self, size: int) -> int:
        return min(self.max_objects, max(size // self.bytes_per_object, 1))


DEFAULT_BUDGETS = Budgets()


# --- 1. structural pre-checks on the raw bytes ----------------------------------------------
_STARTXREF = re.compile(rb"startxref\s+(\d+)")
_PREV = re.compile(rb"/Prev\s+(\d+)(?!\d)(?!\s+\d+\s+R)")  # an offset, not an outline item's reference
_XREF_KEYWORD = re.compile(rb"xref[ \t\r\n]")  # a lookbehind here would cost a 45 MB file 2 s
_SUBSECTION = re.compile(rb"(?m)^[ \t]*(\d+)[ \t]+(\d+)[ \t]*\r?$")
_TRAILER = re.compile(rb"trailer\s*<<")
_XREF_STREAM = re.compile(rb"/Type\s*/XRef\b")
_SIZE = re.compile(rb"/Size\s+(\d+)")
_INDEX = re.compile(rb"/Index\s*\[([\d\s]*)\]")


def _offset(digits: bytes) -> int:
    return int(digits) if len(digits) <= 18 else 10 ** 18


def precheck(data: bytes, budgets: Budgets) -> None:
    """Refuse, before parsing, what no parser should be given (ISO 32000-1 7.5)."""
    if len(data) > budgets.max_bytes:
        raise TooLargeError(f"the PDF is {len(data):,} bytes; the limit is {budgets.max_bytes:,} bytes")
    starts = _STARTXREF.findall(data[-4096:]) or _STARTXREF.findall(data)
    if starts and _offset(starts[-1]) >= len(data):
        raise BadInputError(f"the PDF's startxref (where its cross-reference section starts) is "
                            f"{_shown(starts[-1])}, past the end of the {len(data):,}-byte file (ISO 32000-1 7.5.5)")
    for prev in _PREV.findall(data):
        if _offset(prev) >= len(data):
            raise BadInputError(f"the PDF's /Prev (where an earlier cross-reference section starts) is "
                                f"{_shown(prev)}, past the end of the {len(data):,}-byte file (ISO 32000-1 7.5.6)")
    declared = max(_declared_objects(data, budgets), default=0)
    limit = budgets.object_limit(len(data))
    if declared > limit:
        raise BudgetError(f"the PDF declares {declared:,} objects in {len(data):,} bytes; the limit is {limit:,} "
                          f"(one object per {budgets.bytes_per_object} byte(s) of file, at most "
                          f"{budgets.max_objects:,}; ISO 32000-1 7.5.4, 7.5.8)")


def _shown(digits: bytes) -> str:
    return f"byte {int(digits):,}" if len(digits) <= 18 else f"a {len(digits)}-digit number"


def _sections(data: bytes, pattern: re.Pattern, budgets: Budgets) -> list[int]:
    """Where ``pattern`` starts, at most ``max_sections`` times: a file has one cross-reference
    section per revision (ISO 32000-1 7.5.6), and each costs the scan below a window."""
    found = []
    for m in pattern.finditer(data):
        if pattern is _XREF_KEYWORD and m.start() and data[m.start() - 1: m.start()].isalpha():
            continue  # startxref
        found.append(m.start())
        if len(found) > budgets.max_sections:
            raise BudgetError(f"the PDF has more than {budgets.max_sections:,} cross-reference sections "
                              f"(revisions); the limit is {budgets.max_sections:,} (ISO 32000-1 7.5.6)")
    return found


def _declared_objects(data: bytes, budgets: Budgets) -> Iterator[int]:
    """Object counts declared by trailers (/Size), xref streams (/Size, /Index) and the
    subsection headers of xref tables; each the highest object number + 1 it implies. Each
    section is read in a bounded window, so the whole scan stays linear in the file's size."""
    tables = _sections(data, _XREF_KEYWORD, budgets)
    for at, following in zip(tables, tables[1:] + [len(data)]):
        end = data.find(b"trailer", at, following)
        for start, count in _SUBSECTION.findall(data, at + 5, end if end != -1 else following):
            yield _offset(start) + _offset(count)
    for at in _sections(data, _TRAILER, budgets):
        end = data.find(b"startxref", at, at + 65536)
        yield from (_offset(s) for s in _SIZE.findall(data, at, end if end != -1 else at + 4096))
    for at in _sections(data, _XREF_STREAM, budgets):
        start = data.rfind(b"obj", max(0, at - 4096), at)
        end = data.find(b"stream", at, at + 4096)
        window = data[start if start != -1 else at: end if end != -1 else at + 4096]
        yield from (_offset(s) for s in _SIZE.findall(window))
        for index in _INDEX.findall(window):
            nums = [_offset(n) for n in index.split()]
            yield from (a + b for a, b in zip(nums[::2], nums[1::2]))


# --- 3. the watchdog --------------------------------------------------------------------------
class _Overrun(BaseException):
    """Raised from the timer's handler. A BaseException, so that the ``except Exception`` of a
    library (or of the verifier's per-signature fallback) does not swallow it."""


@dataclass
class _Watch:
    deadline: float
    seconds: float
    rss_base: int
    memory_bytes: int
    what: str
    tripped: str | None = None
    held: int = 0


_active: list[_Watch] = []
_retire = False
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def retire_requested() -> bool:
    """True once a request of this process overran the memory budget: the process should exit
    after answering (its heap may stay large)."""
    return _retire


def _tick(signum: int, frame: object) -> None:  # noqa: ARG001 - signal handler signature
    global _retire
    if not _active:
        return
    watch = _active[-1]
    if watch.tripped is None:
        grown = _rss() - watch.rss_base
        if grown > watch.memory_bytes:
            _retire = True
            watch.tripped = (f"{watch.what} grew the worker by {grown // MiB:,} MB; the memory budget is "
                             f"{watch.memory_bytes // MiB:,} MB")
        elif time.monotonic() > watch.deadline:
            watch.tripped = f"{watch.what} took more than {watch.seconds:g} s, the time budget"
    if watch.tripped is not None and not watch.held:
        raise _Overrun(watch.tripped)  # again on every tick, should something swallow it once


@contextlib.contextmanager
def held() -> Iterator[None]:
    """A section the watchdog must not interrupt (a database or token call): its time and
    memory still count, and an overrun is raised at the first tick after it."""
    watch = _active[-1] if _active else None
    if watch is not None:
        watch.held += 1
    try:
        yield
    finally:
        if watch is not None:
            watch.held -= 1


@contextlib.contextmanager
def guard(seconds: float, what: str, budgets: Budgets = DEFAULT_BUDGETS) -> Iterator[None]:
    """Run the block under the time and memory budgets; turn every failure to read the PDF into
    a 4xx (:func:`mapped`). Nested guards tighten the deadline; the outermost owns the timer and
    restores the previous handler and timer on exit. Only the main thread can take signals:
    elsewhere the block runs with the error mapping but without the watchdog."""
    outer = _active[-1] if _active else None
    now = time.monotonic()
    watch = _Watch(now + seconds, seconds, outer.rss_base if outer else _rss(), budgets.memory_bytes, what)
    if outer is not None and outer.deadline < watch.deadline:  # the outer budget binds first
        watch.deadline, watch.seconds, watch.what = outer.deadline, outer.seconds, outer.what
    armed = outer is None and threading.current_thread() is threading.main_thread()
    with mapped(what, budgets):
        try:
            if armed:
                previous = signal.signal(signal.SIGALRM, _tick)
                old_timer = signal.setitimer(signal.ITIMER_REAL, budgets.tick_seconds, budgets.tick_seconds)
            _active.append(watch)
            yield
        finally:  # disarmed first, so that no tick interrupts the mapping
            if _active and _active[-1] is watch:
                _active.pop()
            if armed:
                signal.setitimer(signal.ITIMER_REAL, *old_timer)
                signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def mapped(what: str, budgets: Budgets = DEFAULT_BUDGETS) -> Iterator[None]:
    """Turn what a parser raises on a malformed PDF into a 4xx in plain words (the exception's
    type is logged, never shown). Used alone around the signing itself, which reads objects the
    checks did not need (pyHanko's writer), and must not be interrupted by the watchdog."""
    try:
        yield
    except _Overrun as exc:
        raise BudgetError(str(exc)) from None
    except SignerError:
        raise
    except RecursionError:
        _log(what, "RecursionError")
        raise BudgetError(f"{what}: its objects are nested, or refer to one another, deeper than this service "
                          "reads (a reference loop, or arrays and dictionaries nested hundreds of levels deep; "
                          "ISO 32000-1 Annex C)") from None
    except MemoryError:
        _set_retire()
        raise BudgetError(f"{what} needed more memory than the worker has; the memory budget is "
                          f"{budgets.memory_bytes // MiB:,} MB") from None
    except PdfDecodeLimitError:
        raise BudgetError(f"{what}: a compressed stream inflates past the decompression budget "
                          f"({budgets.decode.per_stream.max_output_size // MiB:,} MB per stream, at most "
                          f"{budgets.decode.per_stream.max_ratio:g} times its compressed size)") from None
    except zlib.error:
        raise BadInputError(f"{what}: a compressed (Flate) stream is corrupt (ISO 32000-1 7.4.4)") from None
    except PdfError as exc:
        _log(what, type(exc).__name__)
        raise BadInputError(f"{what}: {plain(str(exc))}") from None
    except (AssertionError, OverflowError, TypeError, ValueError, KeyError, IndexError, AttributeError,
            LookupError, struct.error, EOFError, NotImplementedError) as exc:
        _log(what, type(exc).__name__)
        raise BadInputError(f"{what}: the file's structure is broken (cross-reference table, objects or "
                            "dictionaries are not as ISO 32000-1 7.3-7.5 requires)") from None


def _log(what: str, kind: str) -> None:
    # For operators: which parser fault a refusal came from (a bug of ours would show here).
    log.info("PDF refused while %s: %s", what, kind)


def _set_retire() -> None:
    global _retire
    _retire = True


_TECHNICAL = re.compile(r"[A-Z][a-z]+[A-Z]\w*|\w+\.\w+\.\w+|attribute|__|Error|0x[0-9a-fA-F]+")


def plain(message: str) -> str:
    """pyHanko's message if it is plain words, else a general one: no class names, attribute
    errors or offsets reach the client."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    if not first or len(first) > 160 or _TECHNICAL.search(first):
        return "the file's structure is broken (ISO 32000-1 7.3-7.5)"
    if first[1:2].islower():
        first = first[0].lower() + first[1:]
    return first.rstrip(".")
