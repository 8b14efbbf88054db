"""Issue 10 (integrator part): a TOTP code sent again (RFC 6238 5.2), the stamp box, the seal's
wording on the stamp."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path

import pyotp
import pytest

from cli.web import create_app
from conftest import Cli
from sealing_helpers import setup_sealing
from test_csc import enrol

REUSED = "The OTP was already used; wait for the next code"


@pytest.fixture
def env(cli: Cli, tmp_path: Path) -> dict:
    info = setup_sealing(cli, tmp_path)
    oid, seed, pin = enrol(cli, tmp_path)
    return {**info, "cli": cli, "client": create_app(cli.home).test_client(), "cred": f"official-{oid}",
            "seed": seed, "pin": pin, "id": oid}


def _code(env: dict, step: int) -> str:
    return pyotp.TOTP(env["seed"]).at(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30 * step))


def _v1(env: dict, pin: str, otp: str, what: bytes = b"x"):  # type: ignore[no-untyped-def]
    body = {"credentialID": env["cred"], "numSignatures": 1,
            "hash": [base64.b64encode(hashlib.sha256(what).digest()).decode()], "PIN": pin, "OTP": otp}
    return env["client"].post("/csc/v1/credentials/authorize", json=body,
                              headers={"Authorization": f"Bearer {env['tokens']['A']}"})


def _v2(env: dict, pin: str, otp: str):  # type: ignore[no-untyped-def]
    body = {"credentialID": env["cred"], "numSignatures": 1, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
            "hashes": [base64.b64encode(hashlib.sha256(b"v2").digest()).decode()],
            "authData": [{"id": "PIN", "value": pin}, {"id": "OTP", "value": otp}]}
    return env["client"].post("/csc/v2/credentials/authorize", json=body,
                              headers={"Authorization": f"Bearer {env['tokens']['A']}"})


def _authorize_events(env: dict) -> list[dict]:
    return json.loads(env["cli"]("audit", "list", "--action", "csc.authorize", "--json").stdout)


def test_rfc6238_5_2_a_used_code_with_the_right_pin_is_told_apart_and_not_counted_v1(env: dict) -> None:
    code = _code(env, 0)
    assert _v1(env, env["pin"], code).status_code == 200
    for _ in range(6):  # more than lock_after (5): none of them counts
        again = _v1(env, env["pin"], code)
        assert again.status_code == 400
        assert again.json == {"error": "invalid_request", "error_description": REUSED}
    assert _v1(env, env["pin"], _code(env, 1), b"next").status_code == 200  # not locked
    refused = [e for e in _authorize_events(env) if e["outcome"] == "refused"]
    assert [e["details"]["error"] for e in refused] == ["otp_reused"] * 6
    assert all("failed_attempts" not in e["details"] for e in refused)


def test_rfc6238_5_2_a_used_code_with_a_wrong_pin_is_a_wrong_factor_and_counted(env: dict) -> None:
    code = _code(env, 0)
    assert _v1(env, env["pin"], code).status_code == 200
    wrong = _v1(env, "999999", code)
    assert wrong.status_code == 400
    assert wrong.json == {"error": "invalid_request", "error_description": "The PIN or OTP is invalid"}
    refused = [e for e in _authorize_events(env) if e["outcome"] == "refused"]
    assert [(e["details"]["error"], e["details"]["failed_attempts"]) for e in refused] == [("invalid_pin", 1)]


def test_rfc6238_5_2_wrong_pins_with_a_used_code_still_lock_the_credential(env: dict) -> None:
    code = _code(env, 0)
    assert _v1(env, env["pin"], code).status_code == 200
    for _ in range(5):
        assert _v1(env, "999999", code).json["error_description"] == "The PIN or OTP is invalid"
    locked = _v1(env, env["pin"], _code(env, 1), b"next")
    assert locked.status_code == 400 and locked.json["error_description"] == "PIN locked"


def test_rfc6238_5_2_a_used_code_with_the_right_pin_v2(env: dict) -> None:
    code = _code(env, 0)
    assert _v2(env, env["pin"], code).status_code == 200
    again = _v2(env, env["pin"], code)
    assert again.status_code == 400
    assert again.json["error"] == "invalid_authentication_data" and again.json["error_description"] == REUSED
    wrong_pin = _v2(env, "999999", code)
    assert wrong_pin.json["error"] == "invalid_authentication_data"
    assert wrong_pin.json["error_description"] != REUSED


# --- the stamp box ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sealing(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from conftest import make_home

    tmp = tmp_path_factory.mktemp("integrator")
    cli = Cli(make_home(tmp))
    info = setup_sealing(cli, tmp)
    return {**info, "cli": cli, "client": create_app(cli.home).test_client()}


def _seal(sealing: dict, options: dict, pdf: bytes | None = None):  # type: ignore[no-untyped-def]
    import io

    from sealing_helpers import bearer, sample_pdf

    data = {"file": (io.BytesIO(sample_pdf() if pdf is None else pdf), "doc.pdf", "application/pdf"),
            "options": json.dumps({"level": "B-B", **options})}
    return sealing["client"].post("/api/v1/sign", data=data, headers=bearer(sealing["tokens"]["A"]),
                                  content_type="multipart/form-data")


def _with_crop_box(pdf: bytes, crop: list[int]) -> bytes:
    import io

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page, _ = writer.find_page_for_modification(0)
    writer.get_object(page.reference)["/CropBox"] = generic.ArrayObject([generic.NumberObject(v) for v in crop])
    writer.mark_update(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def nothing_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The box is refused before anything is signed: signing at all fails the test."""
    import signer.sealing.service

    def fail(*_a: object, **_k: object) -> bytes:
        raise AssertionError("signed although the box is refused")

    monkeypatch.setattr(signer.sealing.service, "sign_pdf", fail)


def test_a_stamp_box_too_small_to_read_is_refused_before_signing(sealing: dict, nothing_signed: None) -> None:
    for box in ([10, 10, 20, 20], [100, 100, 249, 200], [100, 100, 400, 159]):
        r = _seal(sealing, {"box": box})
        assert r.status_code == 400, box
        detail = r.json["detail"]
        assert detail.startswith("invalid options: box") and "too small for a readable stamp" in detail
        assert "at least 150 pt wide and 60 pt high" in detail


def test_a_stamp_box_off_the_page_or_partly_off_is_refused_before_signing(sealing: dict,
                                                                          nothing_signed: None) -> None:
    for box in ([1000, 1000, 1300, 1120], [500, 100, 800, 220], [100, 800, 400, 920]):
        r = _seal(sealing, {"box": box})
        assert r.status_code == 400, box
        detail = r.json["detail"]
        assert f"invalid options: box {box} is not within page 1's visible area [0, 0, " in detail
        assert "lower-left corner" in detail


def test_iso_32000_1_14_11_2_a_box_outside_the_crop_box_is_refused(sealing: dict, nothing_signed: None) -> None:
    from sealing_helpers import sample_pdf

    cropped = _with_crop_box(sample_pdf(), [0, 0, 400, 400])
    r = _seal(sealing, {"box": [36, 500, 336, 620]}, cropped)  # on the MediaBox, off the CropBox
    assert r.status_code == 400 and "visible area [0, 0, 400, 400]" in r.json["detail"]


def test_the_smallest_box_on_the_page_and_the_default_box_in_the_crop_box_are_stamped(sealing: dict) -> None:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from sealing_helpers import sample_pdf

    r = _seal(sealing, {"box": [36, 36, 186, 96]})
    assert r.status_code == 200, r.data[:300]
    cropped = _with_crop_box(sample_pdf(), [0, 0, 400, 400])
    r = _seal(sealing, {}, cropped)
    assert r.status_code == 200, r.data[:300]
    sig = PdfFileReader(io.BytesIO(r.data)).embedded_signatures[0]
    x1, y1, x2, y2 = (float(v) for v in sig.sig_field["/Rect"])
    assert (x1, y1, x2, y2) == (64, 36, 364, 156)  # the lower-right corner of the CropBox


def test_sign_pdf_checks_the_box_itself() -> None:
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    from sealing_helpers import sample_pdf
    from signer.errors import BadInputError
    from signer.page_box import MIN_STAMP_SIZE, check_stamp_box, visible_area

    assert MIN_STAMP_SIZE == (150, 60)
    page = IncrementalPdfFileWriter(io.BytesIO(sample_pdf())).find_page_for_modification(0)[0].get_object()
    area = visible_area(page)
    assert area is not None and area[:2] == (0, 0) and area[2] > 590 and area[3] > 840
    check_stamp_box((0, 0, 150, 60), page, 1)
    with pytest.raises(BadInputError, match="too small"):
        check_stamp_box((0, 0, 150, 59), page, 1)
    with pytest.raises(BadInputError, match="not within page 1"):
        check_stamp_box((-1, 0, 300, 120), page, 1)


# --- the seal's wording ---------------------------------------------------------------------------
def test_an_agency_seal_stamp_reads_sealed_by(sealing: dict, tmp_path: Path) -> None:
    from conftest import run, tool

    r = _seal(sealing, {})
    assert r.status_code == 200, r.data[:300]
    (tmp_path / "sealed.pdf").write_bytes(r.data)
    text = run([tool("pdftotext"), "-f", "1", "-l", "1", "-enc", "UTF-8", str(tmp_path / "sealed.pdf"), "-"])
    assert text.returncode == 0, text.stderr
    assert "ประทับตราโดย / Sealed by:" in text.stdout and "Signed by" not in text.stdout


def test_an_officials_stamp_reads_signed_by() -> None:
    from signer.sealing.service import default_stamp

    fields = {"agency_th": "กรมทดสอบ", "agency_en": "Test Department", "signer": "Wichai Rakthai",
              "signed_at": dt.datetime(2026, 11, 26, 6, 21, tzinfo=dt.timezone.utc), "document_id": "DOC-1",
              "verify_url": "http://127.0.0.1/verify/DOC-1"}
    style, params = default_stamp({**fields, "kind": "official"})
    assert "ลงนามโดย / Signed by:" in style.stamp_text % params
    style, params = default_stamp({**fields, "kind": "seal"})
    assert "ประทับตราโดย / Sealed by:" in style.stamp_text % params
