"""README's integrator quick start, run as written against `govca demo` served by `govca serve`
(only the port differs): curl with options, pdfsig and pyHanko trusting the demo root, and the
CSCSigner example in docs/examples/ signing as the demo official with PIN and TOTP."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from conftest import REPO, Cli
from ocsp_helpers import LiveServer, free_port


def quickstart_block() -> str:
    text = (REPO / "README.md").read_text()
    found = re.search(r"<!-- quickstart:begin -->\s*```bash\n(.*?)```\s*<!-- quickstart:end -->", text, re.S)
    assert found, "README has no quick-start block between its markers"
    return found.group(1)


def test_readme_integrator_quick_start_runs_as_written_against_the_demo(tmp_path: Path) -> None:
    from cli.init_cmd import initialise

    port = free_port()
    home = tmp_path / "govca-data"
    initialise(home, None, f"http://127.0.0.1:{port}")  # `make run`'s demo, on a free port
    printed = Cli(home)("demo").stdout
    # The demo's first run names every file and the credential the README's examples use.
    block = quickstart_block()
    used = set(re.findall(r"govca-data/demo/([\w.-]+)", block)) | set(re.findall(r"--credential (\S+)", block))
    assert used and all(name in printed for name in used), (sorted(used), printed)
    for name in (".venv", "docs"):  # the commands run from the repository's folder
        (tmp_path / name).symlink_to(REPO / name)
    script = tmp_path / "quickstart.sh"
    script.write_text(quickstart_block().replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
    server = LiveServer(home, port)
    try:
        out = subprocess.run(["bash", "-euo", "pipefail", str(script)], cwd=tmp_path, capture_output=True,
                             text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        server.stop()
    report = out.stdout + out.stderr
    assert out.returncode == 0, report
    assert re.search(rf"(?im)^location: http://127\.0\.0\.1:{port}/verify/DOC-[A-Z2-7]{{16}}", report), report
    assert report.count("Signature is Valid.") == 3 and report.count("Certificate is Trusted.") == 3, report
    # 5: the data part is listed beside the e-License's own data, and extracted byte for byte (cmp)
    assert re.search(r"(?m)^\d+: licence-data\.xml$", report) and re.search(r"(?m)^\d+: e-license\.xml$", report)
    # 6: xmlsec1 checked the XMLDSig core of the sealed e-Receipt: its three references and the signature
    assert "SignedInfo References (ok/all): 3/3" in report and re.search(r"(?m)^OK$", report), report
    assert "signed by official-1" in report and "INTACT:TRUSTED" in report.replace(",", ":"), report
