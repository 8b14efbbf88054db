"""Sealing XML documents for agency systems: the sealing service's authentication, seal choice,
TSA, revocation data, registry and audit (signer/sealing/service.py, composed, not copied) around
the XAdES pipeline of seal.py."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ..docdata.safe_xml import parse
from ..errors import SignerError, UnavailableError
from ..registry import ApiClient, Seal
from ..sealing.service import SealingService, new_document_id
from .seal import XmlOptions, seal_xml
from .sign import XmlMaterial

ACTION = "seal.sign-xml"


@dataclass(frozen=True)
class SealedXml:
    document_id: str
    xml: bytes
    sha256: str
    verify_url: str
    seal_serial: str


class XadesService:
    def __init__(self, sealing: SealingService) -> None:
        self.sealing = sealing

    def seal(self, client: ApiClient, data: bytes, options: XmlOptions, seal_serial: str | None = None) -> SealedXml:
        """Parse ``data`` safely (no DOCTYPE, entities or network; signer/docdata/safe_xml.py),
        choose the agency's seal, seal at ``options.level``, register and audit. Every refusal
        is audited and registers nothing."""
        actor = f"api:client-{client.id}"
        try:
            tree = parse(data, what="the XML document", max_bytes=self.sealing.settings.max_pdf_bytes)
            seal = self.sealing.choose_seal(client, seal_serial)
            sealed = self._seal(client, seal, tree.getroot(), options)
        except SignerError as exc:
            self.sealing.audit(actor, ACTION, client.agency_code, "refused",
                               {"error": str(exc), "status": exc.status, "seal": seal_serial})
            raise
        self.sealing.audit(actor, ACTION, client.agency_code, "success", {
            "document": sealed.document_id, "sha256": sealed.sha256, "seal": seal.serial_hex,
            "level": options.level.value, "packaging": options.packaging})
        return sealed

    def _seal(self, client: ApiClient, seal: Seal, root: Any, options: XmlOptions) -> SealedXml:
        s = self.sealing
        now = s.clock()
        material = XmlMaterial(seal.cert_der, seal.chain_der, s.keys.get_key(seal.key_uri))
        tsa_certs: tuple[bytes, ...] = ()
        revocation = None
        if options.level.timestamped:
            unit = s.tsa_unit()
            if unit is None:
                raise UnavailableError(f"level {options.level.value} needs the TSA: run `govca tsa setup --ca NAME`")
            tsa_certs = (unit.cert_der, *unit.chain_der)
            if options.level.long_term:
                # Each certificate of the seal's and the TSA's chains with its issuer (docs/ltv.md).
                chain = material.chain_der
                pairs = [(material.cert_der, chain[0]), (unit.cert_der, unit.chain_der[0])]
                pairs += [(a, b) for c in (chain, unit.chain_der) for a, b in zip(c, c[1:])]
                revocation = s.revocation(pairs)
        xml = seal_xml(root, material, options, now, timestamp=s.timestamp, tsa_certs=tsa_certs, revocation=revocation)
        doc_id = new_document_id()
        digest = hashlib.sha256(xml).hexdigest()
        s.repo.register(doc_id, digest, client.agency_code, seal.serial_hex, "seal", options.level.value,
                        options.subfilter, len(xml), client.id, now)
        return SealedXml(doc_id, xml, digest, f"{s.settings.base_url.rstrip('/')}/verify/{doc_id}", seal.serial_hex)
