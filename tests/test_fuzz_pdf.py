"""Issue 9: a bounded, seeded mutation fuzz of every PDF entry point, through `govca serve`.

Mutants of a plain PDF (with an xref stream, and with a classic xref table) and of the same PDF
sealed at B-LTA, plus the malformed-PDF corpus (tests/pdf_corpus.py) as it is and mutated, go
to POST /api/v1/sign (multipart and raw), POST /verify, POST /verify/<id>, POST /api/v1/verify
and CSC v2 signatures/signDoc (the agency's seal credential, SCAL1). Every answer must be 200 or
a 4xx (never 5xx, never 429), the serve log must stay free of tracebacks and worker deaths, and
the gunicorn workers may grow by less than 300 MB in all.

The seed is random unless GOVCA_FUZZ_SEED is set; a failure prints it, and each failing input is
saved under test-output/fuzz/ with a .txt that names the mutant (fuzz_helpers.mutant rebuilds it),
next to a copy of the serve log.
"""
from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from conftest import OUTPUT
from fuzz_helpers import ENTRIES, Mutant, as_is, drive, live_target, log_problems, mutants, save_failures, worker_rss
from pdf_corpus import all_entries

SEED = int(os.environ.get("GOVCA_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
# 2,400 mutants in all, plus the corpus as it is at every entry point (about a minute on 2 cores);
# the costly paths (a PDF that still parses is sealed, or validated in full) get fewer.
PER_ENTRY = {"sign-multipart": 400, "sign-raw": 300, "verify-form": 300, "verify-doc": 300, "api-verify": 550,
             "csc-signdoc": 550}
RSS_GROWTH_LIMIT = 300 * 1024 * 1024


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    for old in (OUTPUT / "fuzz").glob("seed*"):  # an earlier run's failing inputs (bench/fuzz.py's are in bench-*/)
        old.unlink()
    server, target, bases = live_target(tmp_path_factory.mktemp("fuzz-pdf"))
    try:
        yield {"server": server, "target": target, "bases": bases, "corpus": all_entries(bases["sealed"]),
               "rss": worker_rss(server.proc.pid)}
    finally:
        server.stop()
        (OUTPUT / "fuzz").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(server.log, OUTPUT / "fuzz" / f"seed{SEED}-serve.log")  # the tracebacks behind failures


def test_the_fuzz_reaches_past_the_parser(live: dict) -> None:
    """The harness itself: the workers are found, and unmutated bases are accepted (200), so the
    mutants start from inputs the entry points really process."""
    assert len(live["rss"]) >= 2, live["rss"]
    plain = Mutant(-1, "plain", ("as-is",), live["bases"]["plain"])
    sealed = Mutant(-1, "sealed", ("as-is",), live["bases"]["sealed"])
    for entry, m in (("sign-raw", plain), ("api-verify", sealed), ("verify-doc", sealed), ("csc-signdoc", plain)):
        [outcome] = drive(live["target"], [(entry, m)], clients=1)
        assert outcome.status == 200, (entry, outcome)


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_fuzz_pdf_entry_point(live: dict, entry: str) -> None:
    server, target = live["server"], live["target"]
    start = list(ENTRIES).index(entry) * 100_000  # each entry point gets its own mutants
    cases = as_is(live["corpus"]) + mutants(SEED, PER_ENTRY[entry], live["bases"], start, live["corpus"])
    offset = server.log.stat().st_size
    outcomes = drive(target, [(entry, m) for m in cases])
    with server.log.open("rb") as f:
        f.seek(offset)
        logged = log_problems(f.read().decode("utf-8", "replace"))
    failures = save_failures(outcomes, SEED, OUTPUT / "fuzz")
    rss = worker_rss(server.proc.pid)
    growth = sum(rss.values()) - sum(live["rss"].values())
    statuses = sorted({o.status for o in outcomes})
    problems = []  # all three checks reported together: one failing does not hide the others
    if failures:
        problems.append(f"{len(failures)} of {len(cases)} answers failed (statuses seen {statuses}); inputs saved "
                        f"in {Path(OUTPUT, 'fuzz')}\n" + "\n".join(failures[:12]))
    if logged:
        problems.append("the serve log says:\n" + "\n".join(sorted(set(logged))[:12]))
    if growth >= RSS_GROWTH_LIMIT:
        problems.append(f"the gunicorn workers grew by {growth / 2**20:.0f} MB (limit {RSS_GROWTH_LIMIT // 2**20} MB)")
    assert not problems, f"GOVCA_FUZZ_SEED={SEED} at {entry}: " + "\n".join(problems)
