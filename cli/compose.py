"""The composition root: configuration -> concrete backends -> services."""
from __future__ import annotations

from pathlib import Path

from ca import CaContext, CaService, Database
from hsm import PinSource, Pkcs11Token, TokenConfig
from policies import PolicySettings, load_profiles

from .config import GovcaConfig, HsmConfig, load_config


def _token(cfg: GovcaConfig, hsm: HsmConfig) -> Pkcs11Token:
    return Pkcs11Token(TokenConfig(module=hsm.module, token_label=hsm.token_label,
                                   pin_source=PinSource.parse(hsm.pin_source, cfg.home),
                                   softhsm_conf=hsm.softhsm_conf))


def ca_token(cfg: GovcaConfig) -> Pkcs11Token:
    """The token of the root and issuing CA keys: opened only by administrator commands."""
    return _token(cfg, cfg.hsm_ca)


def service_token(cfg: GovcaConfig) -> Pkcs11Token:
    """The token of every key the running service uses (responders, TSA, seals, officials, MAC keys)."""
    return _token(cfg, cfg.hsm_service)


def token_from_config(cfg: GovcaConfig) -> Pkcs11Token:
    """Transitional: the service token (the same token as the CA's until `govca init` makes two)."""
    return service_token(cfg)


def policy_settings(cfg: GovcaConfig) -> PolicySettings:
    return PolicySettings(base_url=cfg.base_url, agency_policy_oid=cfg.agency_policy_oid,
                          etsi_policy_oid=cfg.etsi_policy_oid)


def build_ca_service(home: Path, lint: bool = True) -> CaService:
    cfg = load_config(home)
    profiles = load_profiles(Path(cfg.profiles_file) if cfg.profiles_file else None)
    ctx = CaContext(db=Database(cfg.database_url), keys=token_from_config(cfg), profiles=profiles,
                    settings=policy_settings(cfg), lint=lint)
    return CaService(ctx)
