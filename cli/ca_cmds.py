"""`govca ca|cert|crl|profiles` commands (`govca hsm` is in hsm_cmds.py)."""
from __future__ import annotations

import base64
import dataclasses
import sys
from pathlib import Path

import click

from ca import CaService, CertStatus
from ca.context import utcnow
from hsm import KeyType
from workflows.revocation import revoke_certificate

from .admin import admin_of
from .runtime import actor, emit, ts

KEY_TYPES = click.Choice([k.value for k in KeyType])


def _service(ctx: click.Context) -> CaService:
    return admin_of(ctx).ca


def pem_text(der: bytes, label: str = "CERTIFICATE") -> str:
    body = base64.b64encode(der).decode()
    return "\n".join([f"-----BEGIN {label}-----", *(body[i:i + 64] for i in range(0, len(body), 64)),
                      f"-----END {label}-----", ""])


def _write_or_print(der: bytes, out: Path | None, pem: bool) -> None:
    _write_bytes(pem_text(der).encode() if pem else der, out)


def _write_bytes(data: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        out.write_bytes(data)
        click.echo(f"written to {out}", err=True)


def _ca_json(ca, now=None) -> dict:  # type: ignore[no-untyped-def]
    return {"name": ca.name, "parent": ca.parent_name, "profile": ca.profile, "subject": ca.subject,
            "serial": ca.serial_hex, "key_type": ca.key_type, "key_uri": ca.key_uri or None,
            "not_before": ca.not_before, "not_after": ca.not_after, "crl_number": ca.crl_number,
            "state": ca.shown_state(now or utcnow()).value}


def _pending_json(p) -> dict:  # type: ignore[no-untyped-def]
    return {"name": p.name, "parent": None, "profile": p.profile, "subject": p.subject, "serial": None,
            "key_type": p.key_type, "key_uri": p.key_uri, "not_before": None, "not_after": None,
            "crl_number": None, "state": "pending", "successor_of": p.successor_of}


def _cert_json(c) -> dict:  # type: ignore[no-untyped-def]
    return {"serial": c.serial_hex, "ca": c.ca_name, "profile": c.profile, "subject": c.subject,
            "not_before": c.not_before, "not_after": c.not_after, "status": c.status.value,
            "revoked_at": c.revoked_at, "revocation_reason": c.revocation_reason, "key_uri": c.key_uri}


# --- ca ------------------------------------------------------------------------------------------
@click.group("ca")
def ca_group() -> None:
    """The CA hierarchy."""


def _years_to_days(years: int | None) -> int | None:
    # A year is 365.25 days on average, so N years stay within the profiles' year-based ranges.
    return None if years is None else int(years * 365.25)


@ca_group.command("create-root")
@click.option("--name", required=True)
@click.option("--subject", required=True, help='"/C=TH/O=.../CN=..."')
@click.option("--key-type", type=KEY_TYPES, default="rsa4096", show_default=True)
@click.option("--validity-years", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ca_create_root(ctx, name, subject, key_type, validity_years, as_json):  # type: ignore[no-untyped-def]
    """Create a self-signed root CA whose key is generated in the HSM."""
    ca = _service(ctx).create_root(name=name, subject=subject, key_type=KeyType(key_type),
                                   actor=actor(), validity_days=_years_to_days(validity_years))
    emit(_ca_json(ca), as_json, f"root CA {ca.name} created: {ca.subject}, serial {ca.serial_hex}, "
                                f"valid until {ts(ca.not_after)}, key {ca.key_uri}")


@ca_group.command("create-issuing")
@click.option("--name", required=True)
@click.option("--parent", help="the parent CA in this data directory (not with --external)")
@click.option("--external", is_flag=True, help="the parent is elsewhere (national root, offline root): write a "
              "request to --csr-out; the CA stays pending until `ca import-certificate`")
@click.option("--csr-out", type=click.Path(dir_okay=False, path_type=Path), help="with --external: the request file")
@click.option("--subject", required=True)
@click.option("--key-type", type=KEY_TYPES, default="ec-p384", show_default=True)
@click.option("--validity-years", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ca_create_issuing(ctx, name, parent, external, csr_out, subject, key_type, validity_years, as_json):  # type: ignore[no-untyped-def]
    """Create an issuing CA, its key generated in the HSM: under PARENT here, or --external."""
    if external:
        if parent or validity_years:
            raise click.UsageError("with --external the parent decides; --parent and --validity-years do not apply")
        from .external_cmds import request_external

        return request_external(ctx, name, subject, key_type, csr_out, as_json)
    if parent is None:
        raise click.UsageError("give --parent NAME, or --external --csr-out FILE for a parent elsewhere")
    if csr_out is not None:
        raise click.UsageError("--csr-out goes with --external")
    ca = _service(ctx).create_issuing(name=name, parent=parent, subject=subject,
                                      key_type=KeyType(key_type), actor=actor(),
                                      validity_days=_years_to_days(validity_years))
    emit(_ca_json(ca), as_json, f"issuing CA {ca.name} created under {parent}: {ca.subject}, serial {ca.serial_hex}")


@ca_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ca_list(ctx, as_json):  # type: ignore[no-untyped-def]
    """List the CAs and their states: pending, active, retiring, external or expired."""
    svc = _service(ctx)
    now = utcnow()
    rows = [_ca_json(c, now) for c in svc.list_cas()] + [_pending_json(p) for p in svc.list_pending()]
    emit(rows, as_json, "\n".join(
        f"{r['name']:<20} {r['state']:<9} {r['profile']:<11} parent={r['parent'] or '-':<12} {r['key_type']:<8} "
        f"until {ts(r['not_after']):<20} {r['subject']}" for r in rows) or "no CAs yet")


@ca_group.command("export")
@click.argument("name")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--der", is_flag=True, help="DER instead of PEM")
@click.pass_context
def ca_export(ctx, name, out, der):  # type: ignore[no-untyped-def]
    """Export a CA certificate (PEM by default); for a pending CA, its PKCS#10 request."""
    svc = _service(ctx)
    if any(p.name == name for p in svc.list_pending()):
        request = svc.pending_request(name)
        data = request if der else pem_text(request, "CERTIFICATE REQUEST").encode()
        return _write_bytes(data, out)
    ca = svc.get_ca(name)
    _write_or_print(ca.certificate_der, out, not der)


# --- cert ----------------------------------------------------------------------------------------
@click.group("cert")
def cert_group() -> None:
    """End-entity certificates."""


@cert_group.command("issue")
@click.option("--ca", "ca_name", required=True)
@click.option("--profile", required=True)
@click.option("--csr", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--generate-key", type=KEY_TYPES, help="generate the subject's key in the HSM")
@click.option("--subject", help="subject in slash form (required with --generate-key; overrides the CSR's)")
@click.option("--validity-days", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def cert_issue(ctx, ca_name, profile, csr, generate_key, subject, validity_days, out, as_json):  # type: ignore[no-untyped-def]
    """Issue a certificate from a CSR, or for a key generated in the HSM."""
    if (csr is None) == (generate_key is None):
        raise click.UsageError("give exactly one of --csr or --generate-key")
    rec = _service(ctx).issue(ca_name=ca_name, profile_name=profile, actor=actor(),
                              csr=csr.read_bytes() if csr else None,
                              generate=KeyType(generate_key) if generate_key else None,
                              subject=subject, validity_days=validity_days)
    if out is not None:
        _write_or_print(rec.der, out, True)
    emit(_cert_json(rec), as_json, f"issued serial {rec.serial_hex} by {ca_name} ({profile}): {rec.subject}"
                                   + (f"\nkey: {rec.key_uri}" if rec.key_uri else ""))


@cert_group.command("revoke")
@click.option("--ca", "ca_name", required=True)
@click.argument("serial")
@click.option("--reason", required=True, help="RFC 5280 5.3.1 reason, e.g. keyCompromise, superseded")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def cert_revoke(ctx, ca_name, serial, reason, as_json):  # type: ignore[no-untyped-def]
    """Revoke a certificate; a fresh CRL is published and its OCSP responses re-signed at once."""
    done = revoke_certificate(admin_of(ctx), ca_name, serial, reason, actor())
    rec, crl = done.record, done.crl
    emit({**_cert_json(rec), "crl_number": crl.crl_number, "ocsp_resigned": done.resigned}, as_json,
         f"revoked {rec.serial_hex} ({reason}) at {ts(rec.revoked_at)}; CRL #{crl.crl_number} published; "
         f"{done.resigned} OCSP responses re-signed")


@cert_group.command("show")
@click.option("--ca", "ca_name", required=True)
@click.argument("serial")
@click.option("--pem", is_flag=True, help="print the certificate as PEM")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def cert_show(ctx, ca_name, serial, pem, as_json):  # type: ignore[no-untyped-def]
    """Show one certificate."""
    rec = _service(ctx).get_certificate(ca_name, serial)
    if pem:
        _write_or_print(rec.der, None, True)
        return
    data = _cert_json(rec)
    emit(data, as_json, "\n".join(f"{k:<18} {ts(v) if hasattr(v, 'tzinfo') else ('-' if v is None else v)}"
                                  for k, v in data.items()))


@cert_group.command("list")
@click.option("--ca", "ca_name")
@click.option("--status", type=click.Choice([s.value for s in CertStatus.of_record()]))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def cert_list(ctx, ca_name, status, as_json):  # type: ignore[no-untyped-def]
    """List certificates."""
    recs = _service(ctx).list_certificates(ca_name, CertStatus(status) if status else None)
    emit([_cert_json(r) for r in recs], as_json, "\n".join(
        f"{r.serial_hex}  {r.ca_name:<14} {r.profile:<10} {r.status.value:<8} until {ts(r.not_after)}  {r.subject}"
        for r in recs) or "no certificates")


# --- crl -----------------------------------------------------------------------------------------
@click.group("crl")
def crl_group() -> None:
    """Certificate revocation lists."""


@crl_group.command("generate")
@click.option("--ca", "ca_name", required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def crl_generate(ctx, ca_name, out, as_json):  # type: ignore[no-untyped-def]
    """Generate and publish the CA's full CRL (DER written with --out); partitions: `crl publish`."""
    crl = _service(ctx).generate_crl(ca_name, actor())
    if out is not None:
        out.write_bytes(crl.der)
    emit({"ca": ca_name, "crl_number": crl.crl_number, "this_update": crl.this_update,
          "next_update": crl.next_update, "out": str(out) if out else None}, as_json,
         f"CRL #{crl.crl_number} of {ca_name}: thisUpdate {ts(crl.this_update)}, nextUpdate {ts(crl.next_update)}"
         + (f", written to {out}" if out else ""))


@crl_group.command("publish")
@click.option("--ca", "ca_name", default=None, help="Only this CA (default: every CA whose key is here).")
@click.option("--max-age-hours", type=float, default=None,
              help="Skip a CRL published less than H hours ago (run hourly with e.g. 24).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def crl_publish(ctx, ca_name, max_age_hours, as_json):  # type: ignore[no-untyped-def]
    """Publish each CA's full CRL and every partition still needed (named by an unexpired
    certificate, or its newest CRL still within nextUpdate): the schedule's command."""
    import datetime as dt

    max_age = None if max_age_hours is None else dt.timedelta(hours=max_age_hours)
    done = _service(ctx).publish_crls(actor(), ca_name, max_age)
    emit([{"ca": c.ca_name, "partition": p, "crl_number": c.crl_number, "this_update": c.this_update,
           "next_update": c.next_update} for p, c in done], as_json,
         "\n".join(f"CRL #{c.crl_number} of {c.ca_name}{'/' + p if p else ''} until {ts(c.next_update)}"
                   for p, c in done) or "every CRL is fresh")


@crl_group.command("refresh")
@click.option("--max-age-hours", type=int, default=24, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def crl_refresh(ctx, max_age_hours, as_json):  # type: ignore[no-untyped-def]
    """Re-issue each CRL (full and partitions) older than --max-age-hours (run hourly): the same
    as `govca crl publish --max-age-hours H`."""
    import datetime as dt

    crls = _service(ctx).refresh_crls(actor(), dt.timedelta(hours=max_age_hours))
    emit([{"ca": c.ca_name, "crl_number": c.crl_number, "next_update": c.next_update} for c in crls], as_json,
         "\n".join(f"CRL #{c.crl_number} of {c.ca_name} until {ts(c.next_update)}" for c in crls)
         or "every CRL is fresh")


# --- profiles ------------------------------------------------------------------------------------
@click.group("profiles")
def profiles_group() -> None:
    """Certificate profiles (policies/data)."""


@profiles_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def profiles_list(ctx, as_json):  # type: ignore[no-untyped-def]
    from policies import load_profiles

    ps = load_profiles()
    emit([{"name": p.name, "kind": p.kind.value, "version": p.version, "description": p.description}
          for p in ps.profiles], as_json, "\n".join(f"{p.name:<12} v{p.version}  {p.description}" for p in ps.profiles))


@profiles_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def profiles_show(ctx, name, as_json):  # type: ignore[no-untyped-def]
    from policies import load_profiles

    p = load_profiles().get(name)
    data = dataclasses.asdict(p)
    emit(data, True if as_json else False, "\n".join(f"{k}: {v}" for k, v in data.items()))
