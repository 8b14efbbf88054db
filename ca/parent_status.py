"""The external parent's status of each CA certificate it issued (`govca ca refresh-parent`).

For every CA certificate whose issuer is an EXTERNAL CA (the issuing CA the national root
certified; an external intermediate under an external root), the status is fetched over HTTP
from the URLs in that certificate, verified, and stored:

- each CRL distribution point (RFC 5280 4.2.1.13): the CRL is checked against the parent's
  certificate (ca/external_crl.py, RFC 5280 6.3.3) and stored under the parent, where
  `/crl/<parent>.crl` serves it and B-LT embeds it; the certificate's status in it is recorded;
- each OCSP URL of the authority information access (RFC 5280 4.2.2.1): an RFC 6960 request
  with a SHA-1 CertID (RFC 5019 2.1.1), its response checked (ca/parent_ocsp.py) and kept
  as the newest one of that URL; B-LT embeds it.

Each URL is its own transaction with its own audit record (``ca.refresh-parent``): what
succeeded is kept when another URL fails. Only ``http://`` URLs are fetched (RFC 5280 4.2.1.13
and RFC 6960 A.1 name HTTP; status fetched over https would need a certificate validation that
may itself depend on this status), through no proxy, following redirects to http:// only.
"""
from __future__ import annotations

import datetime as dt
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Callable

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID
from sqlalchemy import select

from policies.status import CertStatus

from .audit import AuditEvent, append
from .errors import CaError, ExternalDataError
from .external_crl import MAX_CRL_BYTES, check_crl, store_crl
from .parent_ocsp import MAX_OCSP_BYTES, check_ocsp, ocsp_request
from .records import CaRecord, CaState
from .storage.db import Database
from .storage.models import ParentStatusRow
from .storage.repositories import CaRepository

ACTION = "ca.refresh-parent"
HTTP_TIMEOUT = 15.0
HTTP_DEADLINE = 60.0  # the whole answer, however the server paces it

# (url, POST body or None for GET, size cap) -> the response body; raises FetchError
Fetch = Callable[[str, "bytes | None", int], bytes]


class FetchError(CaError):
    """The URL did not give an answer to check (unreachable, HTTP error, too large, bad scheme)."""


@dataclass(frozen=True)
class Outcome:
    """What one URL gave for one CA certificate."""

    ca: str                 # the CA whose certificate's status this is
    parent: str             # the external CA that issued it
    kind: str               # "crl" | "ocsp"
    url: str
    ok: bool
    message: str            # on failure the reason, in one line
    status: CertStatus | None = None
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None
    stored: bool = False    # a new CRL or OCSP response was stored (False: the one held is as new)

    @property
    def revoked(self) -> bool:
        return self.status is CertStatus.REVOKED


# --- HTTP ------------------------------------------------------------------------------------
class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urllib.parse.urlsplit(newurl).scheme.lower() != "http":
            raise FetchError(f"redirected to {newurl[:200]}: only http:// is followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def http_fetch(url: str, body: bytes | None, cap: int) -> bytes:
    """GET (or POST an OCSP request) with a timeout and a size cap, through no proxy."""
    if urllib.parse.urlsplit(url).scheme.lower() != "http":
        raise FetchError("not an http:// URL; govca fetches a parent's status over HTTP only "
                         "(RFC 5280 4.2.1.13, RFC 6960 A.1)")
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler({}), urllib.request.HTTPHandler(), _HttpOnlyRedirects(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    headers = {"Content-Type": "application/ocsp-request"} if body is not None else {}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body is not None else "GET")
    try:
        with opener.open(request, timeout=HTTP_TIMEOUT) as answer:
            data = _read_by(answer, cap + 1, time.monotonic() + HTTP_DEADLINE)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"unreachable ({exc.reason})") from None
    except TimeoutError:
        raise FetchError(f"no answer within {HTTP_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise FetchError(f"unreachable ({type(exc).__name__}: {exc})") from None
    if len(data) > cap:
        raise FetchError(f"the answer is larger than the {cap} bytes accepted")
    if not data:
        raise FetchError("the answer is empty")
    return data


def _read_by(answer, limit: int, deadline: float) -> bytes:  # type: ignore[no-untyped-def]
    """Read at most ``limit`` bytes, and stop at ``deadline``: the socket timeout bounds each read
    only, so a server trickling a byte every few seconds would otherwise hold the refresh for hours."""
    chunks, size = [], 0
    while size < limit:
        if time.monotonic() > deadline:
            raise FetchError(f"the answer did not arrive within {HTTP_DEADLINE:.0f} s (a slow or trickling server)")
        chunk = answer.read1(min(64 * 1024, limit - size))  # one recv at most: the deadline is checked between
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


# --- the URLs in a certificate ---------------------------------------------------------------
def status_urls(cert: x509.Certificate) -> list[tuple[str, str]]:
    """(kind, URL) for each CRL distribution point and OCSP URL in ``cert``, in order."""
    out: list[tuple[str, str]] = []
    try:
        for dp in cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value:
            for name in dp.full_name or ():
                if isinstance(name, x509.UniformResourceIdentifier):
                    out.append(("crl", name.value))
    except x509.ExtensionNotFound:
        pass
    try:
        for desc in cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value:
            if (desc.access_method == AuthorityInformationAccessOID.OCSP
                    and isinstance(desc.access_location, x509.UniformResourceIdentifier)):
                out.append(("ocsp", desc.access_location.value))
    except x509.ExtensionNotFound:
        pass
    return out


# --- CRL scope -------------------------------------------------------------------------------
def crl_status(der: bytes, cert: x509.Certificate, url: str) -> CertStatus:
    """The status of CA certificate ``cert`` in a checked CRL, after checking that the CRL's
    scope covers it (RFC 5280 6.3.3 (b)(2): issuingDistributionPoint)."""
    crl = x509.load_der_x509_crl(der)
    try:
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        idp = None
    if idp is not None:
        if idp.only_contains_user_certs or idp.only_contains_attribute_certs:
            raise ExternalDataError("the CRL covers end-entity (or attribute) certificates only, not a CA "
                                    "certificate (RFC 5280 6.3.3 (b)(2)(ii))")
        if idp.indirect_crl:
            raise ExternalDataError("the CRL is indirect; govca stores CRLs of the parent itself only "
                                    "(RFC 5280 5.2.5)")
        names = [n.value for n in idp.full_name or () if isinstance(n, x509.UniformResourceIdentifier)]
        if names and url not in names:
            raise ExternalDataError(f"the CRL's issuingDistributionPoint names {names[0]!r}, not this URL "
                                    "(RFC 5280 6.3.3 (b)(2)(i))")
    found = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    return CertStatus.VALID if found is None else CertStatus.REVOKED


# --- the refresh -----------------------------------------------------------------------------
def targets(db: Database, now: dt.datetime) -> list[tuple[CaRecord, CaRecord]]:
    """(CA, external parent) for each unexpired CA certificate an external CA issued."""
    with db.reader() as s:
        cas = CaRepository(s).list()
    by_name = {c.name: c for c in cas}
    return [(c, by_name[c.parent_name]) for c in cas if c.parent_name and c.not_after > now
            and by_name[c.parent_name].state is CaState.EXTERNAL]


def _put(session, child: CaRecord, kind: str, url: str, status: CertStatus, der: bytes,  # type: ignore[no-untyped-def]
         this_update: dt.datetime, next_update: dt.datetime | None, now: dt.datetime) -> bool:
    """Keep the newest status of (CA, kind, URL); an older answer than the one held is refused
    (a replayed "good" would hide a revocation). Returns whether something new was stored."""
    row = session.execute(select(ParentStatusRow).where(
        ParentStatusRow.ca_id == child.id, ParentStatusRow.kind == kind, ParentStatusRow.url == url)
        .with_for_update()).scalar_one_or_none()
    if row is None:
        session.add(ParentStatusRow(ca_id=child.id, kind=kind, url=url, status=status.value, der=der,
                                    this_update=this_update, next_update=next_update, fetched_at=now))
        session.flush()
        return True
    if this_update < row.this_update:
        raise ExternalDataError(f"its thisUpdate {this_update:%Y-%m-%d %H:%M:%S}Z is older than the "
                                f"{row.this_update:%Y-%m-%d %H:%M:%S}Z held: an older answer is not stored")
    new = bytes(row.der) != der
    row.status, row.der, row.this_update, row.next_update, row.fetched_at = (
        status.value, der, this_update, next_update, now)
    session.flush()
    return new


class ParentStatusRefresh:
    """One run of `govca ca refresh-parent`."""

    def __init__(self, db: Database, clock: Callable[[], dt.datetime], fetch: Fetch = http_fetch) -> None:
        self.db, self.clock, self.fetch = db, clock, fetch
        self._bodies: dict[str, bytes | FetchError] = {}  # a CRL URL shared by several CAs is fetched once

    def run(self, actor: str) -> list[Outcome]:
        out: list[Outcome] = []
        for child, parent in targets(self.db, self.clock()):
            urls = status_urls(child.certificate)
            if not urls:
                out.append(self._failed(actor, child, parent, "-", "-", ExternalDataError(
                    f"CA {child.name}'s certificate names no CRL distribution point and no OCSP URL: its parent's "
                    "status cannot be fetched")))
            for kind, url in urls:
                out.append(self.one(actor, child, parent, kind, url))
        return out

    def _get(self, url: str, body: bytes | None, cap: int) -> bytes:
        if body is not None:
            return self.fetch(url, body, cap)
        if url not in self._bodies:
            try:
                self._bodies[url] = self.fetch(url, None, cap)
            except FetchError as exc:
                self._bodies[url] = exc
        got = self._bodies[url]
        if isinstance(got, FetchError):
            raise got
        return got

    def one(self, actor: str, child: CaRecord, parent: CaRecord, kind: str, url: str) -> Outcome:
        now = self.clock()
        cert = child.certificate
        try:
            if kind == "crl":
                checked = check_crl(self._get(url, None, MAX_CRL_BYTES), parent, now)
                status = crl_status(checked.der, cert, url)
                der, this_update, next_update = checked.der, checked.this_update, checked.next_update
            else:
                answer = check_ocsp(self._get(url, ocsp_request(cert, parent.certificate), MAX_OCSP_BYTES),
                                    cert, parent.certificate, now)
                status, der, this_update, next_update = (answer.status, answer.der, answer.this_update,
                                                         answer.next_update)
            with self.db.unit_of_work() as s:
                stored = False
                if kind == "crl":
                    stored = store_crl(s, parent, checked)[1]
                stored = _put(s, child, kind, url, status, der, this_update, next_update, now) or stored
                outcome = Outcome(child.name, parent.name, kind, url, True, "", status, this_update, next_update,
                                  stored)
                append(s, self._event(actor, outcome), now)
            return outcome
        except (FetchError, ExternalDataError) as exc:
            return self._failed(actor, child, parent, kind, url, exc)

    def _failed(self, actor: str, child: CaRecord, parent: CaRecord, kind: str, url: str,
                exc: Exception) -> Outcome:
        outcome = Outcome(child.name, parent.name, kind, url, False, str(exc).splitlines()[0] if str(exc) else
                          type(exc).__name__)
        with self.db.unit_of_work() as s:
            append(s, self._event(actor, outcome, "failed" if isinstance(exc, FetchError) else "refused"),
                   self.clock())
        return outcome

    @staticmethod
    def _event(actor: str, o: Outcome, outcome: str | None = None) -> AuditEvent:
        details: dict = {"parent": o.parent, "kind": o.kind, "url": o.url, "stored": o.stored}
        if o.ok:
            details.update(status=o.status.value if o.status else None, this_update=o.this_update.isoformat()
                           if o.this_update else None, next_update=o.next_update.isoformat() if o.next_update
                           else None)
            if o.revoked:
                details["alert"] = f"the parent {o.parent} reports CA {o.ca}'s certificate revoked"
        else:
            details["error"] = o.message
        # A revoked CA certificate is a failure of what the refresh is for, stored and shouted.
        return AuditEvent(actor, ACTION, o.ca, outcome or ("failed" if o.revoked else "success"), details)


def refresh_parent_status(db: Database, actor: str, clock: Callable[[], dt.datetime],
                          fetch: Fetch = http_fetch) -> list[Outcome]:
    """Fetch, verify and store the external parent's status of each CA certificate it issued."""
    return ParentStatusRefresh(db, clock, fetch).run(actor)
