"""`strato cloud-config`: client configuration (clouds.yaml or `OS_*` exports) for a user
and project of a data directory, for openstacksdk, `openstack`, `swift` and rclone."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import click

from strato.domain.identity import DEFAULT_DOMAIN_ID, IdentityNotFound, IdentityService
from strato.server.cli import (
    EXIT_NOT_FOUND,
    _fail,
    _settings,
    _with_identity,
    config_option,
    data_dir_option,
)

__all__ = ["cloud_config"]


def _quote(value: str) -> str:
    """A YAML scalar: JSON strings are valid YAML, so no YAML library is needed."""
    return json.dumps(value)


@click.command("cloud-config")
@config_option
@data_dir_option
@click.option("--user", "user_name", required=True, help="User name.")
@click.option("--project", "project_name", required=True, help="Project to scope to.")
@click.option("--password", default=None, help="Password to include (omitted if not given).")
@click.option("--url", "base_url", default=None,
              help="External base URL of the server [default: from the settings].")
@click.option("--cloud", "cloud_name", default="strato", show_default=True,
              help="Name of the cloud entry.")
@click.option("--secure", "secure_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the password into this secure.yaml instead.")
@click.option("--cacert", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CA bundle that verifies the server's TLS certificate (one the clients do "
              "not already trust, such as a self-signed one).")
@click.option("--env", "as_env", is_flag=True, help="Print OS_* exports instead.")
@click.option("--v3-url", is_flag=True, help="Use the versioned auth URL .../identity/v3.")
@click.option("--no-domains", is_flag=True,
              help="Leave out the domain keys (the server defaults them to Default).")
def cloud_config(config: str | None, data_dir: Path | None, user_name: str,
                 project_name: str, password: str | None, base_url: str | None,
                 cloud_name: str, secure_file: Path | None, cacert: Path | None,
                 as_env: bool, v3_url: bool, no_domains: bool) -> None:
    """Print a clouds.yaml (or OS_* exports) for openstacksdk, openstack and swift.

    The user and project must exist in the data directory (in the Default domain)."""
    settings = _settings(config, data_dir=data_dir)

    async def check(identity: IdentityService) -> None:
        for kind, name, record in (
                ("user", user_name, await identity.store.get_user(
                    name=user_name, domain_id=DEFAULT_DOMAIN_ID)),
                ("project", project_name, await identity.store.get_project(
                    name=project_name, domain_id=DEFAULT_DOMAIN_ID))):
            if record is None:
                raise IdentityNotFound(f"{kind} {name!r} in domain Default")

    try:
        _with_identity(settings, check)
    except IdentityNotFound as exc:
        _fail(f"no such {exc}: `strato user list` and `strato project list` show what "
              "exists", EXIT_NOT_FOUND)
    base = (base_url or settings.base_url).rstrip("/")
    auth_url = f"{base}/identity/v3" if v3_url else f"{base}/identity"
    domains = {} if no_domains else {"user_domain_name": "Default",
                                     "project_domain_name": "Default"}
    if as_env:
        env = {"OS_AUTH_URL": f"{base}/identity/v3", "OS_IDENTITY_API_VERSION": "3",
               "OS_AUTH_VERSION": "3", "OS_USERNAME": user_name,
               "OS_PROJECT_NAME": project_name, "OS_USER_DOMAIN_NAME": "Default",
               "OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": settings.region,
               "OS_INTERFACE": "public"}
        if password is not None:
            env["OS_PASSWORD"] = password
        if cacert is not None:
            env["OS_CACERT"] = str(cacert.resolve())
        for key, value in env.items():
            click.echo(f"export {key}={shlex.quote(value)}")
        return
    if secure_file is not None and password is None:
        _fail("--secure needs --password")
    auth = {"auth_url": auth_url, "username": user_name, "project_name": project_name,
            **domains}
    lines = ["clouds:", f"  {cloud_name}:", "    auth:"]
    lines += [f"      {key}: {_quote(value)}" for key, value in auth.items()]
    if password is not None and secure_file is None:
        lines.append(f"      password: {_quote(password)}")
    lines += [f"    region_name: {_quote(settings.region)}", "    interface: public",
              "    identity_api_version: 3"]
    if cacert is not None:
        lines.append(f"    cacert: {_quote(str(cacert.resolve()))}")
    click.echo("\n".join(lines))
    if secure_file is not None:
        assert password is not None
        secure_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(secure_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"clouds:\n  {cloud_name}:\n    auth:\n"
                         f"      password: {_quote(password)}\n")
        click.echo(f"password written to {secure_file}", err=True)
