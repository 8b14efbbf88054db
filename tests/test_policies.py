"""policies/: strict loading of the profile data, names and their encodings, profile checks."""
from __future__ import annotations

from pathlib import Path

import pytest

from policies import (NameSyntaxError, ProfileConfigError, UnknownProfileError, build_name, check_subject,
                      load_profiles, parse_slash_subject)
from policies.lint import is_loopback_base_url, relax_for_loopback
from policies.findings import Finding, Severity

SHIPPED = Path(__file__).resolve().parent.parent / "policies" / "data" / "profiles-v1.toml"


def test_shipped_profiles_load_and_every_rule_names_its_clause() -> None:
    ps = load_profiles()
    assert ps.names() == ["root-ca", "issuing-ca", "issuing-ca-offline-root", "person", "eseal", "ocsp", "tsa"]
    for p in ps.profiles:
        for rule in (p.key_types, p.validity, p.basic_constraints, p.key_usage, p.subject, p.distribution, p.policies):
            assert rule.clause.strip(), (p.name, rule)
    with pytest.raises(UnknownProfileError):
        ps.get("nosuch")


@pytest.mark.parametrize("edit,message", [
    (("kind = \"eseal\"", "kind = \"eseal\"\nsurprise = 1"), "unknown key 'surprise'"),
    (("critical = true, clause = \"EN 319 412-3 4.3.1; RFC 5280 4.2.1.3\" }",
      "critical = true }"), "missing clause"),
    (("default_days = 730,", "default_days = \"730\","), "expected int"),
    (("kind = \"tsa\"", "kind = \"time\""), "unknown kind"),
])
def test_profile_files_are_loaded_strictly(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    assert edit[0] in text
    bad = tmp_path / "profiles.toml"
    bad.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(ProfileConfigError, match=message):
        load_profiles(bad)


def test_slash_subjects_parse_thai_and_escaped_slashes() -> None:
    attrs = parse_slash_subject("/C=TH/O=Ministry A\\/B/CN=กระทรวง/givenName=สมชาย")
    assert attrs == (("C", "TH"), ("O", "Ministry A/B"), ("CN", "กระทรวง"), ("GN", "สมชาย"))
    for bad in ("C=TH", "/C", "/XX=1", "/CN="):
        with pytest.raises(NameSyntaxError):
            parse_slash_subject(bad)


def test_rfc5280_appendix_a_country_is_two_printable_letters_and_bounds_hold() -> None:
    with pytest.raises(NameSyntaxError):
        build_name((("C", "ไทย"),))
    with pytest.raises(NameSyntaxError):
        build_name((("C", "THA"),))
    with pytest.raises(NameSyntaxError):
        build_name((("CN", "ก" * 65),))
    with pytest.raises(NameSyntaxError):
        build_name((("serialNumber", "เลขที่"),))


def test_en_319_412_1_5_1_4_eseal_organization_identifier_is_ntrth_13_digits() -> None:
    eseal = load_profiles().get("eseal")
    ok = (("C", "TH"), ("O", "A"), ("CN", "ก"), ("organizationIdentifier", "NTRTH-0994000000001"))
    assert check_subject(eseal, ok) == []
    bad = ok[:3] + (("organizationIdentifier", "NTRTH-12345"),)
    assert [f.code for f in check_subject(eseal, bad)] == ["govca.subject.pattern"]
    assert "govca.subject.required" in [f.code for f in check_subject(eseal, ok[:3])]


def test_en_319_412_2_4_2_4_person_needs_given_name_surname_and_serial_number() -> None:
    person = load_profiles().get("person")
    codes = [f.code for f in check_subject(person, (("C", "TH"), ("CN", "สมชาย")))]
    assert codes.count("govca.subject.required") == 3


def test_etsi_internal_name_findings_are_relaxed_only_for_a_loopback_base_url() -> None:
    f = Finding(Severity.ERROR, "etsi.internal_domain_name", "Internal domain name", "pkilint-etsi")
    other = Finding(Severity.ERROR, "pkix.something", "x", "pkilint-pkix")
    assert is_loopback_base_url("http://127.0.0.1:8080") and is_loopback_base_url("http://localhost")
    assert not is_loopback_base_url("http://pki.example.com")
    relaxed = relax_for_loopback([f, other], "http://127.0.0.1:8080")
    assert [x.severity for x in relaxed] == [Severity.WARNING, Severity.ERROR]
    assert relax_for_loopback([f], "http://pki.example.com")[0].severity is Severity.ERROR


def test_rfc5280_appendix_a_upper_bounds_count_characters_not_utf8_bytes() -> None:
    # X.520 ub-common-name (64) bounds characters; a 40-letter Thai name is 120 UTF-8 bytes.
    name = build_name((("CN", "ก" * 64),))
    assert len(str(name.rdns[0].get_attributes_for_oid(name.rdns[0]._attributes[0].oid)[0].value)) == 64


# --- one status vocabulary (policies/status.py), shared by ca/ and ocsp/ -------------------------
def test_rfc6960_4_2_1_one_cert_status_names_good_revoked_unknown() -> None:
    from policies.status import CertStatus

    assert [s.rfc6960_name for s in CertStatus] == ["good", "revoked", "unknown"]
    assert CertStatus.GOOD is CertStatus.VALID  # RFC 6960's name and the stored one are one member


def test_stored_spellings_read_back_as_the_same_status() -> None:
    """Certificate records and `govca cert list --status` say "valid"; pre-signed responses stored
    before the shared vocabulary said "good": both read as VALID, anything else is refused."""
    from policies.status import CertStatus

    assert CertStatus("valid") is CertStatus("good") is CertStatus.VALID
    assert [s.value for s in CertStatus.of_record()] == ["valid", "revoked"]
    with pytest.raises(ValueError):
        CertStatus("suspended")  # RFC 5280 certificateHold is not a status govca stores


def test_ca_and_ocsp_speak_the_same_classes() -> None:
    import ca.records
    import ca.status
    import ocsp.interfaces
    import policies.status

    for name in ("CertStatus", "StatusInfo", "ServedIssuer", "PresignedResponse"):
        assert getattr(ocsp.interfaces, name) is getattr(policies.status, name)
    assert ca.records.CertStatus is policies.status.CertStatus
    assert ca.status.StatusInfo is policies.status.StatusInfo
