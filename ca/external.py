"""Issuing CAs certified by a parent whose key is elsewhere: a national root (Thailand NRCA) or an
offline root of the agency's own hierarchy.

1. ``request`` generates the CA key in the CA token and returns a PKCS#10 request (RFC 2986)
   signed in the HSM, built to the issuing-CA profile; the CA waits in ``pending_cas``.
2. ``install`` takes the certificate the parent returned and its chain, checks them, and only
   then records the parent's CA certificates (as EXTERNAL CAs) and the new CA (ACTIVE), in one
   transaction. A refusal names the one reason and records nothing but its audit event.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hsm import KeyType, as_cryptography_key
from policies import CertificateProfile, NameSyntaxError, blocking, build_name, check_subject, format_name
from policies.lint import lint_certificate

from .audit import AuditEvent, append
from .builders import hash_for_key
from .context import CaContext
from .errors import CaError, CaExistsError, ExternalDataError, IssuanceRefusedError
from .records import CaRecord, CaState, PendingCaRecord, serial_to_hex
from .rollover import retire_predecessor
from .storage.repositories import CaRepository, PendingCaRepository

CA_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_FILE_BYTES = 1024 * 1024  # a certificate chain is a few kilobytes
MAX_CHAIN = 8  # certificates in a chain file: a national hierarchy is two or three deep


def check_ca_name(name: str) -> None:
    if not CA_NAME.match(name):
        raise CaError(f"CA name {name!r} must be lower-case letters, digits and '-' (it appears in URLs)")


def request_extensions(profile: CertificateProfile) -> list[tuple[x509.ExtensionType, bool]]:
    """What the request asks for (RFC 2986 extensionRequest): the profile's basicConstraints
    (RFC 5280 4.2.1.9) and keyUsage (4.2.1.3). The parent decides what it certifies; ``install``
    checks what came back."""
    bc = profile.basic_constraints
    ku = {n: n in profile.key_usage.values for n in (
        "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
        "key_agreement", "key_cert_sign", "crl_sign")}
    return [(x509.BasicConstraints(ca=bc.ca, path_length=bc.path_length), bc.critical),
            (x509.KeyUsage(**ku, encipher_only=False, decipher_only=False), profile.key_usage.critical)]


def key_type_of(public_key: object) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(public_key.curve.name, f"ec-{public_key.curve.name}")
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"rsa{public_key.key_size}"
    return type(public_key).__name__


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined]


def load_certificates(data: bytes, what: str) -> list[x509.Certificate]:
    """One or more certificates from PEM (a bundle) or one DER certificate; ExternalDataError naming ``what``."""
    if len(data) > MAX_FILE_BYTES:
        raise ExternalDataError(f"the {what} is {len(data)} bytes, above the {MAX_FILE_BYTES} accepted")
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ExternalDataError(f"the {what} is not PEM or DER certificates ({str(exc).splitlines()[0][:100]})") \
            from None
    # Reject what a strict DER reader refuses too (asn1crypto is what the path validator parses).
    for c in certs:
        try:
            ax509.Certificate.load(c.public_bytes(Encoding.DER)).native  # noqa: B018 - full parse
        except ValueError as exc:
            raise ExternalDataError(f"the {what} holds a certificate that does not parse ({exc})") from None
    if len(certs) > MAX_CHAIN:
        raise ExternalDataError(f"the {what} holds {len(certs)} certificates; at most {MAX_CHAIN} are accepted")
    return certs


def slug(cert: x509.Certificate) -> str:
    """A CA name for an external certificate: its CN in lower-case ASCII, else a hash of it."""
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    text = re.sub(r"[^a-z0-9]+", "-", str(cn[0].value).lower()).strip("-") if cn else ""
    if not text:
        text = "external-" + hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()[:12]
    return text[:63].rstrip("-")


@dataclass(frozen=True)
class Checked:
    certificate: x509.Certificate
    path: list[x509.Certificate]  # the CA's certificate first, the trust anchor last


class ExternalParent:
    def __init__(self, ctx: CaContext) -> None:
        self.ctx = ctx

    def _refuse(self, actor: str, action: str, name: str, exc: CaError) -> None:
        self.ctx.audit(AuditEvent(actor, action, name, "refused", {"error": str(exc)}))
        raise exc

    # --- 1. the request ------------------------------------------------------------------------
    def request(self, *, name: str, subject: tuple[tuple[str, str], ...], key_type: KeyType, actor: str,
                successor_of: str | None = None, profile_name: str = "issuing-ca") -> tuple[PendingCaRecord, bytes]:
        """Generate the key in the CA token and return (pending CA, PKCS#10 DER) signed in the HSM."""
        ctx = self.ctx
        action = "ca.request"
        shown = name
        profile = ctx.profiles.get(profile_name)
        try:
            check_ca_name(name)
            if key_type.value not in profile.key_types.values:
                raise IssuanceRefusedError(f"{key_type.value} key not allowed by profile {profile.name} "
                                           f"(allowed: {', '.join(profile.key_types.values)}; {profile.key_types.clause})")
            findings = check_subject(profile, subject)
            if findings:
                raise IssuanceRefusedError("; ".join(f.message for f in findings), findings)
            x509_name = build_name(subject)
            with ctx.db.reader() as s:
                if CaRepository(s).exists(name):
                    raise CaExistsError(f"a CA named {name!r} already exists")
        except NameSyntaxError as exc:
            self._refuse(actor, action, shown, CaError(str(exc)))
        except CaError as exc:
            self._refuse(actor, action, shown, exc)
        ctx.open_ca_token()
        key = ctx.keys.generate_key_pair(key_type, f"{profile.name}-{name}")
        builder = x509.CertificateSigningRequestBuilder().subject_name(x509_name)
        for ext, critical in request_extensions(profile):
            builder = builder.add_extension(ext, critical=critical)
        csr = builder.sign(as_cryptography_key(key), hash_for_key(key.public_key))
        if not csr.is_signature_valid or _spki(csr.public_key()) != _spki(key.public_key):
            raise CaError("the HSM produced a request whose signature does not verify")
        der = csr.public_bytes(Encoding.DER)
        with ctx.db.unit_of_work() as s:
            pending = PendingCaRepository(s).add(
                name=name, profile=profile.name, key_uri=str(key.uri), key_type=key_type.value,
                subject=format_name(x509_name), request_der=der, now=ctx.clock(), successor_of=successor_of)
            append(s, AuditEvent(actor, action, name, "success", {
                "subject": pending.subject, "key_uri": pending.key_uri, "successor_of": successor_of,
                "request_sha256": hashlib.sha256(der).hexdigest()}), ctx.clock())
        return pending, der

    # --- 2. the certificate ------------------------------------------------------------------
    def install(self, *, name: str, certificate: bytes, chain: bytes, anchors: list[bytes], actor: str,
                parent_name: str | None = None) -> CaRecord:
        """Check the parent's certificate for the pending CA ``name`` and its chain, then record them."""
        ctx = self.ctx
        action = "ca.import-certificate"
        try:
            with ctx.db.reader() as s:
                pending = PendingCaRepository(s).get(name)
                if pending is None:
                    if CaRepository(s).exists(name):
                        raise CaError(f"CA {name!r} is not pending: it has its certificate already")
                    raise CaError(f"no pending CA named {name!r} (`govca ca list` shows the pending ones)")
            if parent_name is not None:
                check_ca_name(parent_name)
            checked = self.check(pending, certificate, chain, anchors)
            parent_name = self._parent_name(checked, parent_name)
        except CaError as exc:
            self._refuse(actor, action, name, exc)
        ctx.open_ca_token()
        now = ctx.clock()
        cert = checked.certificate
        with ctx.db.unit_of_work() as s:
            repo = CaRepository(s)
            if PendingCaRepository(s).get(name, lock=True) is None:
                raise CaError(f"no pending CA named {name!r} (imported meanwhile?)")
            parent = None
            # The parent's CA certificates, the anchor first: each recorded once, as EXTERNAL.
            for ext_cert in reversed(checked.path[1:]):
                der = ext_cert.public_bytes(Encoding.DER)
                known = repo.by_certificate(der)
                if known is None:
                    direct = ext_cert is checked.path[1]
                    wanted = parent_name if (direct and parent_name) else slug(ext_cert)
                    known = repo.add(
                        name=self._free_name(repo, wanted, strict=direct and parent_name is not None),
                        parent=parent.name if parent and ext_cert.issuer == parent.certificate.subject else None,
                        profile="root-ca" if ext_cert.issuer == ext_cert.subject else "issuing-ca",
                        key_uri="", key_type=key_type_of(ext_cert.public_key()),
                        subject=format_name(ext_cert.subject), serial_hex=serial_to_hex(ext_cert.serial_number),
                        der=der, not_before=ext_cert.not_valid_before_utc, not_after=ext_cert.not_valid_after_utc,
                        now=now, state=CaState.EXTERNAL)
                parent = known
            assert parent is not None
            record = repo.add(name=name, parent=parent.name, profile=pending.profile, key_uri=pending.key_uri,
                              key_type=pending.key_type, subject=format_name(cert.subject),
                              serial_hex=serial_to_hex(cert.serial_number), der=cert.public_bytes(Encoding.DER),
                              not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc, now=now)
            PendingCaRepository(s).remove(name)
            retired = None
            if pending.successor_of:  # a rollover under an external parent: the successor takes over now
                retired = retire_predecessor(s, pending.successor_of, name, actor, now,
                                             {"parent": parent.name}).name
            append(s, AuditEvent(actor, action, name, "success", {
                "parent": parent.name, "serial": record.serial_hex, "subject": record.subject,
                "sha256": hashlib.sha256(record.certificate_der).hexdigest(), "retiring": retired}), now)
        return record

    def _parent_name(self, checked: Checked, asked: str | None) -> str | None:
        """The name the direct parent is recorded under. When the certificate's CRL distribution
        point is this instance's own /crl/<name>.crl (an offline root of the agency's hierarchy,
        certified in a ceremony with the same base URL), the parent must be recorded as <name>,
        or that URL would not serve its ARL (RFC 5280 4.2.1.13)."""
        base = self.ctx.settings.base_url.rstrip("/") + "/crl/"
        try:
            points = checked.certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        except x509.ExtensionNotFound:
            return asked
        ours = [n.value[len(base):-len(".crl")] for p in points for n in (p.full_name or [])
                if isinstance(n, x509.UniformResourceIdentifier) and n.value.startswith(base)
                and n.value.endswith(".crl")]
        if not ours:
            return asked
        with self.ctx.db.reader() as s:
            known = CaRepository(s).by_certificate(checked.path[1].public_bytes(Encoding.DER))
        wanted = known.name if known is not None else ours[0]
        if asked is not None and asked != wanted:
            raise CaError(f"the certificate's CRL distribution point is {base}{ours[0]}.crl: its parent must be "
                          f"recorded as {wanted!r}, not {asked!r}, for that URL to serve the parent's ARL")
        if known is None and not CA_NAME.match(wanted):
            raise CaError(f"the certificate's CRL distribution point names {wanted!r}, not a CA name govca can serve")
        return wanted

    @staticmethod
    def _free_name(repo: CaRepository, wanted: str, strict: bool) -> str:
        if not repo.exists(wanted):
            return wanted
        if strict:
            raise CaExistsError(f"a CA named {wanted!r} already exists: choose another --parent-name")
        for i in range(2, 100):
            candidate = f"{wanted[:60]}-{i}"
            if not repo.exists(candidate):
                return candidate
        raise CaExistsError(f"no free CA name near {wanted!r}")

    def check(self, pending: PendingCaRecord, certificate: bytes, chain: bytes, anchors: list[bytes]) -> Checked:
        """Every check of the returned certificate; ExternalDataError (or CaError) names the first failure."""
        if not anchors:
            raise CaError("no trust anchor is configured: list the parent's root certificate (PEM) in "
                          "signer.extra_roots of govca.toml, the trust list")
        found = load_certificates(certificate, "certificate file")
        if len(found) != 1:
            raise ExternalDataError(f"the certificate file holds {len(found)} certificates; give the CA's alone "
                                    "and the parent's in --chain")
        cert = found[0]
        chain_certs = load_certificates(chain, "chain file")
        now = self.ctx.clock()
        # RFC 5280 4.1.2.7: the certificate binds the key whose request the parent received.
        if _spki(cert.public_key()) != _spki(pending.request.public_key()):
            raise ExternalDataError(f"the certificate is for another key: its subjectPublicKeyInfo is not the "
                                    f"pending CA {pending.name}'s (RFC 5280 4.1.2.7)")
        try:
            bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            bc = None
        if bc is None or not bc.ca:
            raise ExternalDataError("the certificate is not a CA certificate: basicConstraints cA is not TRUE "
                                    "(RFC 5280 4.2.1.9)")
        if bc.path_length is not None and bc.path_length < 0:
            raise ExternalDataError("the certificate's pathLenConstraint is negative (RFC 5280 4.2.1.9)")
        try:
            ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            ku = None
        if ku is None or not ku.key_cert_sign or not ku.crl_sign:
            raise ExternalDataError("the certificate's keyUsage lacks keyCertSign or cRLSign: it could not issue "
                                    "certificates or sign its CRLs (RFC 5280 4.2.1.3)")
        try:
            cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        except x509.ExtensionNotFound:
            raise ExternalDataError("the certificate has no subjectKeyIdentifier (RFC 5280 4.2.1.2: a CA "
                                    "certificate must)") from None
        if cert.not_valid_before_utc > now:
            raise ExternalDataError(f"the certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M}Z")
        if cert.not_valid_after_utc <= now:
            raise ExternalDataError(f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z")
        if self.ctx.lint:
            bad = blocking(lint_certificate(cert.public_bytes(Encoding.DER)))
            if bad:
                raise ExternalDataError(f"the certificate fails pkilint (PKIX): {bad[0].code}: {bad[0].message}")
        return Checked(cert, self._path(cert, chain_certs, anchors, now))

    @staticmethod
    def _path(cert: x509.Certificate, chain: list[x509.Certificate], anchors: list[bytes],
              now: dt.datetime) -> list[x509.Certificate]:
        """RFC 5280 6.1 path validation (pyhanko-certvalidator, nothing fetched) from the CA's
        certificate to a configured anchor, for the keyCertSign usage."""
        from pyhanko_certvalidator import CertificateValidator, ValidationContext
        from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

        context = ValidationContext(trust_roots=[ax509.Certificate.load(a) for a in anchors],
                                    allow_fetching=False, revocation_mode="soft-fail", moment=now)
        validator = CertificateValidator(ax509.Certificate.load(cert.public_bytes(Encoding.DER)),
                                         [ax509.Certificate.load(c.public_bytes(Encoding.DER)) for c in chain],
                                         validation_context=context)
        try:
            path = asyncio.run(validator.async_validate_usage({"key_cert_sign"}))
        except PathBuildingError:
            raise ExternalDataError("the chain does not reach a configured trust anchor (signer.extra_roots): "
                                    "no path from the certificate to one of them (RFC 5280 6.1)") from None
        except PathValidationError as exc:
            raise ExternalDataError(f"the chain does not validate to a configured trust anchor: {exc} "
                                    "(RFC 5280 6.1)") from None
        ders = [c.dump() for c in path.iter_certs(include_root=True)]
        out = [x509.load_der_x509_certificate(d) for d in reversed(ders)]
        if out[0] != cert:
            raise CaError("path validation returned a path for another certificate")
        return out
