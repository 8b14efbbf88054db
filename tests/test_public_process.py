"""Issue 11, acceptance 3: inside the running workers of `govca serve` (both pools, behind nginx),
none of the CA function's code is loaded and no session is held on the CA token.

Each worker is asked directly: SIGUSR2 makes it write what it holds to the private run directory
(cli/contexts.py), so every worker of every pool answers, not only the one a request reaches.
The requests made first exercise OCSP (pre-signed GET and signed POST with a nonce), /crl and
/certs, sealing at B-LTA (TSA, in-process OCSP and CRLs) and the verification API, so the workers
have loaded what serving needs and signed with the service token.
"""
from __future__ import annotations

import base64
import json
import os
import time
import urllib.parse
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from cli.contexts import CA_CODE, REPORT_SIGNAL, report_path, write_report
from conftest import Cli, make_home
from ocsp_helpers import LiveServer, free_port, load, request_der
from sealing_helpers import sample_pdf, setup_sealing
from verify_helpers import api_seal, api_verify, http

OCSP_REQUEST = {"Content-Type": "application/ocsp-request"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("public")
    port = free_port()
    cli = Cli(make_home(tmp, base_url=f"http://127.0.0.1:{port}"))
    info = setup_sealing(cli, tmp)
    server = LiveServer(cli.home, port)
    try:
        info.update(home=cli.home, server=server, answers=_exercise(server.url, info))
        info["health"] = json.loads(http(server.url + "/healthz")[2])
        info["reports"] = _worker_reports(cli.home, server.proc.pid)
        yield info
    finally:
        server.stop()


def _exercise(url: str, info: dict) -> dict:
    """Every served context once per worker or more: OCSP, repository, sealing, verification."""
    files, token = info["files"], info["tokens"]["A"]
    good, issuing = load(files["good"]), load(files["issuing"])
    presigned = request_der(good, issuing)
    get_path = "/ocsp/" + urllib.parse.quote(base64.b64encode(presigned).decode(), safe="")
    answers: dict = {"ocsp": [], "sealed": [], "verified": []}
    for i in range(6):
        answers["ocsp"].append(http(url + get_path))
        answers["ocsp"].append(http(url + "/ocsp", request_der(good, issuing, nonce=os.urandom(16) + bytes([i])),
                                    OCSP_REQUEST))
    answers["crl"] = http(url + "/crl/issuing.crl")
    answers["certs"] = http(url + "/certs/issuing.crt")
    pdf = sample_pdf()
    for _ in range(3):
        sealed = api_seal(url, token, pdf)[0]
        answers["sealed"].append(sealed)
        answers["verified"].append(api_verify(url, sealed))
    return answers


def _children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(proc.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _worker_reports(home: Path, serve_pid: int) -> list[dict]:
    """SIGUSR2 to every gunicorn worker of both pools, then each one's report from run/contexts/."""
    arbiters = [p for p in _children(serve_pid) if "cli.gunicorn_app" in _cmdline(p)]
    workers = [w for a in arbiters for w in _children(a)]
    assert len(arbiters) == 2 and workers, (arbiters, workers)
    for pid in workers:
        report_path(home, pid).unlink(missing_ok=True)
        os.kill(pid, REPORT_SIGNAL)
    reports = []
    for pid in workers:
        path = report_path(home, pid)
        deadline = time.monotonic() + 30
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        reports.append(json.loads(path.read_text()))
    return reports


def test_requests_exercised_ocsp_repository_sealing_and_verification(served: dict) -> None:
    answers = served["answers"]
    for status, _head, body in answers["ocsp"]:
        assert status == 200 and ocsp.load_der_ocsp_response(body).certificate_status is ocsp.OCSPCertStatus.GOOD
    issuing = load(served["files"]["issuing"])
    assert answers["crl"][0] == 200 and x509.load_der_x509_crl(answers["crl"][2]).issuer == issuing.subject
    assert answers["certs"][0] == 200 and x509.load_der_x509_certificate(answers["certs"][2]) == issuing
    assert all(status == 200 and report["verdict"] == "valid" for status, _h, report in answers["verified"])


def test_acceptance_3_every_worker_of_both_pools_reports(served: dict) -> None:
    reports = served["reports"]
    assert {r["pool"] for r in reports} == {"main", "ocsp"}
    assert len({r["pid"] for r in reports}) == len(reports)


def test_acceptance_3_no_worker_loads_issuance_revocation_ca_service_or_lint(served: dict) -> None:
    for report in served["reports"]:
        assert report["ca_modules"] == [] and report["ca_code_loaded"] is False, report


def test_acceptance_3_no_worker_holds_a_session_on_the_ca_token(served: dict) -> None:
    reports = served["reports"]
    assert reports[0]["ca_token"] != reports[0]["service_token"]  # `govca init` made two tokens
    for report in reports:
        assert report["ca_token"] not in report["sessions"] and report["ca_token_open"] is False, report
    # The check is live: in each pool a worker signed (OCSP with a nonce; seals) with the service token.
    for pool in ("main", "ocsp"):
        assert any(r["service_token"] in r["sessions"] for r in reports if r["pool"] == pool), reports


def test_healthz_reports_the_answering_workers_contexts_as_booleans(served: dict) -> None:
    health = served["health"]
    assert health["status"] == "ok"
    assert health["contexts"] == {"ca_code_loaded": False, "ca_token_open": False}


def test_report_names_ca_code_once_loaded_and_is_private(served: dict) -> None:
    """The probe is not blind: in this test process, which ran CA commands, it finds them."""
    import ca.service  # noqa: F401 - what an administrator command loads

    path = write_report(served["home"], "test")
    report = json.loads(path.read_text())
    assert report["ca_code_loaded"] is True and "ca.service" in report["ca_modules"]
    assert set(report["ca_modules"]) <= set(CA_CODE)
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    path.unlink()


def _fresh_modules(code: str) -> list[str]:
    import subprocess
    import sys

    from conftest import REPO

    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sorted(sys.modules)))"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    return out.split()


def test_importing_ca_loads_nothing_and_a_name_loads_only_its_module() -> None:
    """ca/__init__.py imports nothing eagerly (PEP 562): `from ca import Database` loads ca.storage.db."""
    assert not [m for m in _fresh_modules("import ca") if m.startswith("ca.")]
    loaded = _fresh_modules("from ca import Database, utcnow")
    assert "ca.storage.db" in loaded and not set(CA_CODE) & set(loaded)


def test_the_serve_application_imports_no_ca_code() -> None:
    """What the gunicorn arbiter imports before forking (cli/gunicorn_app.run) and each worker's app."""
    loaded = _fresh_modules("import cli.gunicorn_app, cli.web")
    assert "cli.web" in loaded and not set(CA_CODE) & set(loaded)


def test_the_serve_modules_name_the_ca_module_they_import_so_the_contract_sees_it() -> None:
    """`from ca import X` resolves X lazily (PEP 562), which import-linter cannot follow: a serve
    module writing `from ca import CaService` would load the CA code without breaking the
    serve-no-ca-code contract. So the modules that contract names import `ca.<module>` explicitly."""
    import ast
    import configparser

    from conftest import REPO

    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    sources = cfg["importlinter:contract:serve-no-ca-code"]["source_modules"].split()
    files: list[Path] = []
    for module in sources:
        path = REPO / module.replace(".", "/")
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    assert len(files) > len(sources)  # the packages (ocsp, signer) were walked, not only named
    offenders = []
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "ca" and node.level == 0:
                offenders.append(f"{file.relative_to(REPO)}:{node.lineno}")
            if isinstance(node, ast.Import) and any(alias.name == "ca" for alias in node.names):
                offenders.append(f"{file.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
