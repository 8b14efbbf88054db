"""Rewrite the golden DER files of tests/test_golden_builders.py from today's builders.

Run by hand, only after an intended change to a builder or to the shipped profiles, then review
what changed before committing it:

    .venv/bin/python tests/golden/regenerate.py
    git diff --stat tests/golden

The keys are derived from their names by tests/golden_keys.py (no private key is committed), so they
are the same on every machine; changing that derivation would change every golden at once. The
test itself never writes a golden file.
"""
from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS.parent), str(TESTS)]

import test_golden_builders as g  # noqa: E402 - needs the path above


def main() -> int:
    changed = 0
    # CASES lists the certificates first: the OCSP and TSA cases read the responder's and the TSA's.
    for case, build in g.CASES.items():
        path = g.GOLDEN / f"{case}.der"
        new = build()
        old = path.read_bytes() if path.is_file() else None
        if new != old:
            path.write_bytes(new)
            changed += 1
            print(f"{'rewrote' if old is not None else 'wrote'} {path.relative_to(TESTS.parent)} ({len(new)} bytes)")
    print(f"{changed} of {len(g.CASES)} golden files changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
