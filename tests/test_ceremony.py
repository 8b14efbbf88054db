"""Issue 12, acceptance 4: an offline root made in a key ceremony (`govca ceremony run`) in a data
directory of its own, the online instance that imports what the ceremony produced (its issuing
certificate, `govca crl import` of the ARL) and serves the ARL, and the signed transcript that
`govca ceremony verify` (and OpenSSL alone) accepts, and refuses after any changed byte.

The ceremony file is docs/examples/ceremony.toml, as documented in docs/ceremony.md."""
from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from cryptography import x509

from cli.config import ConfigError
from conftest import REPO, Cli, make_home, run
from external_helpers import make_standin_root, trust

EXAMPLE = REPO / "docs" / "examples" / "ceremony.toml"
ROOT = "agency-root"
ISSUING_SUBJECT = "/C=TH/O=Example Agency/CN=Example Agency Issuing CA"


def _csr(out: Path, cn: str = "Example Agency Issuing CA", curve: str = "P-384") -> Path:
    """A PKCS#10 request made by OpenSSL (for ceremony steps that need only some request)."""
    r = run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{curve}", "-nodes",
             "-keyout", str(out.with_suffix(".key")), "-subj", f"/C=TH/O=Example Agency/CN={cn}", "-out", str(out)])
    assert r.returncode == 0, r.stderr
    return out


def _ceremony_dir(tmp_path: Path, text: str | None = None, name: str = "ceremony") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "ceremony.toml").write_text(text if text is not None else EXAMPLE.read_text())
    return d


def _keys(cli: Cli) -> list[dict]:
    return json.loads(cli("hsm", "keys", "--json").stdout)


def _audit(cli: Cli, action: str) -> list[dict]:
    return json.loads(cli("audit", "list", "--action", action, "--json").stdout)


# --- acceptance 4 ------------------------------------------------------------------------------
def test_acceptance4_ceremony_root_certifies_the_online_request_and_the_online_instance_serves_its_arl(
        tmp_path: Path, database_url: str | None) -> None:
    from cli.web import create_app

    online = Cli(make_home(tmp_path, database_url))
    cdir = _ceremony_dir(tmp_path)
    online("ca", "create-issuing", "--name", "issuing", "--external", "--subject", ISSUING_SUBJECT,
           "--key-type", "ec-p384", "--csr-out", str(cdir / "issuing.csr"))

    # The ceremony, in a data directory of its own that it creates and marks offline.
    offline = Cli(tmp_path / "offline-root")
    out = offline("ceremony", "run", str(cdir / "ceremony.toml")).output
    assert "3 steps done" in out
    assert "offline = true" in (offline.home / "govca.toml").read_text()
    r = offline("serve", ok=False)
    assert r.exit_code == 1 and "offline root's data directory" in r.output and "never served" in r.output
    with pytest.raises(ConfigError, match="offline root's data directory"):  # nor by a WSGI server started by hand
        create_app(offline.home)

    # The root key is in the offline directory's CA token only.
    root_key = [k for k in _keys(offline) if k["label"].startswith("root-ca-")]
    assert {(k["token"], k["object_class"]) for k in root_key} == {("govca-ca", "private"), ("govca-ca", "public")}
    private = next(k for k in root_key if k["object_class"] == "private")
    assert private["sensitive"] is True and private["extractable"] is False
    online_keys = _keys(online)
    assert not [k for k in online_keys if k["label"].startswith("root-ca-") or k["key_id"] == private["key_id"]]

    # The online instance imports the certificate (root PEM in its trust list) and the ARL.
    trust(online.home, cdir / "agency-root.pem")
    # The certificate's CRL distribution point is this instance's /crl/<root>.crl: the root is
    # recorded under that name, so the URL serves its ARL; another name is refused.
    wrong = online("ca", "import-certificate", "--name", "issuing", "--certificate", str(cdir / "issuing.pem"),
                   "--chain", str(cdir / "agency-root.pem"), "--parent-name", "other-root", ok=False)
    assert wrong.exit_code == 1 and f"must be recorded as '{ROOT}', not 'other-root'" in wrong.output
    online("ca", "import-certificate", "--name", "issuing", "--certificate", str(cdir / "issuing.pem"),
           "--chain", str(cdir / "agency-root.pem"))
    listed = {c["name"]: c for c in json.loads(online("ca", "list", "--json").stdout)}
    assert listed[ROOT]["state"] == "external" and listed["issuing"]["state"] == "active"
    assert listed["issuing"]["parent"] == ROOT
    arl = (cdir / "agency-root.arl").read_bytes()
    done = json.loads(online("crl", "import", "--ca", ROOT, str(cdir / "agency-root.arl"), "--json").stdout)
    assert done["stored"] is True and done["crl_number"] == x509.load_der_x509_crl(arl).extensions.get_extension_for_class(
        x509.CRLNumber).value.crl_number
    served = create_app(online.home).test_client().get(f"/crl/{ROOT}.crl")
    assert served.status_code == 200 and served.content_type == "application/pkix-crl" and served.data == arl
    # The issuing CA's certificate names that URL as its CRL distribution point (RFC 5280 4.2.1.13).
    issuing = x509.load_pem_x509_certificate((cdir / "issuing.pem").read_bytes())
    dp = issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert dp[0].full_name[0].value == f"http://pki.example.com/crl/{ROOT}.crl"
    # No OCSP URL: nothing online answers for the offline root (RFC 6960 4.2.2.2); caIssuers stays.
    aia = issuing.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [a.access_method._name for a in aia] == ["caIssuers"]
    # openssl verifies the issuing certificate against the ceremony's root and its ARL.
    r = run(["openssl", "verify", "-x509_strict", "-crl_check", "-CAfile", str(cdir / "agency-root.pem"),
             "-CRLfile", str(_pem_crl(cdir / "agency-root.arl", tmp_path)), str(cdir / "issuing.pem")])
    assert r.returncode == 0, r.stdout + r.stderr

    # The transcript verifies, against the expected root, and the outputs still match.
    transcript = cdir / "ceremony-transcript.txt"
    v = Cli(tmp_path / "nowhere")("ceremony", "verify", str(transcript), "--root-certificate",
                                  str(cdir / "agency-root.pem"), "--check-outputs", "--json")
    report = json.loads(v.stdout)
    assert report["ok"] and report["outcome"] == "completed" and [s["action"] for s in report["steps"]] == [
        "generate-root", "certify-issuing", "sign-arl"]
    assert {f["state"] for f in report["files"]} == {"matches"}
    assert not (tmp_path / "nowhere").exists()  # verification needs no data directory

    # `crl import` refusals change nothing: the served ARL stays, each refusal is audited.
    other = make_standin_root(tmp_path / "other", "http://pki.example.com/crl/other.crl")
    garbage = tmp_path / "garbage.crl"
    garbage.write_bytes(b"\x30\x03\x02\x01\x00 not a CRL")
    wrong = tmp_path / "wrong-signer.crl"
    other.crl(wrong)
    refusals = [(ROOT, garbage, "not a DER or PEM CRL"),
                (ROOT, wrong, "RFC 5280 6.3.3 (b)(1)"),
                ("issuing", cdir / "agency-root.arl", "it signs its own CRLs"),
                ("nosuch", cdir / "agency-root.arl", "nosuch")]
    before = len(_audit(online, "crl.import"))
    for ca_name, path, message in refusals:
        r = online("crl", "import", "--ca", ca_name, str(path), ok=False)
        assert r.exit_code == 1 and message in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1
    records = _audit(online, "crl.import")
    assert len(records) == before + len(refusals) and {a["outcome"] for a in records[-len(refusals):]} == {"refused"}
    assert create_app(online.home).test_client().get(f"/crl/{ROOT}.crl").data == arl


def _pem_crl(der: Path, tmp_path: Path) -> Path:
    out = tmp_path / (der.stem + "-crl.pem")
    r = run(["openssl", "crl", "-inform", "DER", "-in", str(der), "-out", str(out)])
    assert r.returncode == 0, r.stderr
    return out


# --- the offline root over two ceremonies (SQLite: the offline side always is) -------------------
@pytest.fixture(scope="module")
def two_ceremonies(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Ceremony 1 makes the root, certifies two requests and signs an ARL; ceremony 2, a later one
    on the same offline directory, revokes the second issuing CA and signs a newer ARL."""
    tmp = tmp_path_factory.mktemp("offline")
    first = _ceremony_dir(tmp, EXAMPLE.read_text().replace('action = "sign-arl"', (
        'action = "certify-issuing"\nrequest = "second.csr"\ncertificate_out = "second.pem"\nvalidity_years = 10\n\n'
        '[[step]]\naction = "sign-arl"')), "first")
    _csr(first / "issuing.csr")
    _csr(first / "second.csr", "Example Agency Second Issuing CA")
    offline = Cli(tmp / "offline-root")
    offline("ceremony", "run", str(first / "ceremony.toml"))
    second = tmp / "second"
    second.mkdir()
    shutil.copy(first / "second.pem", second / "second.pem")
    (second / "ceremony.toml").write_text(
        '[ceremony]\nname = "Example Agency ceremony 2: revoke the second issuing CA"\nroot = "agency-root"\n'
        'base_url = "http://pki.example.com"\ntranscript = "transcript-2.txt"\noperators = ["สมชาย ใจดี"]\n'
        'witnesses = ["Witness Three"]\n\n[[step]]\naction = "revoke"\ncertificate = "second.pem"\n'
        'reason = "superseded"\n\n[[step]]\naction = "sign-arl"\narl_out = "agency-root-2.arl"\n')
    offline("ceremony", "run", str(second / "ceremony.toml"))
    return {"tmp": tmp, "first": first, "second": second, "offline": offline}


def test_a_later_ceremony_revokes_an_issuing_ca_and_its_newer_arl_lists_it(two_ceremonies: dict) -> None:
    first, second = two_ceremonies["first"], two_ceremonies["second"]
    arl1 = x509.load_der_x509_crl((first / "agency-root.arl").read_bytes())
    arl2 = x509.load_der_x509_crl((second / "agency-root-2.arl").read_bytes())
    n = lambda c: c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number  # noqa: E731
    assert n(arl2) > n(arl1)  # RFC 5280 5.2.3: monotonically increasing
    revoked = x509.load_pem_x509_certificate((second / "second.pem").read_bytes()).serial_number
    kept = x509.load_pem_x509_certificate((first / "issuing.pem").read_bytes()).serial_number
    assert arl2.get_revoked_certificate_by_serial_number(revoked) is not None
    assert arl2.get_revoked_certificate_by_serial_number(kept) is None
    assert arl1.get_revoked_certificate_by_serial_number(revoked) is None
    v = json.loads(Cli(two_ceremonies["tmp"] / "x")("ceremony", "verify", str(second / "transcript-2.txt"),
                                                   "--root-certificate", str(first / "agency-root.pem"),
                                                   "--json").stdout)
    assert [s["action"] for s in v["steps"]] == ["revoke", "sign-arl"] and v["witnesses"] == ["Witness Three"]
    assert v["operators"] == ["สมชาย ใจดี"]  # UTF-8 in the signed body
    assert v["steps"][0]["inputs"][0]["file"] == "second.pem"


def test_crl_import_refuses_an_older_arl_of_the_same_root_rfc5280_5_2_3(two_ceremonies: dict, tmp_path: Path) -> None:
    first, second = two_ceremonies["first"], two_ceremonies["second"]
    online = Cli(make_home(tmp_path))
    csr = tmp_path / "ext.csr"
    online("ca", "create-issuing", "--name", "issuing", "--external", "--subject", ISSUING_SUBJECT,
           "--key-type", "ec-p384", "--csr-out", str(csr))
    # Certified by the same offline root in a third ceremony: the online instance needs the root recorded.
    third = _ceremony_dir(tmp_path, '[ceremony]\nname = "3"\nroot = "agency-root"\nbase_url = "http://pki.example.com"\n'
                                    'transcript = "t3.txt"\noperators = ["Operator One"]\nwitnesses = ["Witness One"]\n'
                                    '[[step]]\naction = "certify-issuing"\nrequest = "ext.csr"\n'
                                    'certificate_out = "ext.pem"\n', "third")
    shutil.copy(csr, third / "ext.csr")
    two_ceremonies["offline"]("ceremony", "run", str(third / "ceremony.toml"))
    trust(online.home, first / "agency-root.pem")
    online("ca", "import-certificate", "--name", "issuing", "--certificate", str(third / "ext.pem"),
           "--chain", str(first / "agency-root.pem"), "--parent-name", ROOT)
    online("crl", "import", "--ca", ROOT, str(second / "agency-root-2.arl"))
    again = json.loads(online("crl", "import", "--ca", ROOT, str(second / "agency-root-2.arl"), "--json").stdout)
    assert again["stored"] is False  # the same ARL twice: held already, nothing new
    r = online("crl", "import", "--ca", ROOT, str(first / "agency-root.arl"), ok=False)
    assert r.exit_code == 1 and "lower than" in r.output and "RFC 5280 5.2.3" in r.output
    from cli.web import create_app

    served = create_app(online.home).test_client().get(f"/crl/{ROOT}.crl").data
    assert served == (second / "agency-root-2.arl").read_bytes()


def test_transcript_verifies_with_openssl_alone(two_ceremonies: dict, tmp_path: Path) -> None:
    first = two_ceremonies["first"]
    data = (first / "ceremony-transcript.txt").read_bytes()
    begin = b"-----BEGIN GOVCA CEREMONY SIGNATURE-----\n"
    body, armour = data[:data.index(b"\n" + begin) + 1], data[data.index(b"\n" + begin) + 1:]
    (tmp_path / "body.json").write_bytes(body)
    (tmp_path / "sig.b64").write_bytes(b"".join(armour.splitlines(keepends=True)[1:-1]))
    digest = json.loads(body)["signature"]["digest"]
    r = run(["openssl", "base64", "-d", "-in", str(tmp_path / "sig.b64"), "-out", str(tmp_path / "sig.der")])
    assert r.returncode == 0, r.stderr
    r = run(["openssl", "x509", "-in", str(first / "agency-root.pem"), "-pubkey", "-noout",
             "-out", str(tmp_path / "root.pub")])
    assert r.returncode == 0, r.stderr
    r = run(["openssl", "dgst", f"-{digest}", "-verify", str(tmp_path / "root.pub"), "-signature",
             str(tmp_path / "sig.der"), str(tmp_path / "body.json")])
    assert r.returncode == 0 and "Verified OK" in r.stdout, r.stdout + r.stderr
    (tmp_path / "body.json").write_bytes(body.replace(b"Operator One", b"Operator 0ne"))
    r = run(["openssl", "dgst", f"-{digest}", "-verify", str(tmp_path / "root.pub"), "-signature",
             str(tmp_path / "sig.der"), str(tmp_path / "body.json")])
    assert r.returncode != 0


def test_transcript_records_times_hashes_names_and_the_key_attributes_the_token_reports(two_ceremonies: dict) -> None:
    import hashlib

    first = two_ceremonies["first"]
    content = json.loads((first / "ceremony-transcript.txt").read_text().split("-----BEGIN GOVCA")[0])
    assert content["operators"] == ["Operator One"] and content["witnesses"] == ["Witness One", "Witness Two"]
    assert content["ceremony"]["file_sha256"] == hashlib.sha256((first / "ceremony.toml").read_bytes()).hexdigest()
    assert content["data_directory_initialised_by_this_ceremony"] is True
    for step in content["steps"]:
        assert step["started_at"] <= step["ended_at"] and step["outcome"] == "done"
        for f in step["inputs"] + step["outputs"]:
            assert f["sha256"] == hashlib.sha256((first / f["file"]).read_bytes()).hexdigest()
    key = content["root"]["key"]
    # PKCS#11 2.40 4.9: a key generated sensitive and never extractable stays so (ALWAYS_/NEVER_).
    assert key["CKA_SENSITIVE"] and key["CKA_ALWAYS_SENSITIVE"] and key["CKA_NEVER_EXTRACTABLE"]
    assert key["CKA_EXTRACTABLE"] is False and key["token_label"] == "govca-ca" and key["token_serial"]
    held = [k for k in _keys(two_ceremonies["offline"]) if k["object_class"] == "private"
            and k["label"] == key["key_label"]]
    assert [k["key_id"] for k in held] == [key["key_id"]]
    cert = base64.b64decode(content["root"]["certificate"])
    assert cert == x509.load_pem_x509_certificate((first / "agency-root.pem").read_bytes()).public_bytes(
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER)


def test_transcript_is_rejected_after_any_byte_of_it_is_changed(two_ceremonies: dict, tmp_path: Path) -> None:
    """Every byte position, flipped two ways (low bit, and to a space or 'A'): body, armour and
    signature. Then truncation and an appended byte; then a few through the CLI."""
    from ca.ceremony_transcript import TranscriptError, verify

    data = (two_ceremonies["second"] / "transcript-2.txt").read_bytes()
    verify(data)  # the untouched transcript verifies
    accepted = []
    for i in range(len(data)):
        for new in (data[i] ^ 0x01, 0x20 if data[i] != 0x20 else 0x41):
            try:
                verify(data[:i] + bytes([new]) + data[i + 1:])
                accepted.append((i, new))
            except TranscriptError:
                pass
    assert accepted == []
    for changed in (data[:-1], data + b"\n", data + b" ", data[:len(data) // 2], b"\n" + data, data.replace(
            b"\n", b"\r\n")):
        with pytest.raises(TranscriptError):
            verify(changed)
    cli = Cli(tmp_path / "nowhere")
    end = data.index(b"-----END")
    for i in (5, data.index(b"Witness Three") + 2, data.index(b"-----BEGIN") + 3, end - 10, end + 4):
        path = tmp_path / f"changed-{i}.txt"
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:])
        r = cli("ceremony", "verify", str(path), ok=False)
        assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1, r.output


def test_verify_refuses_a_transcript_signed_by_another_root_than_expected(two_ceremonies: dict, tmp_path: Path) -> None:
    other = make_standin_root(tmp_path / "other", "http://pki.example.com/crl/other.crl")
    r = Cli(tmp_path / "x")("ceremony", "verify", str(two_ceremonies["first"] / "ceremony-transcript.txt"),
                            "--root-certificate", str(other.cert), ok=False)
    assert r.exit_code == 1 and "not the expected root certificate" in r.output


def test_verify_check_outputs_refuses_a_changed_output(two_ceremonies: dict, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(two_ceremonies["first"], copy)
    (copy / "issuing.pem").write_bytes((copy / "issuing.pem").read_bytes() + b"\n")
    (copy / "agency-root.arl").unlink()
    cli = Cli(tmp_path / "x")
    r = cli("ceremony", "verify", str(copy / "ceremony-transcript.txt"), "--check-outputs", ok=False)
    assert r.exit_code == 1 and "issuing.pem" in r.output and "has changed" in r.output
    (copy / "issuing.pem").write_bytes((two_ceremonies["first"] / "issuing.pem").read_bytes())
    report = json.loads(cli("ceremony", "verify", str(copy / "ceremony-transcript.txt"), "--check-outputs",
                            "--json").stdout)
    assert {f["file"]: f["state"] for f in report["files"]}["agency-root.arl"] == "absent"


# --- refusals before any step ------------------------------------------------------------------
BAD_FILES = [
    ('operators = ["Operator One"]', 'operators = ["Operator One"]\nlocation = "x"', "unknown key(s) location"),
    ('action = "sign-arl"', 'action = "sign-arl"\nformat = "pem"', "step 3 (sign-arl): unknown key(s) format"),
    ('action = "sign-arl"', 'action = "sign-crl"', "step 3: action 'sign-crl' is not one of"),
    ('request = "issuing.csr"', 'request = "missing.csr"', "input file missing.csr does not exist"),
    ('certificate_out = "issuing.pem"', 'certificate_out = "ceremony.toml"', "exists already"),
    ('certificate_out = "issuing.pem"', 'certificate_out = "agency-root.pem"', "written twice"),
    ('root = "agency-root"', 'root = "Agency Root"', "lower-case letters"),
    ('key_type = "ec-p384"', 'key_type = "ec-p256"', "key_type 'ec-p256' is not one of"),
    ('validity_years = 20', 'validity_years = true', "validity_years must be a whole number"),
    ('validity_years = 20', 'validity_years = 30', "validity_years 30 (10957 days) is outside 7300-9132 days"),
    ('validity_years = 10', 'validity_years = 20', "validity_years 20 (7305 days) is outside 3650-5845 days"),
    ('subject = "/C=TH/O=Example Agency/CN=Example Agency Root CA"', 'subject = "C=TH, CN=x"', "subject"),
    ('witnesses = ["Witness One", "Witness Two"]', 'witnesses = ["Operator One"]', "both operator and witness"),
    ('witnesses = ["Witness One", "Witness Two"]', 'witnesses = []', "witnesses must list at least one name"),
    ('base_url = "http://pki.example.com"', 'base_url = "https://pki.example.com"', "plain http://"),
    ('request = "issuing.csr"', 'request = "garbage.csr"', "malformed CSR"),
    ('request = "issuing.csr"', 'request = "p256.csr"', "request p256.csr"),
    ('transcript = "ceremony-transcript.txt"', 'transcript = "no-such-dir/t.txt"', "does not exist"),
]


@pytest.mark.parametrize("old,new,message", BAD_FILES, ids=[m for _, _, m in BAD_FILES])
def test_a_bad_ceremony_file_is_refused_before_any_step(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = EXAMPLE.read_text()
    assert old in text
    cdir = _ceremony_dir(tmp_path, text.replace(old, new, 1))
    _csr(cdir / "issuing.csr")
    _csr(cdir / "p256.csr", curve="P-256")  # the issuing-CA profile wants P-384 or RSA
    (cdir / "garbage.csr").write_bytes(b"-----BEGIN CERTIFICATE REQUEST-----\ngarbage\n")
    before = sorted(p.name for p in cdir.iterdir())
    r = Cli(tmp_path / "offline-root")("ceremony", "run", str(cdir / "ceremony.toml"), ok=False)
    assert r.exit_code == 1 and message in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "offline-root").exists()  # nothing done: not even the data directory
    assert sorted(p.name for p in cdir.iterdir()) == before


def test_a_ceremony_is_refused_in_an_online_data_directory(tmp_path: Path) -> None:
    online = Cli(make_home(tmp_path))
    cdir = _ceremony_dir(tmp_path)
    _csr(cdir / "issuing.csr")
    r = online("ceremony", "run", str(cdir / "ceremony.toml"), ok=False)
    assert r.exit_code == 1 and "not marked offline" in r.output
    assert json.loads(online("ca", "list", "--json").stdout) == [] and _keys(online) == []
    assert [a["outcome"] for a in _audit(online, "ceremony.run")] == ["refused"]
    assert not (cdir / "ceremony-transcript.txt").exists()


def test_a_ceremony_on_the_existing_root_refuses_generate_root_again(two_ceremonies: dict, tmp_path: Path) -> None:
    cdir = _ceremony_dir(tmp_path)
    _csr(cdir / "issuing.csr")
    r = two_ceremonies["offline"]("ceremony", "run", str(cdir / "ceremony.toml"), ok=False)
    assert r.exit_code == 1 and "exists already" in r.output
    assert not (cdir / "ceremony-transcript.txt").exists() and not (cdir / "agency-root.pem").exists()
    last = _audit(two_ceremonies["offline"], "ceremony.run")[-1]
    assert last["outcome"] == "refused" and "exists already" in last["details"]["error"]


# --- a ceremony that stops -------------------------------------------------------------------------
def test_a_step_that_fails_stops_the_ceremony_and_its_signed_transcript_says_where_and_why(tmp_path: Path) -> None:
    # A serial the root never issued passes the file's checks (the root does not exist yet) and is
    # refused when the step runs.
    cdir = _ceremony_dir(tmp_path, EXAMPLE.read_text().replace('action = "sign-arl"', (
        'action = "revoke"\nserial = "0BADC0FFEE"\nreason = "superseded"\n\n[[step]]\naction = "sign-arl"')))
    _csr(cdir / "issuing.csr")
    offline = Cli(tmp_path / "offline-root")
    r = offline("ceremony", "run", str(cdir / "ceremony.toml"), ok=False)
    assert r.exit_code == 1 and "stopped at step 3 (revoke)" in r.output and "transcript written" in r.output
    assert (cdir / "agency-root.pem").exists() and (cdir / "issuing.pem").exists()
    assert not (cdir / "agency-root.arl").exists()  # step 4 never ran
    report = json.loads(Cli(tmp_path / "x")("ceremony", "verify", str(cdir / "ceremony-transcript.txt"),
                                            "--root-certificate", str(cdir / "agency-root.pem"), "--json").stdout)
    assert report["outcome"] == "stopped" and report["stopped"]["step"] == 3
    assert "0BADC0FFEE" in report["stopped"]["error"]
    assert [s["outcome"] for s in report["steps"]] == ["done", "done", "failed"]
    assert _audit(offline, "ceremony.run")[-1]["outcome"] == "failed"


def test_a_ceremony_stopped_before_the_root_key_existed_leaves_an_unsigned_transcript(two_ceremonies: dict,
                                                                                     tmp_path: Path) -> None:
    # A second root in the same offline directory, whose CA token PIN file is missing: generate-root
    # fails when it logs in to the CA token, before any key is made.
    offline = two_ceremonies["offline"]
    cdir = _ceremony_dir(tmp_path, '[ceremony]\nname = "n"\nroot = "second-root"\n'
                                   'base_url = "http://pki.example.com"\ntranscript = "t.txt"\n'
                                   'operators = ["Operator One"]\nwitnesses = ["Witness One"]\n\n[[step]]\n'
                                   'action = "generate-root"\nsubject = "/C=TH/O=Example Agency/CN=Second Root"\n'
                                   'key_type = "ec-p384"\nvalidity_years = 20\ncertificate_out = "second-root.pem"\n')
    pin = offline.home / "hsm" / "ca.pin"
    keys_before = _keys(offline)
    pin.rename(tmp_path / "ca.pin")
    try:
        r = offline("ceremony", "run", str(cdir / "ceremony.toml"), ok=False)
    finally:
        (tmp_path / "ca.pin").rename(pin)
    assert r.exit_code == 1 and "stopped at step 1 (generate-root)" in r.output, r.output
    assert _keys(offline) == keys_before and not (cdir / "second-root.pem").exists()
    data = (cdir / "t.txt").read_bytes()
    assert json.loads(data)["stopped"]["step"] == 1 and json.loads(data)["signature"] is None
    r = Cli(tmp_path / "x")("ceremony", "verify", str(cdir / "t.txt"), ok=False)
    assert r.exit_code == 1 and "no signature block" in r.output and "before a root key existed" in r.output


def test_the_signature_armour_is_parsed_strictly_canonical_base64_rfc4648_3_5(two_ceremonies: dict) -> None:
    """RFC 4648 3.5: the pad bits of the last base64 character are zero in a canonical encoding.
    A decoder that ignored them would accept a changed character as the same signature; whether
    a real signature has pad bits depends on its DER length, so this builds one that has."""
    import os

    from ca.ceremony_transcript import TranscriptError, verify

    data = (two_ceremonies["first"] / "ceremony-transcript.txt").read_bytes()
    body = data[:data.index(b"-----BEGIN GOVCA")]
    fake = os.urandom(103)  # 103 = 3 x 34 + 1: two pad characters, four pad bits
    text = base64.b64encode(fake)
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    armour = lambda ls: b"\n".join([b"-----BEGIN GOVCA CEREMONY SIGNATURE-----", *ls,  # noqa: E731
                                    b"-----END GOVCA CEREMONY SIGNATURE-----"]) + b"\n"
    with pytest.raises(TranscriptError, match="does not verify"):
        verify(body + armour(lines))
    last = lines[-1]
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    changed = last[:-3] + bytes([alphabet[alphabet.index(last[-3]) ^ 0x01]]) + last[-2:]
    assert base64.b64decode(b"".join(lines[:-1]) + changed) == fake  # the same bytes, another text
    with pytest.raises(TranscriptError, match="not canonical"):
        verify(body + armour(lines[:-1] + [changed]))
    with pytest.raises(TranscriptError, match="64 characters"):
        verify(body + armour([b"".join(lines)]))
