"""Cloud configuration resolves as openstacksdk resolves it, on the same files and variables:
a user's existing clouds.yaml, secure.yaml and OS_* variables work unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from openstack.config import loader

from strato.client.config import AUTH_KEYS, load_cloud
from strato.client.errors import ConfigError

CLOUDS = {"clouds": {
    "prod": {"auth": {"auth_url": "https://keystone.example:5000/v3", "username": "alice",
                      "project_name": "web", "user_domain_name": "Default",
                      "project_domain_name": "Default"},
             "region_name": "RegionTwo", "interface": "internal"},
    "legacy": {"auth": {"auth_url": "https://old.example/v2.0", "username": "bob",
                        "tenant_name": "ops"},
               "password": "from-top-level", "endpoint_type": "admin",
               "regions": ["west", "east"]},
    "robot": {"auth_type": "v3applicationcredential",
              "auth": {"auth_url": "https://keystone.example:5000/v3",
                       "application_credential_id": "abc123",
                       "application_credential_secret": "s3cret"}},
}}
SECURE = {"clouds": {"prod": {"auth": {"password": "hunter2"}}}}


def _sdk(cloud: str | None, **options: Any) -> dict[str, Any]:
    config = loader.OpenStackConfig(**options).get_one(cloud=cloud).config
    auth = {k: str(v) for k, v in config["auth"].items() if k in AUTH_KEYS}
    return {"auth": auth, "region_name": config.get("region_name") or None,
            "interface": config.get("interface"), "auth_type": config.get("auth_type")}


def _ours(cloud: str | None) -> dict[str, Any]:
    resolved = load_cloud(cloud)
    auth = {k: v for k, v in resolved.auth.items() if k in AUTH_KEYS}
    return {"auth": auth, "region_name": resolved.region_name,
            "interface": resolved.interface, "auth_type": resolved.auth_type}


@pytest.fixture
def files(clean_login_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = clean_login_env / "conf"
    where.mkdir()
    (where / "clouds.yaml").write_text(yaml.safe_dump(CLOUDS))
    (where / "secure.json").write_text(json.dumps(SECURE))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(where / "clouds.yaml"))
    monkeypatch.setenv("OS_CLIENT_SECURE_FILE", str(where / "secure.json"))
    return where


@pytest.mark.parametrize("cloud", ["prod", "legacy", "robot"])
def test_named_cloud_resolves_as_openstacksdk_does(files: Path, cloud: str) -> None:
    assert _ours(cloud) == _sdk(cloud)


def test_secure_file_supplies_the_password(files: Path) -> None:
    assert load_cloud("prod").auth["password"] == "hunter2"


def test_os_cloud_selects_and_os_variables_alone_make_a_cloud(
        files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_CLOUD", "legacy")
    assert _ours(None) == _sdk(None)
    monkeypatch.delenv("OS_CLOUD")
    for key, value in {"OS_AUTH_URL": "http://127.0.0.1:8080/identity", "OS_USERNAME": "carol",
                       "OS_PASSWORD": "pw", "OS_PROJECT_NAME": "lab",
                       "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_ID": "default",
                       "OS_REGION_NAME": "RegionOne", "OS_INTERFACE": "public"}.items():
        monkeypatch.setenv(key, value)
    ours, theirs = _ours(None), _sdk(None)
    assert ours == theirs
    assert ours["auth"]["username"] == "carol"


def test_the_only_cloud_in_the_file_is_the_default(clean_login_env: Path) -> None:
    (clean_login_env / "clouds.yaml").write_text(yaml.safe_dump(
        {"clouds": {"solo": CLOUDS["clouds"]["prod"]}}))   # found in the working directory
    assert load_cloud().name == "solo"
    # openstacksdk fixes its search path when imported, so it is told where the file is
    assert _ours(None) == _sdk(None, config_files=[str(clean_login_env / "clouds.yaml")])


def test_unknown_cloud_names_the_known_ones(files: Path) -> None:
    with pytest.raises(ConfigError, match=r"'nope' not found.*legacy, prod, robot"):
        load_cloud("nope")


def test_arguments_win_over_the_file(files: Path) -> None:
    resolved = load_cloud("prod", username="override", region_name="RegionNine")
    assert resolved.auth["username"] == "override"
    assert resolved.region_name == "RegionNine"


def test_swift_variables_select_v1_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ST_AUTH", "http://127.0.0.1:8080/auth/v1.0")
    monkeypatch.setenv("ST_USER", "demo:demo")
    monkeypatch.setenv("ST_KEY", "pw")
    resolved = load_cloud()
    assert resolved.auth_type == "v1password"
    assert resolved.auth["username"] == "demo:demo"
    assert resolved.verify is True


def test_ca_bundle_from_clouds_yaml_os_cacert_and_insecure(
        clean_login_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where swift and openstacksdk take a CA bundle: `cacert` in clouds.yaml, OS_CACERT for
    the OS_* and ST_* logins (not for a named cloud: openstacksdk ignores it there too), and
    `insecure` turning verification off."""
    clouds = clean_login_env / "clouds.yaml"
    clouds.write_text(yaml.safe_dump({"clouds": {
        "tls": {"auth": {"auth_url": "https://k.example/v3", "username": "a"},
                "cacert": "/etc/ca.pem"},
        "lax": {"auth": {"auth_url": "https://k.example/v3", "username": "a"},
                "insecure": True}}}))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    assert load_cloud("tls").verify == "/etc/ca.pem"
    assert load_cloud("lax").verify is False
    monkeypatch.setenv("OS_CACERT", "/etc/other.pem")
    assert load_cloud("tls").verify == "/etc/ca.pem"
    assert loader.OpenStackConfig().get_one(cloud="tls").cacert == "/etc/ca.pem"
    monkeypatch.setenv("ST_AUTH", "https://s.example/auth/v1.0")
    monkeypatch.setenv("ST_USER", "demo:demo")
    monkeypatch.setenv("ST_KEY", "pw")
    assert load_cloud().verify == "/etc/other.pem"
    monkeypatch.delenv("OS_CLIENT_CONFIG_FILE")
    for name in ("ST_AUTH", "ST_USER", "ST_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("OS_AUTH_URL", "https://k.example/v3")
    monkeypatch.setenv("OS_USERNAME", "a")
    assert load_cloud().verify == "/etc/other.pem"


def test_broken_file_is_a_clear_error(clean_login_env: Path) -> None:
    (clean_login_env / "clouds.yaml").write_text("clouds: [unclosed")
    with pytest.raises(ConfigError, match=r"clouds\.yaml: not valid YAML"):
        load_cloud()
