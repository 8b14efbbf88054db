"""`govca hsm` commands: what the tokens hold, per security context."""
from __future__ import annotations

import dataclasses

import click

from .compose import ca_token, service_token
from .config import load_config
from .runtime import emit, home_of


@click.group("hsm")
def hsm_group() -> None:
    """The PKCS#11 tokens: the CA token and the service token."""


@hsm_group.command("keys")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def hsm_keys(ctx, as_json):  # type: ignore[no-untyped-def]
    """Every key object of both tokens: token, label, id, class, type, and the sensitive/extractable
    flags the token reports. A data directory with one shared token lists it once."""
    cfg = load_config(home_of(ctx))
    tokens = [("shared", ca_token(cfg))] if cfg.tokens_shared else [("ca", ca_token(cfg)),
                                                                      ("service", service_token(cfg))]
    rows = [{"token": token.label, "context": context, **dataclasses.asdict(o)}
            for context, token in tokens for o in token.list_key_objects()]
    emit(rows, as_json, "\n".join(
        f"{r['token']:<16} {r['label']:<40} {r['object_class']:<8} {r['key_type']:<4} id={r['key_id']} "
        f"sensitive={'-' if r['sensitive'] is None else r['sensitive']} "
        f"extractable={'-' if r['extractable'] is None else r['extractable']}" for r in rows) or "no keys")
