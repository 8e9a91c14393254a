"""Which cloud to talk to, and as whom: explicit arguments, `OS_*` variables, and
`clouds.yaml` + `secure.yaml` found where openstacksdk looks for them and merged by its
rules, so files people already have work unchanged. Swift's own `ST_AUTH`/`ST_USER`/`ST_KEY`
select its v1.0 auth, as the `swift` command does."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from strato.client.auth import Auth, KeystoneAuth, PreAuth, SwiftV1Auth
from strato.client.errors import ConfigError

#: Keys that belong in a cloud's `auth` section even when written at its top level (as the
#: `OS_*` variables put them).
AUTH_KEYS = frozenset({
    "auth_url", "username", "user_id", "password", "project_name", "project_id",
    "user_domain_name", "user_domain_id", "project_domain_name", "project_domain_id",
    "domain_name", "domain_id", "token", "application_credential_id",
    "application_credential_name", "application_credential_secret", "system_scope",
    "default_domain_id", "default_domain_name",
})
#: Old spellings openstacksdk still accepts, and what they mean.
ALIASES = {"tenant_name": "project_name", "tenant_id": "project_id", "auth_token": "token"}  # nosec B105  # option names
#: `OS_*` variables that only choose among clouds; alone they make no cloud of their own.
SELECTORS = frozenset({"OS_CLOUD", "OS_REGION_NAME", "OS_CLIENT_CONFIG_FILE",
                       "OS_CLIENT_SECURE_FILE", "OS_CLOUD_NAME"})
SUFFIXES = (".yaml", ".yml", ".json")


def search_path() -> list[Path]:
    """openstacksdk's directories, in its order."""
    dirs = [Path.cwd(), Path(platformdirs.user_config_dir("openstack")),
            Path.home() / ".config" / "openstack",
            Path(platformdirs.site_config_dir("openstack")), Path("/etc/openstack")]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _candidates(stem: str, override: str | None) -> list[Path]:
    files = [d / (stem + suffix) for d in search_path() for suffix in SUFFIXES]
    return ([Path(override)] if override else []) + files


def _yaml(text: str) -> Any:
    """Parsed YAML; PyYAML is imported only when a file needs it (12 ms of every command's
    start otherwise, most of them with no clouds.yaml at all)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from exc


def _load_first(paths: list[Path]) -> tuple[Path | None, dict[str, Any]]:
    for path in paths:
        if path.is_file():
            text = path.read_text()
            try:
                doc = json.loads(text) if path.suffix == ".json" else _yaml(text)
            except ValueError as exc:
                raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
            if doc is not None and not isinstance(doc, dict):
                raise ConfigError(f"{path}: expected a mapping with a `clouds` key")
            return path, doc or {}
    return None, {}


def merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge, `over` winning (how secure.yaml is laid over clouds.yaml)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _environ_cloud(env: Mapping[str, str]) -> dict[str, Any] | None:
    keys = [k for k in env if k.startswith("OS_")
            and not k.startswith(("OS_TEST", "OS_STD", "OS_LOG"))]
    if not set(keys) - SELECTORS:
        return None
    return {k.split("_", 1)[1].lower(): env[k] for k in keys}


@dataclass(frozen=True)
class CloudConfig:
    """One resolved cloud: how to log in and which endpoints to use."""

    name: str | None
    auth_type: str
    auth: dict[str, str]
    region_name: str | None = None
    interface: str = "public"
    identity_api_version: str = "3"
    verify: bool | str = True
    endpoint_overrides: dict[str, str] = field(default_factory=dict)
    source: str | None = None

    def make_auth(self) -> Auth:
        a = self.auth
        if self.auth_type == "v1password":
            for key in ("auth_url", "username", "password"):
                if not a.get(key):
                    raise ConfigError(f"Swift v1.0 auth needs {key}")
            return SwiftV1Auth(a["auth_url"], a["username"], a["password"])
        if self.auth_type in ("token_endpoint", "admin_token", "none") or (
                a.get("token") and self.endpoint_overrides.get("object-store")
                and not a.get("auth_url")):
            url = self.endpoint_overrides.get("object-store")
            if not (a.get("token") and url):
                raise ConfigError("a pre-authenticated login needs a token and a storage URL")
            return PreAuth(a["token"], url)
        if not a.get("auth_url"):
            raise ConfigError("no auth URL: set auth_url in clouds.yaml, OS_AUTH_URL, "
                              "--os-auth-url, or ST_AUTH for Swift v1.0 auth")
        known = {k: v for k, v in a.items() if k in KeystoneAuth.__dataclass_fields__}
        version = "2.0" if self.auth_type.startswith("v2") else self.identity_api_version
        return KeystoneAuth(**known, version=version)


def _normalise(cloud: Mapping[str, Any]) -> dict[str, Any]:
    """Keys as openstacksdk reads them: `-` as `_`, old spellings mapped, auth keys moved
    into `auth` with top-level values (variables, arguments) winning."""
    flat = {str(k).replace("-", "_"): v for k, v in cloud.items()}
    auth = {str(k).replace("-", "_"): v for k, v in (flat.pop("auth", None) or {}).items()}
    auth = {ALIASES.get(k, k): v for k, v in auth.items()}
    for key in list(flat):
        target = ALIASES.get(key, key)
        if target in AUTH_KEYS:
            value = flat.pop(key)
            if value is not None:
                auth[target] = value
    for key in list(flat):
        if key.endswith("endpoint_type"):
            flat[key.replace("endpoint_type", "interface")] = flat.pop(key)
    flat["auth"] = {k: str(v) for k, v in auth.items() if v is not None}
    return flat


def _region(cloud: Mapping[str, Any]) -> str | None:
    if cloud.get("region_name"):
        return str(cloud["region_name"])
    regions = cloud.get("regions") or []
    if regions:
        first = regions[0]
        return str(first["name"] if isinstance(first, Mapping) else first)
    return None


def _verify(cloud: Mapping[str, Any]) -> bool | str:
    insecure = str(cloud.get("insecure", "")).lower() in ("1", "true", "yes", "on")
    verify = cloud.get("verify", True)
    if insecure or str(verify).lower() in ("0", "false", "no", "off"):
        return False
    return str(cloud["cacert"]) if cloud.get("cacert") else True


def _overrides(cloud: Mapping[str, Any]) -> dict[str, str]:
    """`object_store_endpoint_override: URL` (openstacksdk's form) and friends."""
    out = {}
    for key, value in cloud.items():
        if key.endswith("_endpoint_override") and value:
            out[key.removesuffix("_endpoint_override").replace("_", "-")] = str(value)
    if cloud.get("storage_url"):
        out["object-store"] = str(cloud["storage_url"])
    return out


def load_cloud(cloud: str | None = None, *, env: Mapping[str, str] | None = None,
               **arguments: Any) -> CloudConfig:
    """The cloud named `cloud` (or `OS_CLOUD`, or the environment's, or the only one in the
    files), with `arguments` (as clouds.yaml spells them) laid over it."""
    env = os.environ if env is None else env
    given = {k: v for k, v in arguments.items() if v is not None}
    if not cloud and not env.get("OS_CLOUD") and _swift_v1(env, given):
        return _v1_cloud(env, given)
    config_path, config = _load_first(_candidates("clouds", env.get("OS_CLIENT_CONFIG_FILE")))
    _, secure = _load_first(_candidates("secure", env.get("OS_CLIENT_SECURE_FILE")))
    if secure:
        config = merge(config, secure)
    clouds: dict[str, Any] = dict(config.get("clouds") or {})
    env_name = env.get("OS_CLOUD_NAME", "envvars")
    env_cloud = _environ_cloud(env)
    if env_cloud:
        if env_name in clouds:
            raise ConfigError(f"{config_path} defines a cloud named {env_name!r}, and the "
                              "OS_* variables make one of that name too")
        clouds[env_name] = env_cloud
    name = cloud or env.get("OS_CLOUD") or (env_name if env_cloud else None)
    if not name and len(clouds) == 1:
        name = next(iter(clouds))
    if name and name not in clouds:
        where = f" in {config_path}" if config_path else " (no clouds.yaml found)"
        raise ConfigError(f"cloud {name!r} not found{where}; known: "
                          f"{', '.join(sorted(clouds)) or 'none'}")
    chosen = _normalise(merge(clouds.get(name, {}) if name else {}, given))
    auth = chosen["auth"]
    auth_type = str(chosen.get("auth_type") or _infer_auth_type(auth))
    identity_version = str(chosen.get("identity_api_version") or "3")
    return CloudConfig(
        name=name, auth_type=auth_type, auth=auth, region_name=_region(chosen),
        interface=str(chosen.get("interface") or "public"),
        identity_api_version=identity_version, verify=_verify(chosen),
        endpoint_overrides=_overrides(chosen),
        source=str(config_path) if name and name != env_name else "environment")


def _infer_auth_type(auth: Mapping[str, str]) -> str:
    if auth.get("application_credential_secret"):
        return "v3applicationcredential"
    if auth.get("token") and not auth.get("password"):
        return "token"
    return "password"


def _swift_v1(env: Mapping[str, str], given: Mapping[str, Any]) -> bool:
    if given.get("auth_type") == "v1password":
        return True
    explicit_keystone = any(k in given for k in ("auth_url", "username", "password"))
    return bool(env.get("ST_AUTH")) and not explicit_keystone


def _v1_cloud(env: Mapping[str, str], given: Mapping[str, Any]) -> CloudConfig:
    auth = {"auth_url": given.get("auth_url") or env.get("ST_AUTH", ""),
            "username": given.get("username") or env.get("ST_USER", ""),
            "password": given.get("password") or env.get("ST_KEY", "")}
    # swift reads OS_CACERT with ST_* variables too
    tls = {"cacert": env["OS_CACERT"]} if env.get("OS_CACERT") else {}
    return CloudConfig(name=None, auth_type="v1password", auth=auth,
                       verify=_verify({**tls, **given}), source="environment (ST_*)")
