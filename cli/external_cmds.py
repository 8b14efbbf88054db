"""`govca ca create-issuing --external` and `govca ca import-certificate`: an issuing CA certified by
a parent whose key is elsewhere (the national root, an offline root)."""
from __future__ import annotations

import os
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .admin import admin_of
from .ca_cmds import _ca_json, ca_group, pem_text
from .config import ConfigError
from .runtime import actor, emit, ts


def trust_anchors(admin) -> list[bytes]:  # type: ignore[no-untyped-def]
    """The DER certificates of ``signer.extra_roots``: the trust list (the national root, an offline root)."""
    out: list[bytes] = []
    for path in admin.cfg.signer.extra_roots:
        try:
            data = Path(path).read_bytes()
            out += [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(data)]
        except (OSError, ValueError) as exc:
            raise ConfigError(f"signer.extra_roots: {path}: not a readable PEM certificate file "
                              f"({str(exc).splitlines()[0][:100]})") from None
    return out


def write_new_file(path: Path, data: bytes) -> None:
    """Write a file that must not exist yet (a request is not silently replaced)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def request_external(ctx: click.Context, name: str, subject: str, key_type: str, csr_out: Path | None,
                     as_json: bool, successor_of: str | None = None) -> None:
    """The external branch of `ca create-issuing` (and of `ca rollover` under an external parent)."""
    from hsm import KeyType

    if csr_out is None:
        raise click.UsageError("--external needs --csr-out FILE (the request to send to the parent)")
    if csr_out.exists():
        raise click.UsageError(f"{csr_out} exists already: choose a new file for the request")
    if not csr_out.parent.is_dir():
        raise click.UsageError(f"{csr_out.parent} is not a directory")
    svc = admin_of(ctx).ca
    pending, der = svc.request_issuing(name=name, subject=subject, key_type=KeyType(key_type), actor=actor(),
                                       successor_of=successor_of)
    write_new_file(csr_out, pem_text(der, "CERTIFICATE REQUEST").encode())
    emit({"name": pending.name, "state": "pending", "subject": pending.subject, "key_type": pending.key_type,
          "key_uri": pending.key_uri, "request": str(csr_out), "successor_of": successor_of}, as_json,
         f"issuing CA {name} is pending: key {pending.key_uri} in the CA token; request written to {csr_out}.\n"
         f"Send it to the parent CA, then: govca ca import-certificate --name {name} --certificate FILE "
         "--chain FILE")


@ca_group.command("import-certificate")
@click.option("--name", required=True, help="the pending CA")
@click.option("--certificate", "cert_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the certificate the parent returned (PEM or DER)")
@click.option("--chain", "chain_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the parent's CA certificates up to its root (PEM)")
@click.option("--parent-name", help="name to record the parent CA under (default: from its CN)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ca_import_certificate(ctx, name, cert_file, chain_file, parent_name, as_json):  # type: ignore[no-untyped-def]
    """Install the certificate an external parent returned for a pending CA (checked first:
    its key, CA:TRUE and keyUsage, validity, pkilint, and a path to a signer.extra_roots anchor)."""
    admin = admin_of(ctx)
    ca = admin.ca.import_certificate(name=name, certificate=cert_file.read_bytes(), chain=chain_file.read_bytes(),
                                     anchors=trust_anchors(admin), actor=actor(), parent_name=parent_name)
    emit(_ca_json(ca), as_json, f"issuing CA {ca.name} is active under {ca.parent_name}: {ca.subject}, "
                                f"serial {ca.serial_hex}, valid until {ts(ca.not_after)}")
