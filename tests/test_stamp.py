"""The visible stamp of a sealed document (docs/profile.md, "Signed documents"), checked with tools
nobody here wrote: poppler (pdftoppm, pdftotext, pdffonts), zbar and fontTools.

The stamped page is rendered at 150 dpi and the stamp's box compared with a reference
rendering in tests/golden/. After a deliberate change to the stamp, look at the new rendering
and regenerate the reference with:

    GOVCA_REGEN_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_stamp.py

Every run leaves its renderings (page, stamp crop, difference) under test-output/stamp/.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fontTools import ttLib
from PIL import Image, ImageChops, ImageFilter
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.sign import signers
from pyhanko.sign.fields import SigFieldSpec
from pyhanko.stamp import QRStamp
from pyhanko_certvalidator.registry import SimpleCertificateStore

from conftest import OUTPUT, run, tool
from signer.sealing.sample_pdf import A4, STAMP_ORIGIN, STAMP_RECT, sample_elicense_pdf
from signer.sealing.stamp import (
    DEFAULT_FONT,
    STAMP_BOX,
    STAMP_TEXT,
    StampError,
    StampInfo,
    check_glyph_coverage,
    english_datetime,
    stamp_style,
    stamp_text_params,
    thai_datetime,
)

GOLDEN = Path(__file__).parent / "golden" / "stamp_elicense_150dpi.png"
ARTIFACTS = OUTPUT / "stamp"
REGEN = os.environ.get("GOVCA_REGEN_GOLDEN") == "1"
DPI = 150

AGENCY_TH = "กรมพัฒนาธุรกิจการค้า"
VERIFY_URL = "http://127.0.0.1:8080/verify/DOC-1234"
# 06:21 UTC is 13:21 in Bangkok.
SIGNED_AT = datetime(2026, 11, 26, 6, 21, tzinfo=timezone.utc)
INFO = StampInfo(
    agency_th=AGENCY_TH,
    agency_en="Department of Business Development",
    signer="ตราประทับอิเล็กทรอนิกส์ กรมพัฒนาธุรกิจการค้า",
    signed_at=SIGNED_AT,
    document_id="DOC-1234",
    verify_url=VERIFY_URL,
)

# The golden comparison, on 0-255 grey levels. Both images are blurred by one pixel; each
# 11x11 window of the difference is averaged, with the rendering shifted by up to 2 pixels
# either way to its best fit; the worst window must stay under MAX_LOCAL_DIFF. Measured on
# this stamp against its reference: the same page rasterised by pdftocairo instead of
# pdftoppm scores 20, and the stamp moved by a fraction of a point (poppler then snaps its
# strokes differently) up to 25; the font's mark positioning switched off (a tone mark left
# high, a thanthakhat beside its consonant) scores 45, the bold face 79, and a Latin-only font
# (tofu) 100.
BLUR_RADIUS = 1
WINDOW_RADIUS = 5
MAX_SHIFT = 2
MAX_LOCAL_DIFF = 32
# Blank page kept around the stamp's box, so that its border is compared as a line and not
# as the edge of the image.
CROP_PAD = 8


# -- dates ----------------------------------------------------------------------------------


def test_thai_datetime_uses_buddhist_era_thai_month_and_bangkok_time() -> None:
    assert thai_datetime(SIGNED_AT) == "26 พฤศจิกายน พ.ศ. 2569 เวลา 13:21 น."
    # 20:00 UTC on New Year's Eve is already 03:00 on 1 January in Bangkok: day, month and
    # both the Gregorian and the Buddhist-era year roll over.
    assert thai_datetime(datetime(2026, 12, 31, 20, 0, tzinfo=timezone.utc)) == (
        "1 มกราคม พ.ศ. 2570 เวลา 03:00 น."
    )
    tokyo = timezone(timedelta(hours=9))
    assert thai_datetime(datetime(2026, 4, 13, 9, 5, tzinfo=tokyo)) == (
        "13 เมษายน พ.ศ. 2569 เวลา 07:05 น."
    )


def test_english_datetime_uses_gregorian_year_and_bangkok_time() -> None:
    assert english_datetime(SIGNED_AT) == "26 November 2026, 13:21 (UTC+07:00)"
    assert english_datetime(datetime(2026, 12, 31, 20, 0, tzinfo=timezone.utc)) == (
        "1 January 2027, 03:00 (UTC+07:00)"
    )


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(StampError):
        thai_datetime(datetime(2026, 11, 26, 13, 21))
    with pytest.raises(StampError):
        english_datetime(datetime(2026, 11, 26, 13, 21))
    with pytest.raises(StampError):
        replace(INFO, signed_at=datetime(2026, 11, 26, 13, 21))


def test_stamp_info_refuses_extra_lines_and_non_http_urls() -> None:
    with pytest.raises(StampError):
        replace(INFO, signer="Seal\nForged line")
    with pytest.raises(StampError):
        replace(INFO, verify_url="javascript:alert(1)")
    with pytest.raises(StampError):
        replace(INFO, document_id=" ")


def test_stamp_text_params_carry_every_field_thai_first() -> None:
    params = stamp_text_params(INFO)
    assert params["url"] == VERIFY_URL
    text = STAMP_TEXT % params
    lines = text.split("\n")
    assert lines[0] == AGENCY_TH
    assert lines[1] == INFO.agency_en
    assert INFO.signer in lines
    assert lines.index(thai_datetime(SIGNED_AT)) < lines.index(english_datetime(SIGNED_AT))
    assert lines[-1].startswith("เลขที่เอกสาร / Document ID") and lines[-1].endswith("DOC-1234")


def test_a_seal_reads_sealed_by_and_an_officials_signature_signed_by() -> None:
    seal_lines = (STAMP_TEXT % stamp_text_params(INFO)).split("\n")
    assert INFO.kind == "seal" and seal_lines[2] == "ประทับตราโดย / Sealed by:"
    official_lines = (STAMP_TEXT % stamp_text_params(replace(INFO, kind="official"))).split("\n")
    assert official_lines[2] == "ลงนามโดย / Signed by:"
    assert seal_lines[3] == official_lines[3] == INFO.signer
    with pytest.raises(StampError, match="kind"):
        replace(INFO, kind="agency")


# -- glyph coverage ---------------------------------------------------------------------------


def test_every_stamp_character_has_a_glyph_in_the_font() -> None:
    text = "".join(stamp_style().stamp_text % stamp_text_params(replace(INFO, kind=kind))
                   for kind in ("seal", "official"))
    with ttLib.TTFont(DEFAULT_FONT, lazy=True) as font:
        cmap = font.getBestCmap()
    missing = sorted({c for c in text if c != "\n" and ord(c) not in cmap})
    assert not missing, f"no glyph in {DEFAULT_FONT} for {missing}"
    check_glyph_coverage(text)  # the same check, as the sealing code runs it


def test_glyph_coverage_check_names_missing_characters() -> None:
    with pytest.raises(StampError, match=re.escape("U+6F22")):
        check_glyph_coverage("กรม 漢")


def test_style_refuses_a_font_without_thai() -> None:
    with pytest.raises(StampError, match=re.escape("U+0E01")):
        stamp_style(_latin_only_font())


# -- the stamped e-License ------------------------------------------------------------------


@dataclass(frozen=True)
class Stamped:
    pdf: Path
    page_png: Path
    stamp: Image.Image  # the stamp's box (and CROP_PAD pixels around it) cut from the page, grey


def _latin_only_font() -> str:
    for candidate in (
        "/usr/share/fonts/opentype/urw-base35/NimbusSans-Regular.otf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    ):
        if Path(candidate).exists():
            return candidate
    pytest.fail("no Latin-only font to test with (Debian fonts-urw-base35 or fonts-dejavu-core)")


def _sample_pdf() -> bytes:
    return sample_elicense_pdf(
        agency_th=AGENCY_TH,
        agency_en=INFO.agency_en,
        licensee_th="บริษัท ตัวอย่างการค้า จำกัด",
        licence_no="DBD-2569-000123",
        issued_on=date(2026, 11, 26),
    )


def stamp_sample(style, out_dir: Path, name: str) -> Stamped:  # type: ignore[no-untyped-def]
    """Stamps the sample e-License in its free corner and renders it (see :func:`render`)."""
    writer = IncrementalPdfFileWriter(BytesIO(_sample_pdf()))
    params = stamp_text_params(INFO)
    # The QR stamp API with a fixed box, as a visible signature field gives one; pyHanko's
    # qr_stamp_file would size the stamp to its content instead.
    stamp = QRStamp(
        writer, url=params["url"], style=style, text_params=params, box=BoxConstraints(*STAMP_BOX)
    )
    stamp.apply(0, *STAMP_ORIGIN)
    out = BytesIO()
    writer.write(out)
    return render(out.getvalue(), out_dir, name)


def render(pdf: bytes, out_dir: Path, name: str) -> Stamped:
    """Renders the first page at 150 dpi with pdftoppm and cuts out the stamp's box with a
    little blank page around it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pdf_path = out_dir / f"{name}.pdf"
    pdf_path.write_bytes(pdf)
    r = run([tool("pdftoppm"), "-r", str(DPI), "-png", "-singlefile", "-f", "1", "-l", "1",
             str(pdf_path), str(out_dir / name)])
    assert r.returncode == 0, r.stderr
    page_png = out_dir / f"{name}.png"
    page = Image.open(page_png).convert("L")
    scale = page.height / A4[1]
    x, y = STAMP_ORIGIN
    left, top = round(x * scale) - CROP_PAD, round((A4[1] - y - STAMP_BOX[1]) * scale) - CROP_PAD
    right = left + round(STAMP_BOX[0] * scale) + 2 * CROP_PAD
    bottom = top + round(STAMP_BOX[1] * scale) + 2 * CROP_PAD
    crop = page.crop((left, top, right, bottom))
    crop.save(out_dir / f"{name}-stamp.png")
    return Stamped(pdf=pdf_path, page_png=page_png, stamp=crop)


@dataclass(frozen=True)
class Difference:
    worst_local: int  # the worst 11x11 window's mean grey-level difference, at its best shift
    image: Image.Image  # that difference, per pixel

    @property
    def within_tolerance(self) -> bool:
        return self.worst_local <= MAX_LOCAL_DIFF


def compare(rendered: Image.Image, reference: Image.Image) -> Difference:
    """A tolerant image comparison. The blur and the small shifts absorb anti-aliasing and
    sub-pixel placement; the windows keep one mark in the wrong place from vanishing in an
    average over the whole stamp."""
    assert rendered.size == reference.size, (rendered.size, reference.size)
    blur = ImageFilter.GaussianBlur(BLUR_RADIUS)
    rendered, reference = rendered.filter(blur), reference.filter(blur)
    m = MAX_SHIFT
    width, height = reference.size
    inner = reference.crop((m, m, width - m, height - m))
    best: Image.Image | None = None
    for dx in range(-m, m + 1):
        for dy in range(-m, m + 1):
            moved = rendered.crop((m + dx, m + dy, width - m + dx, height - m + dy))
            local = ImageChops.difference(moved, inner).filter(ImageFilter.BoxBlur(WINDOW_RADIUS))
            best = local if best is None else ImageChops.darker(best, local)
    assert best is not None
    return Difference(worst_local=best.getextrema()[1], image=best)


@pytest.fixture(scope="module")
def stamped() -> Stamped:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    return stamp_sample(stamp_style(), ARTIFACTS, "elicense-stamped")


@pytest.fixture(scope="module")
def reference(stamped: Stamped) -> Image.Image:
    if REGEN:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        stamped.stamp.save(GOLDEN, optimize=True)
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing; look at {ARTIFACTS} and write it with "
                    "GOVCA_REGEN_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_stamp.py")
    return Image.open(GOLDEN).convert("L")


def test_stamp_qr_code_decodes_to_the_verification_url(stamped: Stamped) -> None:
    r = run([tool("zbarimg"), "--raw", "-q", str(stamped.page_png)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == VERIFY_URL


def test_stamp_rendering_matches_golden(stamped: Stamped, reference: Image.Image) -> None:
    if REGEN:
        pytest.skip(f"wrote {GOLDEN}; look at it before committing")
    diff = compare(stamped.stamp, reference)
    # Stretch the difference so a person can see where it is.
    diff.image.point(lambda v: min(255, v * 4)).save(ARTIFACTS / "elicense-stamp-diff.png")
    assert diff.within_tolerance, (
        f"stamp differs from {GOLDEN.name}: worst local difference {diff.worst_local} "
        f"(max {MAX_LOCAL_DIFF}); see {ARTIFACTS}"
    )


def test_stamped_page_text_has_agency_buddhist_year_and_document_id(stamped: Stamped) -> None:
    # Only the stamp's box: the e-License itself also names the agency and the year.
    x, y = STAMP_ORIGIN
    r = run([tool("pdftotext"), "-f", "1", "-l", "1", "-r", "72",
             "-x", str(int(x)), "-y", str(int(A4[1] - y - STAMP_BOX[1])),
             "-W", str(STAMP_BOX[0]), "-H", str(STAMP_BOX[1]),
             "-enc", "UTF-8", str(stamped.pdf), "-"])
    assert r.returncode == 0, r.stderr
    assert AGENCY_TH in r.stdout
    assert "พ.ศ. 2569" in r.stdout
    assert "DOC-1234" in r.stdout


def test_golden_comparison_rejects_a_latin_only_font(reference: Image.Image) -> None:
    """The golden check would catch tofu: the same stamp set in a font without Thai."""
    style = _with_font(stamp_style(), _latin_only_font())
    diff = compare(stamp_sample(style, ARTIFACTS, "counterexample-latin-font").stamp, reference)
    assert not diff.within_tolerance, diff.worst_local


def test_golden_comparison_rejects_unshaped_thai(reference: Image.Image) -> None:
    """The golden check would catch Thai set without the font's mark positioning: tone marks
    and upper vowels left at their default places, as a renderer without HarfBuzz puts them."""
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory

    class NoMarkPositioning(GlyphAccumulatorFactory):
        def create_font_engine(self, writer, obj_stream=None) -> GlyphAccumulator:
            engine = super().create_font_engine(writer, obj_stream)
            engine.features = {"ccmp": False, "mark": False, "mkmk": False}
            return engine

    base = stamp_style()
    style = _with_font(base, NoMarkPositioning(DEFAULT_FONT, font_size=base.text_box_style.font_size))
    diff = compare(stamp_sample(style, ARTIFACTS, "counterexample-unshaped").stamp, reference)
    assert not diff.within_tolerance, diff.worst_local


def _with_font(style, font):  # type: ignore[no-untyped-def]
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory

    if isinstance(font, str):
        font = GlyphAccumulatorFactory(font, font_size=style.text_box_style.font_size)
    return replace(style, text_box_style=replace(style.text_box_style, font=font))


def _self_signed_seal() -> signers.SimpleSigner:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "DBD e-Seal (test)")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2026, 1, 1, tzinfo=timezone.utc))
        .not_valid_after(datetime(2036, 1, 1, tzinfo=timezone.utc))
        .sign(key, hashes.SHA256())
    )
    der_key = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(der_key),
        cert_registry=SimpleCertificateStore(),
    )


def test_signature_field_appearance_is_the_same_stamp(reference: Image.Image) -> None:
    """The production path: the style and parameters as a visible signature field's appearance
    (PdfSigner with stamp_style and appearance_text_params) look like the golden stamp and
    carry the QR code."""
    pdf_signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="GovcaSeal"),
        signer=_self_signed_seal(),
        stamp_style=stamp_style(),
        new_field_spec=SigFieldSpec("GovcaSeal", on_page=0, box=STAMP_RECT),
    )
    out = BytesIO()
    pdf_signer.sign_pdf(IncrementalPdfFileWriter(BytesIO(_sample_pdf())), output=out,
                        appearance_text_params=stamp_text_params(INFO))
    signed = render(out.getvalue(), ARTIFACTS, "elicense-signed")
    r = run([tool("zbarimg"), "--raw", "-q", str(signed.page_png)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == VERIFY_URL
    # Compared inside the border: stamped through QRStamp.apply, the reference also has the
    # black border poppler draws around the link annotation pyHanko adds over the stamp.
    band = CROP_PAD + 6
    inside = (band, band, reference.width - band, reference.height - band)
    diff = compare(signed.stamp.crop(inside), reference.crop(inside))
    assert diff.within_tolerance, diff.worst_local


# -- the sample e-License -------------------------------------------------------------------


def test_sample_elicense_embeds_the_thai_font_and_extracts_as_thai(tmp_path: Path) -> None:
    pdf = tmp_path / "elicense.pdf"
    pdf.write_bytes(sample_elicense_pdf(
        agency_th=AGENCY_TH, agency_en=INFO.agency_en, licensee_th="นางสาวสมหญิง ใจดี",
        licence_no="DBD-2569-000124", issued_on=date(2026, 11, 26),
    ))
    r = run([tool("pdfinfo"), str(pdf)])
    assert r.returncode == 0, r.stderr
    assert "Pages:           1" in r.stdout
    assert "595.28 x 841.89 pts (A4)" in r.stdout

    r = run([tool("pdffonts"), str(pdf)])
    assert r.returncode == 0, r.stderr
    fonts = [line.split() for line in r.stdout.splitlines()[2:]]
    assert fonts and all("Laksaman" in f[0] for f in fonts), r.stdout
    # columns: name, type (3 words), encoding, emb, sub, uni, object ID
    assert all(f[-5:-2] == ["yes", "yes", "yes"] for f in fonts), r.stdout

    r = run([tool("pdftotext"), "-enc", "UTF-8", str(pdf), "-"])
    assert r.returncode == 0, r.stderr
    for expected in ("ใบอนุญาตอิเล็กทรอนิกส์", "e-License", AGENCY_TH, "นางสาวสมหญิง ใจดี",
                     "DBD-2569-000124", "26 พฤศจิกายน พ.ศ. 2569", "26 November 2026"):
        assert expected in r.stdout
