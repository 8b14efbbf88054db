"""Issue 13: partitioned CRLs (RFC 5280 5.2.5), the DER writer, constant-cost revocation,
`govca crl publish` and /crl/<ca>/<partition>.crl; checked with openssl, pkilint and pyHanko."""
from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from ca.crl_checks import CrlCheckError, EntryChecks
from ca.crl_der import FULL, Entry, Scope, assemble, build_tbs
from ca.partitions import partition_of
from conftest import Cli, create_hierarchy, make_home, run, tool
from hsm.mechanisms import Mechanism

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC)
NAME = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "TH"), x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
SKI = bytes(range(20))
URL = "http://pki.example.test/crl/issuing/20261205.crl"
ENTRIES = [Entry(1, NOW - dt.timedelta(days=1), "keyCompromise", NOW - dt.timedelta(days=3)),
           Entry((1 << 126) + 5, NOW, "unspecified"), Entry(0x80, NOW, "superseded")]
CRYPTO_REASONS = {"keyCompromise": x509.ReasonFlags.key_compromise, "superseded": x509.ReasonFlags.superseded}


def _tbs(entries=ENTRIES, scope=FULL, this_update=NOW) -> bytes:  # type: ignore[no-untyped-def]
    return build_tbs(issuer_der=NAME.public_bytes(), issuer_ski=SKI, crl_number=7, this_update=this_update,
                     next_update=this_update + dt.timedelta(days=7), entries=entries, scope=scope,
                     mechanism=Mechanism.ECDSA_SHA384)


def _cryptography_tbs(key, scope_url: str | None) -> bytes:  # type: ignore[no-untyped-def]
    exts = [x509.Extension(ExtensionOID.AUTHORITY_KEY_IDENTIFIER, False, x509.AuthorityKeyIdentifier(SKI, None, None)),
            x509.Extension(ExtensionOID.CRL_NUMBER, False, x509.CRLNumber(7))]
    if scope_url:
        exts.append(x509.Extension(ExtensionOID.ISSUING_DISTRIBUTION_POINT, True, x509.IssuingDistributionPoint(
            [x509.UniformResourceIdentifier(scope_url)], None, True, False, None, False, False)))
    revoked = []
    for e in ENTRIES:
        rb = x509.RevokedCertificateBuilder().serial_number(e.serial).revocation_date(e.revoked_at)
        if e.reason != "unspecified":  # RFC 5280 5.3.1: unspecified SHOULD be absent
            rb = rb.add_extension(x509.CRLReason(CRYPTO_REASONS[e.reason]), False)
        if e.invalidity_date:
            rb = rb.add_extension(x509.InvalidityDate(e.invalidity_date), False)
        revoked.append(rb.build())
    builder = x509.CertificateRevocationListBuilder(issuer_name=NAME, last_update=NOW,
                                                    next_update=NOW + dt.timedelta(days=7), extensions=exts,
                                                    revoked_certificates=revoked)
    return builder.sign(key, hashes.SHA384()).tbs_certlist_bytes


# --- the DER writer (pure) ------------------------------------------------------------------------
@pytest.mark.parametrize("scope_url", [None, URL])
def test_rfc5280_5_1_der_writer_equals_cryptography_builder(scope_url: str | None) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    ours = _tbs(scope=Scope(scope_url) if scope_url else FULL)
    assert ours == _cryptography_tbs(key, scope_url)
    der = assemble(ours, Mechanism.ECDSA_SHA384, key.sign(ours, ec.ECDSA(hashes.SHA384())))
    crl = x509.load_der_x509_crl(der)
    assert crl.is_signature_valid(key.public_key()) and len(list(crl)) == 3


def test_rfc5280_5_1_2_4_generalized_time_from_2050_and_openssl_parses(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    later = dt.datetime(2050, 1, 2, 3, 4, 5, tzinfo=UTC)
    tbs = _tbs(entries=[Entry(9, later, "keyCompromise")], this_update=later)
    der = assemble(tbs, Mechanism.ECDSA_SHA384, key.sign(tbs, ec.ECDSA(hashes.SHA384())))
    assert b"\x18\x0f20500102030405Z" in tbs and b"\x17\x0d" not in tbs  # 5.1.2.4/5.1.2.5: no UTCTime from 2050
    (tmp_path / "c.crl").write_bytes(der)
    r = run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "c.crl"), "-noout", "-text"])
    assert r.returncode == 0 and "Jan  2 03:04:05 2050 GMT" in r.stdout, r.stdout + r.stderr


def test_rfc5280_5_2_5_partition_idp_is_critical_with_url_and_only_user_certs() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    tbs = _tbs(scope=Scope(URL))
    crl = x509.load_der_x509_crl(assemble(tbs, Mechanism.ECDSA_SHA384, key.sign(tbs, ec.ECDSA(hashes.SHA384()))))
    idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert idp.critical and idp.value.only_contains_user_certs and not idp.value.only_contains_ca_certs
    assert [n.value for n in idp.value.full_name] == [URL]


def test_rfc5280_5_1_2_6_appending_to_the_previous_entries_equals_a_rebuild() -> None:
    from ca.crl_der import entries_of, may_list
    key = ec.generate_private_key(ec.SECP384R1())
    for scope in (FULL, Scope(URL)):
        previous_tbs = _tbs(entries=ENTRIES[:2], scope=scope)
        previous = assemble(previous_tbs, Mechanism.ECDSA_SHA384, key.sign(previous_tbs, ec.ECDSA(hashes.SHA384())))
        encoded, count = entries_of(previous)
        assert count == 2
        # The entries listed are found by their serial; the ones to append are not.
        assert all(may_list(encoded, e.serial) for e in ENTRIES[:2])
        assert not any(may_list(encoded, e.serial) for e in ENTRIES[2:])
        assert build_tbs(issuer_der=NAME.public_bytes(), issuer_ski=SKI, crl_number=7, this_update=NOW,
                         next_update=NOW + dt.timedelta(days=7), entries=ENTRIES[2:], scope=scope,
                         mechanism=Mechanism.ECDSA_SHA384, encoded=encoded) == _tbs(scope=scope)
        empty_tbs = _tbs(entries=[], scope=scope)
        assert entries_of(assemble(empty_tbs, Mechanism.ECDSA_SHA384, b"\x00")) == (b"", 0)
    # A CRL cut inside its entry list is not taken for a previous CRL's entries (X.690 8.1).
    cut = previous.index(encoded) + len(encoded) // 2
    with pytest.raises(ValueError, match="ends inside its revokedCertificates"):
        entries_of(previous[:cut])


def _check(rows, this_update=NOW, scope=None):  # type: ignore[no-untyped-def]
    return list(EntryChecks(this_update, scope).stream(rows))


@pytest.mark.parametrize("rows,scope,clause", [
    ([(Entry(5, NOW, "keyCompromise"), None), (Entry(5, NOW, "superseded"), None)], None, "listed twice"),
    ([(Entry(5, NOW + dt.timedelta(seconds=1), "keyCompromise"), None)], None, "revocationDate after thisUpdate"),
    ([(Entry(0, NOW, "keyCompromise"), None)], None, "4.1.2.2"),
    ([(Entry(1 << 160, NOW, "keyCompromise"), None)], None, "4.1.2.2"),
    ([(Entry(5, NOW, "removeFromCRL"), None)], None, "5.3.1"),
    ([(Entry(5, NOW - dt.timedelta(days=1), "keyCompromise", NOW), None)], None, "5.3.2"),
    ([(Entry(5, NOW, "keyCompromise"), "20261205")], "20261219", "5.2.5"),
])
def test_rfc5280_entry_checks_refuse_a_bad_entry_list(rows, scope, clause) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CrlCheckError, match=clause.replace(".", r"\.")):
        _check(rows, scope=scope)


def test_entry_checks_keep_a_bounded_sample_of_every_shape() -> None:
    checks = EntryChecks(NOW, None)
    rows = [Entry(i, NOW, "keyCompromise") for i in range(1, 101)]
    rows[50] = Entry(51, NOW, "superseded", NOW - dt.timedelta(days=1))
    rows[60] = Entry(61, NOW, "unspecified")
    list(checks.stream((e, None) for e in rows))
    assert checks.count == 100 and [e.serial for e in checks.sample()] == [1, 2, 3, 4, 51, 61, 97, 98, 99, 100]


def test_partition_names_are_the_window_start() -> None:
    assert partition_of(dt.datetime(1970, 1, 14, 23, tzinfo=UTC), 14) == "19700101"
    assert partition_of(dt.datetime(1970, 1, 15, tzinfo=UTC), 14) == "19700115"
    assert partition_of(dt.datetime(2028, 12, 6, tzinfo=UTC), 7) == partition_of(dt.datetime(2028, 12, 6, 23, tzinfo=UTC), 7)


# --- with the HSM, the database, openssl, pkilint, pyHanko -----------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _db(home: Path):  # type: ignore[no-untyped-def]
    from ca import Database
    from cli.config import load_config
    return Database(load_config(home).database_url)


def _numbers(home: Path) -> dict[str | None, int]:
    from sqlalchemy import func, select

    from ca.storage.models import CaRow, CrlRow
    db = _db(home)
    try:
        with db.reader() as s:
            return dict(s.execute(select(CrlRow.partition, func.max(CrlRow.crl_number)).join(CaRow, CaRow.id == CrlRow.ca_id)
                                  .where(CaRow.name == "issuing").group_by(CrlRow.partition)).all())
    finally:
        db.dispose()


def _issue(cli: Cli, tmp: Path, name: str, days: int) -> tuple[str, Path]:
    out = tmp / f"{name}.pem"
    res = cli("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256",
              "--subject", f"/C=TH/O=Agency {name}/CN={name}/organizationIdentifier=NTRTH-0994000159889",
              "--validity-days", str(days), "--out", str(out), "--json")
    return json.loads(res.stdout)["serial"], out


def _cdp(pem: Path) -> str:
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    return cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value


def _serve(home: Path):  # type: ignore[no-untyped-def]
    from flask import Flask
    from werkzeug.serving import make_server

    from ca.status import StatusReader
    from ocsp.http import repository_blueprint
    db = _db(home)
    clock = lambda: dt.datetime.now(UTC)  # noqa: E731
    app = Flask("crl-test")
    app.register_blueprint(repository_blueprint(StatusReader(db, clock), clock))
    return app, db


def test_acceptance2_partitions_full_crl_openssl_pkilint_pyhanko(tmp_path: Path, database_url: str | None) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    home = make_home(tmp_path, database_url, base_url=base)
    cli = create_hierarchy(Cli(home))
    certs = {n: _issue(cli, tmp_path, n, d) for n, d in (("a1", 400), ("a2", 400), ("b1", 700), ("legacy", 700))}
    part_a = _cdp(certs["a1"][1]).rsplit("/", 1)[1][:-4]
    part_b = _cdp(certs["b1"][1]).rsplit("/", 1)[1][:-4]
    assert part_a != part_b and _cdp(certs["a1"][1]) == f"{base}/crl/issuing/{part_a}.crl"
    # Issuance published each new partition's (empty) CRL at once, so its CRL DP resolves.
    assert {part_a, part_b, None} <= set(_numbers(home))

    # A certificate issued before partitions (crl_partition NULL) stays on the full CRL.
    from sqlalchemy import update

    from ca.storage.models import CertificateRow
    db = _db(home)
    with db.unit_of_work() as s:
        s.execute(update(CertificateRow).where(CertificateRow.serial_hex == certs["legacy"][0])
                  .values(crl_partition=None))
    db.dispose()

    # Revocation republishes only the CRL the certificate's CDP names (constant cost).
    before = _numbers(home)
    cli("cert", "revoke", "--ca", "issuing", certs["a1"][0], "--reason", "keyCompromise")
    after = _numbers(home)
    assert after[part_a] > before[part_a] and after[part_b] == before[part_b] and after[None] == before[None]
    cli("cert", "revoke", "--ca", "issuing", certs["b1"][0], "--reason", "superseded")
    before = _numbers(home)
    cli("cert", "revoke", "--ca", "issuing", certs["legacy"][0], "--reason", "cessationOfOperation")
    after = _numbers(home)
    assert after[None] > before[None] and after[part_a] == before[part_a] and after[part_b] == before[part_b]

    # A second revocation in a partition appends its entry to the partition's previous CRL.
    a3, _ = _issue(cli, tmp_path, "a3", 400)
    cli("cert", "revoke", "--ca", "issuing", a3, "--reason", "affiliationChanged")
    app, db = _serve(home)
    crl = x509.load_der_x509_crl(app.test_client().get(f"/crl/issuing/{part_a}.crl").data)
    assert {e.serial_number for e in crl} == {int(certs["a1"][0], 16), int(a3, 16)}
    assert crl.get_revoked_certificate_by_serial_number(int(a3, 16)).extensions.get_extension_for_class(
        x509.CRLReason).value.reason is x509.ReasonFlags.affiliation_changed
    assert _audit(home, "crl.publish")[-1][2]["entries"] == 2
    db.dispose()
    certs["a3"] = (a3, tmp_path / "a3.pem")

    published = json.loads(cli("crl", "publish", "--ca", "issuing", "--json").stdout)
    assert {p["partition"] for p in published} == {None, part_a, part_b}
    fresh = json.loads(cli("crl", "publish", "--max-age-hours", "1", "--json").stdout)
    assert fresh == []  # everything was published just now

    app, db = _serve(home)
    client = app.test_client()
    issuing_pem = tmp_path / "issuing.pem"
    root_pem = tmp_path / "root.pem"
    cli("ca", "export", "issuing", "--out", str(issuing_pem))
    cli("ca", "export", "root", "--out", str(root_pem))
    listed = {}
    for scope, path in ((part_a, f"/crl/issuing/{part_a}.crl"), (part_b, f"/crl/issuing/{part_b}.crl"),
                        (None, "/crl/issuing.crl")):
        resp = client.get(path)
        assert resp.status_code == 200 and resp.content_type == "application/pkix-crl"
        assert "max-age" in resp.headers["Cache-Control"]
        der = resp.data
        f = tmp_path / f"{scope}.crl"
        f.write_bytes(der)
        r = run(["openssl", "crl", "-inform", "DER", "-in", str(f), "-CAfile", str(issuing_pem), "-noout", "-verify"])
        assert r.returncode == 0 and "verify OK" in r.stdout + r.stderr, r.stdout + r.stderr
        r = run([tool("lint_crl"), "lint", "-t", "CRL", "-p", "PKIX", "-s", "ERROR", str(f)])
        assert r.returncode == 0, r.stdout + r.stderr
        crl = x509.load_der_x509_crl(der)
        listed[scope] = {format(e.serial_number, "X") for e in crl}
        if scope is None:
            with pytest.raises(x509.ExtensionNotFound):
                crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
        else:
            idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
            assert idp.critical and idp.value.only_contains_user_certs  # RFC 5280 5.2.5
            assert [n.value for n in idp.value.full_name] == [f"{base}/crl/issuing/{scope}.crl"]
    norm = {n: s.upper().lstrip("0") for n, (s, _) in certs.items()}
    assert listed[part_a] == {norm["a1"], norm["a3"]} and listed[part_b] == {norm["b1"]}
    assert listed[None] == {norm["a1"], norm["a3"], norm["b1"], norm["legacy"]}  # every revocation of the CA

    for path in ("/crl/issuing/garbage.crl", "/crl/issuing/19700101.crl", "/crl/nosuch/20261205.crl",
                 "/crl/issuing/2026120.crl"):
        assert client.get(path).status_code == 404, path

    # openssl verify -crl_check against the partition the certificate's CDP names.
    for name, revoked in (("a1", True), ("a2", False)):
        pem = tmp_path / f"crl-{name}.pem"
        assert run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / f"{part_a}.crl"),
                    "-out", str(pem)]).returncode == 0
        r = run(["openssl", "verify", "-x509_strict", "-crl_check", "-CRLfile", str(pem), "-CAfile", str(root_pem),
                 "-untrusted", str(issuing_pem), str(certs[name][1])])
        if revoked:
            assert r.returncode != 0 and "certificate revoked" in r.stdout + r.stderr, r.stdout + r.stderr
        else:
            assert r.returncode == 0, r.stdout + r.stderr

    # pyHanko's validator finds a1 revoked through its own CDP URL, fetching over HTTP.
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _pyhanko_sees(root_pem, issuing_pem, certs["a1"][1], revoked=True)
        _pyhanko_sees(root_pem, issuing_pem, certs["a2"][1], revoked=False)
    finally:
        server.shutdown()
        thread.join(5)
        db.dispose()


def _pyhanko_sees(root_pem: Path, issuing_pem: Path, cert_pem: Path, revoked: bool) -> None:
    import asyncio

    from asn1crypto import pem as asn1pem
    from asn1crypto import x509 as asn1x509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import RevokedError
    from pyhanko_certvalidator.policy_decl import (CertRevTrustPolicy, RevocationCheckingPolicy,
                                                   RevocationCheckingRule)

    def load(p: Path) -> asn1x509.Certificate:
        return asn1x509.Certificate.load(asn1pem.unarmor(p.read_bytes())[2])

    # CRLs only, hard-fail: the CRL DP is the one place status can come from.
    policy = CertRevTrustPolicy(RevocationCheckingPolicy(
        ee_certificate_rule=RevocationCheckingRule.CRL_REQUIRED,
        intermediate_ca_cert_rule=RevocationCheckingRule.NO_CHECK))
    ctx = ValidationContext(trust_roots=[load(root_pem)], other_certs=[load(issuing_pem)], allow_fetching=True,
                            revinfo_policy=policy)
    validator = CertificateValidator(load(cert_pem), validation_context=ctx)
    if revoked:
        with pytest.raises(RevokedError):
            asyncio.run(validator.async_validate_usage(set()))
    else:
        asyncio.run(validator.async_validate_usage(set()))
    assert ctx.fetching_allowed


def _audit(home: Path, action: str) -> list[tuple[str, str, dict]]:
    from sqlalchemy import select

    from ca.storage.models import AuditRow
    db = _db(home)
    try:
        with db.reader() as s:
            return [(subj, out, json.loads(d)) for subj, out, d in s.execute(
                select(AuditRow.subject, AuditRow.outcome, AuditRow.details)
                .where(AuditRow.action == action).order_by(AuditRow.seq)).all()]
    finally:
        db.dispose()


def test_rfc5280_5_1_2_6_a_bad_row_refuses_publication_old_crls_pruned_expired_partitions_stop(
        tmp_path: Path, database_url: str | None) -> None:
    from sqlalchemy import func, select, update

    from ca.revocation import KEEP_CRLS
    from ca.storage.models import CertificateRow, CrlRow
    from cli.admin import AdminWiring

    home = make_home(tmp_path, database_url)
    cli = create_hierarchy(Cli(home))
    short, short_pem = _issue(cli, tmp_path, "short", 30)
    long_, long_pem = _issue(cli, tmp_path, "long", 700)
    part_short = _cdp(short_pem).rsplit("/", 1)[1][:-4]
    part_long = _cdp(long_pem).rsplit("/", 1)[1][:-4]
    # A row marked revoked behind govca's back: the partition's previous CRL then lacks two
    # entries, so the revocation re-reads the whole partition instead of appending one.
    extra, _ = _issue(cli, tmp_path, "extra", 30)
    db = _db(home)
    with db.unit_of_work() as s:
        s.execute(update(CertificateRow).where(CertificateRow.serial_hex == extra).values(
            status="revoked", revoked_at=dt.datetime.now(UTC) - dt.timedelta(minutes=5), revocation_reason="superseded"))
    db.dispose()
    cli("cert", "revoke", "--ca", "issuing", short, "--reason", "keyCompromise")
    assert _audit(home, "crl.publish")[-1][2]["entries"] == 2
    for _ in range(KEEP_CRLS + 2):
        cli("crl", "publish", "--ca", "issuing")
    db = _db(home)
    try:
        with db.reader() as s:
            kept = dict(s.execute(select(CrlRow.partition, func.count()).group_by(CrlRow.partition)
                                  .where(CrlRow.partition.is_not(None))).all())
        assert kept == {part_short: KEEP_CRLS, part_long: KEEP_CRLS}
        published = [d for subj, out, d in _audit(home, "crl.publish") if out == "success"]
        assert len(published) > 2 * KEEP_CRLS and all(len(d["sha256"]) == 64 for d in published)  # every one audited

        # A row altered behind govca's back (revocationDate after thisUpdate) refuses the CRL, audited.
        with db.unit_of_work() as s:
            s.execute(update(CertificateRow).where(CertificateRow.serial_hex == short)
                      .values(revoked_at=dt.datetime(2099, 1, 1, tzinfo=UTC)))
        before = _numbers(home)
        r = cli("crl", "publish", "--ca", "issuing", ok=False)
        assert r.exit_code == 1 and "revocationDate after thisUpdate (RFC 5280 5.1.2.6" in r.output, r.output
        assert "2 of 3 CRLs of CA issuing refused" in r.output and len(r.output.strip().splitlines()) == 1
        assert [o for subj, o, _ in _audit(home, "crl.publish") if subj == f"issuing/{part_short}"][-1] == "refused"
        assert _audit(home, "crl.generate")[-1][:2] == ("issuing", "refused")  # the full CRL lists it too
        after = _numbers(home)
        assert after[part_short] == before[part_short] and after[None] == before[None]  # nothing half-written
        assert after[part_long] > before[part_long]  # the other partition is still published
        with db.unit_of_work() as s:
            s.execute(update(CertificateRow).where(CertificateRow.serial_hex == short)
                      .values(revoked_at=dt.datetime.now(UTC) - dt.timedelta(minutes=1)))
    finally:
        db.dispose()

    # Past the short partition's last notAfter and its CRL's nextUpdate, it is no longer published.
    admin = AdminWiring(home)
    try:
        admin.ca.ctx.clock = lambda: dt.datetime.now(UTC) + dt.timedelta(days=60)
        done = admin.ca.publish_crls("test", "issuing")
        assert {p for p, _ in done} == {None, part_long}
    finally:
        admin.close()
