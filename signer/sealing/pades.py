"""PAdES signing (EN 319 142-1 baseline B-B, B-T, B-LT, B-LTA) with keys held in the HSM.

pyHanko prepares the PDF and the CMS; the one raw signature comes from the token through
:class:`HsmPdfSigner.async_sign_raw`. Timestamps and revocation data come from in-process
sources injected by the composition root, never from this service over HTTP (a worker waiting
on its own busy server would deadlock).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from asn1crypto import tsp
from asn1crypto import x509 as ax509
from asn1crypto.algos import SignedDigestAlgorithm
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from hsm import default_mechanism

from ..errors import BadInputError, ConflictError, UnavailableError
from ..levels import Level  # noqa: F401 - PAdES baseline levels (EN 319 142-1 6.2-6.5), imported from here too
from ..page_box import STAMP_MARGIN, STAMP_SIZE, check_stamp_box, visible_area
from . import pdfa  # noqa: F401 - keeps Info and XMP equivalent in the revisions pyHanko writes
from .attachments import DataPart, embed_data_parts

# pyHanko warns that revocation data is embedded with fetching disabled: that is the design
# here (in-process sources, docs/architecture.md), so the warning is silenced.
logging.getLogger("pyhanko.sign.signers.pdf_signer").setLevel(logging.ERROR)


SUBFILTERS = {"ETSI.CAdES.detached": SigSeedSubFilter.PADES, "adbe.pkcs7.detached": SigSeedSubFilter.ADOBE_PKCS7_DETACHED}


@dataclass(frozen=True)
class SignOptions:
    level: Level = Level.B_LTA
    certify: bool = True
    stamp: bool = True
    page: int = 0  # 0-based; -1 is the last page
    box: tuple[int, int, int, int] | None = None  # x1, y1, x2, y2 in points
    reason: str | None = None
    location: str | None = None
    field_name: str = "GovcaSeal"
    subfilter: str = "ETSI.CAdES.detached"
    pdfa: str = "refuse"  # a PDF/A input the stamp would break: refuse (422) or "without-stamp" (docs/pdfa.md)


@dataclass(frozen=True)
class SigningMaterial:
    """A certificate, its chain (issuing CA, root) and the HSM key (only ``sign`` is used)."""

    cert_der: bytes
    chain_der: tuple[bytes, ...]
    key: Any


class HsmPdfSigner(signers.Signer):
    """A pyHanko Signer whose raw signature is made in the HSM: no key material leaves the token."""

    def __init__(self, material: SigningMaterial) -> None:
        self.key = material.key
        self.mechanism = default_mechanism(material.key.key_type)  # hsm's one rule for the key's hash
        self.md_algorithm, algo = self.mechanism.hash_name, self.mechanism.cms_algorithm
        chain = [ax509.Certificate.load(c) for c in material.chain_der]
        super().__init__(signing_cert=ax509.Certificate.load(material.cert_der),
                         cert_registry=SimpleCertificateStore.from_certs(chain),
                         signature_mechanism=SignedDigestAlgorithm({"algorithm": algo}), embed_roots=True)

    @property
    def signature_size(self) -> int:
        """The largest signature value the key makes: RSA's modulus, or an ECDSA-Sig-Value of P-521."""
        return self.key.public_key.key_size // 8 if self.key.key_type.is_rsa else 2 * 66 + 8

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if digest_algorithm != self.md_algorithm:
            raise ValueError(f"digest {digest_algorithm} does not match the key's {self.md_algorithm}")
        if dry_run:
            # Placeholder of the largest size the signature can have (pyHanko sizes the field with it).
            return bytes(self.signature_size)
        # The token call blocks and is serialised per process; run it off the event loop.
        return await asyncio.get_running_loop().run_in_executor(None, self.key.sign, data, self.mechanism)


class InProcessTimeStamper(timestamps.TimeStamper):
    """RFC 3161 tokens from govca's own TSA, called in-process.

    pyHanko keeps one sizing token per digest algorithm and the certificates it has seen (their
    status is embedded at B-LT/B-LTA). ``current_tsa`` (the TSA certificate in use) lets a
    renewed TSA replace both: a bigger new certificate never meets a reservation sized by the
    old one, and the old certificate's status is no longer asked for."""

    def __init__(self, respond: Callable[[bytes], bytes],
                 current_tsa: Callable[[], bytes | None] | None = None) -> None:
        super().__init__(include_nonce=True)
        self._respond = respond
        self._current_tsa = current_tsa or (lambda: None)
        self._tsa_seen: bytes | None = None

    def _follow_tsa(self) -> None:
        current = self._current_tsa()
        if current != self._tsa_seen:  # new dicts, not cleared ones: another thread may be iterating the old
            self._dummy_response_cache, self._certs, self._tsa_seen = {}, {}, current

    async def async_dummy_response(self, md_algorithm: str) -> Any:
        self._follow_tsa()
        return await super().async_dummy_response(md_algorithm)

    async def validation_paths(self, validation_context: ValidationContext):  # type: ignore[no-untyped-def]
        self._follow_tsa()
        async for path in super().validation_paths(validation_context):
            yield path

    def token_size(self, md_algorithm: str) -> int:
        """The DER size of a token of the current TSA (its sizing token: one per process and
        digest algorithm, a new one after a renewal)."""
        return len(asyncio.run(self.async_dummy_response(md_algorithm)).dump())

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        from ..tsa.authority import TimeStampResp

        # asn1crypto's TimeStampResp insists on a token; govca's own type also reads rejections.
        resp = TimeStampResp.load(self._respond(req.dump()))
        if resp["status"]["status"].native not in ("granted", "granted_with_mods"):
            # A fault of the service (503), not of the document: not pyHanko's SigningError, a
            # ValueError that the signing's input-error mapping would turn into a 400.
            raise UnavailableError(f"the TSA refused the time-stamp: {resp['status'].native}")
        return tsp.TimeStampResp.load(resp.dump())


def sign_pdf(pdf: bytes, material: SigningMaterial, options: SignOptions, *, timestamper: timestamps.TimeStamper | None,
             context: ValidationContext | None, stamp_style: Any = None, stamp_params: dict | None = None,
             signer_name: str | None = None, reader: PdfFileReader | None = None,
             data_parts: Sequence[DataPart] = (), now: dt.datetime | None = None) -> bytes:
    """Sign ``pdf`` at ``options.level``. ``context`` must hold revocation data for B-LT/B-LTA.
    ``reader``: the input checks' parse of these same bytes, reused instead of parsing again.
    ``data_parts`` (checked with :func:`~.attachments.check_data_parts`) are embedded as
    associated files in the signature's own revision, so the signature covers them (docs/pdfa.md)."""
    writer = (IncrementalPdfFileWriter.from_reader(reader) if reader is not None
              else IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False))
    if data_parts:
        embed_data_parts(writer, data_parts, (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0))
    field_name = free_field_name(writer, options.field_name)
    signer = HsmPdfSigner(material)
    subfilter = SUBFILTERS[options.subfilter]
    pades_lta = options.level is Level.B_LTA and subfilter is SigSeedSubFilter.PADES
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, md_algorithm=signer.md_algorithm, reason=options.reason,
        location=options.location, name=signer_name, certify=options.certify,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS, subfilter=subfilter,
        embed_validation_info=options.level.long_term, use_pades_lta=pades_lta,
        validation_context=context if options.level.long_term else None,
    )
    field_spec = None
    if options.stamp and stamp_style is not None:
        count = _page_count(writer)
        page = options.page if options.page >= 0 else count + options.page
        if not 0 <= page < count:
            raise BadInputError(f"invalid options: page {options.page} does not exist; the document has {count} "
                                "pages")
        if options.box is not None:  # checked before anything is signed (check_pdf does it first)
            check_stamp_box(options.box, writer.find_page_for_modification(page)[0].get_object(), page + 1)
        box = options.box or default_stamp_box(writer, page)
        field_spec = SigFieldSpec(sig_field_name=field_name, on_page=page, box=box)
    pdf_signer = signers.PdfSigner(meta, signer=signer, timestamper=timestamper if options.level.timestamped else None,
                                   stamp_style=stamp_style if options.stamp else None, new_field_spec=field_spec)
    out = io.BytesIO()
    # Reserving the signature size up front skips pyHanko's dry-run signature (docs/field-notes.md).
    tst = 0
    if options.level.timestamped and timestamper is not None:
        tst = (timestamper.token_size(signer.md_algorithm) if isinstance(timestamper, InProcessTimeStamper)
               else TST_FALLBACK)
    revinfo = None
    if options.level.long_term and subfilter is SigSeedSubFilter.ADOBE_PKCS7_DETACHED and context is not None:
        revinfo = [o.dump() for o in context.ocsps] + [c.dump() for c in context.crls]
    reserved = contents_size(material, signer.signature_size, tst, revinfo)
    pdf_signer.sign_pdf(writer, bytes_reserved=reserved, output=out, appearance_text_params=stamp_params)
    if options.level is Level.B_LTA and not pades_lta:
        # adbe.pkcs7.detached has no PAdES archival chain in pyHanko: add the document
        # timestamp (ETSI.RFC3161) and its validation data ourselves.
        assert timestamper is not None and context is not None
        ts_writer = IncrementalPdfFileWriter(io.BytesIO(out.getvalue()), strict=False)
        stamped = io.BytesIO()
        # The document time-stamp's /Contents holds one token of the TSA in use now (hex, 12.8.1).
        size = timestamper.token_size(signer.md_algorithm) if isinstance(timestamper, InProcessTimeStamper) else None
        signers.PdfTimeStamper(timestamper).timestamp_pdf(ts_writer, signer.md_algorithm, context, output=stamped,
                                                          bytes_reserved=None if size is None else 2 * (size + MARGIN))
        return stamped.getvalue()
    return out.getvalue()


# The CMS a signature field holds (RFC 5652 5.1 SignedData), sized from what goes into it. The
# /Contents entry is a hexadecimal string (ISO 32000-1 12.8.1), two characters per byte: pyHanko's
# ``bytes_reserved`` counts characters. Measured on EC P-384 and RSA-4096 chains, both subfilters
# (tests/test_ltv_size.py): the structure and signed attributes take 420-500 bytes, the issuer's
# name included (it is named twice: SignerIdentifier, signingCertificateV2 RFC 5035); wrapping the
# time-stamp token as an unsigned attribute and the revocation data as Adobe's
# adbe-revocationInfoArchival attribute takes under 40 bytes each. A token differs from the
# sizing token by a few bytes (nonce, serial, genTime fraction, ECDSA signature length). The
# slack this leaves (reserved minus the CMS's DER) measured 700-850 bytes.
CMS_STRUCTURE = 768
ATTRIBUTE_WRAP = 64
MARGIN = 256  # the documented margin over the bound, in bytes
TST_FALLBACK = 8192  # a token from a time-stamper other than govca's own (not sized in advance)


def contents_size(material: SigningMaterial, signature_size: int, tst_size: int,
                  revinfo: list[bytes] | None) -> int:
    """The /Contents size to reserve (hex characters) for a CMS holding the signer's certificate
    and chain, a signature of ``signature_size``, a time-stamp token of ``tst_size`` (0: none) and,
    with adbe.pkcs7.detached, the revocation data ``revinfo`` (DER of each OCSP response and CRL)
    inside it: twice the bound in bytes, so never too small and never twice what is embedded."""
    from cryptography import x509

    issuer = len(x509.load_der_x509_certificate(material.cert_der).issuer.public_bytes())
    size = CMS_STRUCTURE + 2 * issuer + signature_size + len(material.cert_der) + sum(map(len, material.chain_der))
    if tst_size:
        size += tst_size + ATTRIBUTE_WRAP
    if revinfo is not None:
        size += sum(map(len, revinfo)) + ATTRIBUTE_WRAP
    return 2 * (size + MARGIN)


def free_field_name(writer: IncrementalPdfFileWriter, wanted: str) -> str:
    """The field to sign into. A signature field holds one signature (ISO 32000-1 12.7.4.5): an
    approval seal on an already-sealed document goes into a new field, ``GovcaSeal-2`` and so
    on; a name the client chose that is already signed is a conflict."""
    filled = {name for name, _, _ in fields.enumerate_sig_fields(writer, filled_status=True)}
    taken = filled | {name for name, _, _ in fields.enumerate_sig_fields(writer, filled_status=False)}
    if wanted not in filled:
        return wanted
    if wanted != SignOptions.field_name:
        raise ConflictError(f"the signature field {wanted!r} is already signed; a field holds one signature "
                            "(ISO 32000-1 12.7.4.5): choose another field_name")
    return next(f"{wanted}-{n}" for n in range(2, len(taken) + 3) if f"{wanted}-{n}" not in taken)


def default_stamp_box(writer: IncrementalPdfFileWriter, page: int) -> tuple[int, int, int, int]:
    """The lower-right corner of the page's visible area (:func:`visible_area`), inside a
    half-inch margin."""
    node = writer.find_page_for_modification(page)[0].get_object()
    x1, y1, x2, y2 = visible_area(node) or (0, 0, 595, 842)
    right, bottom = int(x2) - STAMP_MARGIN, int(y1) + STAMP_MARGIN
    return (right - STAMP_SIZE[0], bottom, right, bottom + STAMP_SIZE[1])


def _page_count(writer: IncrementalPdfFileWriter) -> int:
    return int(writer.root["/Pages"]["/Count"])
