"""Settings: defaults, then a TOML file, then `STRATO_*` environment variables, then CLI flags.

Secrets may also come from files (`*_file` settings) so they stay out of the environment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV = "STRATO_CONFIG"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRATO_", extra="forbid")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, description="Port to listen on.")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1,
                         description="Worker processes (default: one per core).")
    data_dir: Path = Field(Path("./strato-data"),
                           description="Directory holding metadata, objects and state.")
    public_url: str | None = Field(
        None, description="External base URL for storage URLs and the service catalog "
        "(default: http://HOST:PORT).")
    region: str = Field("RegionOne", description="Region name in the service catalog.")
    token_ttl: int = Field(3600, description="Token lifetime in seconds.")
    fsync: bool = Field(True, description="fsync object data and metadata before "
                        "acknowledging writes. Leave on: off trades durability for speed.")
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")
    access_log: bool = Field(True, description="Write one access-log line per request.")
    operator_roles: list[str] = Field(["admin", "member"],
                                      description="Roles that own their project's account.")
    reseller_admin_role: str = Field("ResellerAdmin",
                                     description="Role that reaches every account.")
    reseller_prefixes: list[str] = Field(["AUTH_", "SERVICE_"], description="Account name "
                                         "prefixes: a project owns <prefix><project_id> for "
                                         "each; the first is the one in storage URLs.")
    service_roles: list[str] = Field(["SERVICE_:service"], description="PREFIX:ROLE pairs: "
                                     "owning an account under PREFIX also needs an "
                                     "X-Service-Token holding ROLE (any listed for it).")
    login_max_failures: int = Field(5, description="Failed logins of one user from one "
                                    "client before further attempts are refused.")
    login_lockout_seconds: int = Field(60, description="How long (seconds) a user+client "
                                       "stays refused after too many failed logins.")
    max_file_size: int = Field(5 * 1024**3 + 2, description="Largest single object in bytes.")
    expirer_interval: float = Field(30.0, description="Seconds between expirer passes.")
    sweep_interval: float = Field(3600.0,
                                  description="Seconds between orphan-blob sweeps.")
    sweep_min_age: float = Field(3600.0, description="An unreferenced blob or temp file must "
                                 "be at least this old (seconds) before the sweep removes it.")
    tempurl_methods: list[str] = Field(["GET", "HEAD", "PUT", "POST", "DELETE"],
                                       description="HTTP methods temp URLs may be signed for.")
    tempurl_allowed_digests: list[str] = Field(["sha1", "sha256", "sha512"],
                                               description="HMAC digests accepted in temp URL "
                                               "and form POST signatures.")
    cors_allow_origin: list[str] = Field([], description="Origins allowed for CORS on every "
                                         "container, besides each container's own list.")
    cors_expose_headers: list[str] = Field([], description="Extra response headers exposed "
                                           "to CORS requests.")
    ratelimit_account: float = Field(0.0, description="Container PUT/DELETE per second per "
                                     "account (0: no limit).")
    ratelimit_container: list[str] = Field([], description="Object writes per second per "
                                           "container as SIZE:RATE points, e.g. 100:50,1000:20 "
                                           "(empty: no limit).")
    ratelimit_container_listing: list[str] = Field([], description="Container listings per "
                                                   "second as SIZE:RATE points (empty: none).")
    ratelimit_max_sleep: float = Field(60.0, description="Longest a rate-limited request waits "
                                       "before it gets 498 instead.")
    ratelimit_whitelist: list[str] = Field([], description="Accounts never rate-limited.")
    ratelimit_blacklist: list[str] = Field([], description="Accounts refused every container "
                                           "and object request (497).")

    @field_validator("service_roles")
    @classmethod
    def _prefix_role_pairs(cls, value: list[str]) -> list[str]:
        for pair in value:
            _, sep, role = pair.partition(":")
            if not sep or not role.strip():
                raise ValueError(f"service role {pair!r} is not PREFIX:ROLE")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get(CONFIG_ENV)
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def to_env(self) -> dict[str, str]:
        """The settings as `STRATO_*` variables, so worker processes rebuild the same object."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(mode="json").items():
            if value is None:
                continue
            env[f"STRATO_{name.upper()}"] = (
                value if isinstance(value, str) else json.dumps(value))
        return env


def load_settings(**overrides: Any) -> Settings:
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
