"""The composition root: configuration -> concrete backends -> services.

Custody by context: the CA token (``[hsm.ca]``) is built only for administrator commands that
need a CA signature; everything the running service uses comes from the service token
(``[hsm.service]``). A data directory with one ``[hsm]`` table names one token for both.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hsm import PinSource, Pkcs11Token, TokenConfig
from policies import PolicySettings, load_profiles

from .config import GovcaConfig, HsmConfig, load_config

if TYPE_CHECKING:
    from ca.service import CaService


def _token(cfg: GovcaConfig, hsm: HsmConfig, role: str) -> Pkcs11Token:
    return Pkcs11Token(TokenConfig(module=hsm.module, token_label=hsm.token_label,
                                   pin_source=PinSource.parse(hsm.pin_source, cfg.home),
                                   softhsm_conf=hsm.softhsm_conf, role=role))


def ca_token(cfg: GovcaConfig) -> Pkcs11Token:
    """The token of the root and issuing CA keys: opened only by administrator commands."""
    return _token(cfg, cfg.hsm_ca, "CA")


def service_token(cfg: GovcaConfig) -> Pkcs11Token:
    """The token of every key the running service uses (responders, TSA, seals, officials, MAC keys)."""
    return _token(cfg, cfg.hsm_service, "service")


def policy_settings(cfg: GovcaConfig) -> PolicySettings:
    return PolicySettings(base_url=cfg.base_url, agency_policy_oid=cfg.agency_policy_oid,
                          etsi_policy_oid=cfg.etsi_policy_oid)


def build_ca_service(home: Path, lint: bool = True) -> CaService:
    """The CA for administrator commands: CA signatures with the CA token, end-entity keys it
    generates in the service token. Neither token is logged in until a key is needed."""
    # Imported here: the CA workflow code (issuance, revocation, lint) is loaded by administrator
    # commands only; `govca serve` uses this module's token builders and never loads it.
    from ca.context import CaContext
    from ca.service import CaService
    from ca.storage.db import Database

    cfg = load_config(home)
    profiles = load_profiles(Path(cfg.profiles_file) if cfg.profiles_file else None)
    keys = ca_token(cfg)
    ctx = CaContext(db=Database(cfg.database_url), keys=keys, profiles=profiles, settings=policy_settings(cfg),
                    service_keys=keys if cfg.tokens_shared else service_token(cfg), lint=lint)
    return CaService(ctx)
