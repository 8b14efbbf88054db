"""The package as pip builds it: every file the product reads at run time is in the wheel, and
setuptools has nothing to warn about (issue 10: `make install` printed ~80 warnings)."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO


def test_the_wheel_holds_migrations_templates_and_profiles_and_the_build_warns_of_no_missing_package(
        tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w",
                          str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "is absent from the `packages` configuration" not in out.stdout + out.stderr
    wheel = next(tmp_path.glob("govca-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("ca/migrations/env.py", "ca/migrations/script.py.mako", "ca/migrations/versions/0001_initial_schema.py",
                   "signer/verification/templates/verify.html", "signer/verification/templates/verify.js",
                   "signer/verification/templates/verify.css",
                   "policies/data/profiles-v1.toml", "cli/main.py"):
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
