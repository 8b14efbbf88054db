"""The repository is complete on its own: its documentation and comments point only at files a
user who clones it gets (docs/*.md), never at folders beside the checkout."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Built from parts so that this file does not name what it looks for.
OUTSIDE = (".." + "/shared").encode()
DOCS_PATH = re.compile(r"(?<![\w/.-])docs/[A-Za-z0-9_.-]+\.md")
# Where documentation is referred to: the README, and comments and docstrings of code and data.
REFERRING = (".py", ".toml", ".cfg")


def _tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no tracked files to check")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_refers_to_a_folder_outside_the_repository() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in _tracked_files() if p.is_file() and OUTSIDE in p.read_bytes()]
    assert not offenders, f"tracked files referring to {OUTSIDE.decode()}: {offenders}"


def test_every_docs_file_named_in_the_readme_and_code_comments_exists() -> None:
    referring = [p for p in _tracked_files() if p.is_file() and (p.name == "README.md" or p.suffix in REFERRING)]
    named: dict[str, set[str]] = {}
    for path in referring:
        for match in DOCS_PATH.findall(path.read_text(encoding="utf-8", errors="replace")):
            named.setdefault(match, set()).add(str(path.relative_to(ROOT)))
    assert "docs/architecture.md" in named, "the README no longer points at docs/architecture.md"
    missing = {doc: sorted(where) for doc, where in named.items() if not (ROOT / doc).is_file()}
    assert not missing, f"docs files named but not in the repository: {missing}"
