"""The composition root: configuration -> concrete backends -> services."""
from __future__ import annotations

from pathlib import Path

from ca import CaContext, CaService, Database
from hsm import PinSource, Pkcs11Token, TokenConfig
from policies import PolicySettings, load_profiles

from .config import GovcaConfig, load_config


def token_from_config(cfg: GovcaConfig) -> Pkcs11Token:
    return Pkcs11Token(TokenConfig(module=cfg.hsm.module, token_label=cfg.hsm.token_label,
                                   pin_source=PinSource.parse(cfg.hsm.pin_source, cfg.home),
                                   softhsm_conf=cfg.hsm.softhsm_conf))


def policy_settings(cfg: GovcaConfig) -> PolicySettings:
    return PolicySettings(base_url=cfg.base_url, agency_policy_oid=cfg.agency_policy_oid,
                          etsi_policy_oid=cfg.etsi_policy_oid)


def build_ca_service(home: Path, lint: bool = True) -> CaService:
    cfg = load_config(home)
    profiles = load_profiles(Path(cfg.profiles_file) if cfg.profiles_file else None)
    ctx = CaContext(db=Database(cfg.database_url), keys=token_from_config(cfg), profiles=profiles,
                    settings=policy_settings(cfg), lint=lint)
    return CaService(ctx)
