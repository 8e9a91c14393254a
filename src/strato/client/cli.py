"""The client commands of `strato`: what `swift` users know (stat, list, upload, download,
delete, post, copy, tempurl, capabilities, auth) plus sync, share and image commands, over
HTTP against any Swift/OpenStack cloud.

Results go to stdout (`--json` for scripts), progress and errors to stderr. Exit codes:
0 ok, 1 error, 2 usage, 3 not found, 4 conflict, 5 authentication refused, 6 network
(the server could not be reached)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from strato.client.cloud import Cloud, connect
from strato.client.config import load_cloud
from strato.client.errors import (
    ClientError,
    ConfigError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    NotFound,
    Unauthorized,
)

T = TypeVar("T")
EXIT_ERROR, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_AUTH, EXIT_NETWORK = 1, 3, 4, 5, 6

#: Options every client command takes, spelled as `swift` and `openstack` spell them, and
#: the clouds.yaml key each sets.
AUTH_OPTIONS: list[tuple[tuple[str, ...], str, str]] = [
    (("--os-auth-url",), "auth_url", "Keystone URL (or Swift v1.0 auth URL with -V 1)."),
    (("--os-username",), "username", "User name."),
    (("--os-user-id",), "user_id", "User id."),
    (("--os-password",), "password", "Password."),
    (("--os-project-name", "--os-tenant-name"), "project_name", "Project name."),
    (("--os-project-id", "--os-tenant-id"), "project_id", "Project id."),
    (("--os-user-domain-name",), "user_domain_name", "The user's domain."),
    (("--os-project-domain-name",), "project_domain_name", "The project's domain."),
    (("--os-application-credential-id",), "application_credential_id",
     "Application credential id."),
    (("--os-application-credential-secret",), "application_credential_secret",
     "Application credential secret."),
    (("--os-auth-token",), "token", "A token (with --os-storage-url: no login at all)."),
    (("--os-storage-url",), "object_store_endpoint_override",
     "Object storage URL, instead of the catalog's."),
    (("--os-region-name",), "region_name", "Region of the endpoints."),
    (("--os-interface",), "interface", "Endpoint interface: public, internal or admin."),
    (("--os-identity-api-version",), "identity_api_version", "Keystone version: 3 or 2.0."),
    (("--os-cacert",), "cacert", "CA bundle to verify TLS with."),
]


def cloud_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Login options; the values land in `ctx.obj["cloud_args"]` and are passed as one dict."""
    def keep(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None and value is not False:
            ctx.ensure_object(dict).setdefault("cloud_args", {})[param.name] = value
        return value

    options = [
        click.option("--os-cloud", "cloud", envvar="OS_CLOUD", default=None, expose_value=False,
                     callback=keep, help="Cloud in clouds.yaml [env OS_CLOUD]."),
        click.option("-A", "--auth", "st_auth", default=None, expose_value=False,
                     callback=keep, help="Swift v1.0 auth URL [env ST_AUTH]."),
        click.option("-U", "--user", "st_user", default=None, expose_value=False,
                     callback=keep, help="Swift v1.0 user, project:user [env ST_USER]."),
        click.option("-K", "--key", "st_key", default=None, expose_value=False, callback=keep,
                     help="Swift v1.0 key [env ST_KEY]."),
        click.option("--insecure", "insecure", is_flag=True, default=False,
                     expose_value=False, callback=keep, help="Do not verify TLS certificates."),
    ]
    for flags, key, help_text in AUTH_OPTIONS:
        options.append(click.option(*flags, key, default=None, expose_value=False,
                                    callback=keep, help=help_text))
    for option in reversed(options):
        fn = option(fn)
    return fn


def open_cloud(ctx: click.Context) -> Cloud:
    """A Cloud from the command's options, `OS_*`/`ST_*` variables and clouds.yaml."""
    args = dict((ctx.obj or {}).get("cloud_args", {}))
    cloud = args.pop("cloud", None)
    st = {key: args.pop(key) for key in ("st_auth", "st_user", "st_key") if key in args}
    if st:
        args.update({"auth_type": "v1password", "auth_url": st.get("st_auth"),
                     "username": st.get("st_user"), "password": st.get("st_key")})
    return connect(config=load_cloud(cloud, **args))


def run(ctx: click.Context, work: Callable[[Cloud], Awaitable[T]]) -> T:
    """Run `work` on the command's cloud; turn failures into one line and an exit code."""
    async def main() -> T:
        async with open_cloud(ctx) as cloud:
            return await work(cloud)

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except ClientError as exc:
        fail(exc, ctx)
    raise AssertionError("unreachable")


def fail(exc: ClientError, ctx: click.Context | None = None) -> None:
    """One line saying what went wrong, a hint where there is one, and the exit code."""
    code, hint = EXIT_ERROR, ""
    if isinstance(exc, Unauthorized):
        code = EXIT_AUTH
        hint = "check the user, password and project (or the token); `strato auth` shows " \
               "which cloud and user were tried"
    elif isinstance(exc, Forbidden):
        hint = "the user has no role that allows this"
    elif isinstance(exc, NotFound):
        code = EXIT_NOT_FOUND
    elif isinstance(exc, Conflict):
        code = EXIT_CONFLICT
    elif isinstance(exc, ConnectionFailed):
        code = EXIT_NETWORK
        hint = "is the server running, and the URL right?"
    elif isinstance(exc, ConfigError):
        hint = "see `strato auth --help` for the ways to log in"
    click.echo(f"error: {exc}" + (f"\n  hint: {hint}" if hint else ""), err=True)
    sys.exit(code)


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(fn)


def emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True) if as_json else text(data))


@click.command("auth")
@cloud_options
@json_option
@click.pass_context
def auth(ctx: click.Context, as_json: bool) -> None:
    """Log in and print the storage URL and token (as `swift auth` does)."""
    async def work(cloud: Cloud) -> dict[str, Any]:
        token = await cloud.token()
        return {"storage_url": await cloud.objects.storage_url(), "token": token.value,
                "expires_at": token.expires_at.isoformat() if token.expires_at else None,
                "project_id": token.project_id, "user_id": token.user_id,
                "cloud": cloud.config.name if cloud.config else None}

    info = run(ctx, work)
    emit(info, as_json, lambda i: f"export OS_STORAGE_URL={i['storage_url']}\n"
                                  f"export OS_AUTH_TOKEN={i['token']}")


@click.command("capabilities")
@cloud_options
@json_option
@click.pass_context
def capabilities(ctx: click.Context, as_json: bool) -> None:
    """What the cloud's object store offers (`/info`)."""
    caps = run(ctx, lambda cloud: cloud.objects.capabilities())

    def text(doc: dict[str, Any]) -> str:
        lines = []
        for section, values in sorted(doc.items()):
            lines.append(f"{section}:")
            if isinstance(values, dict):
                lines += [f"  {k}: {v}" for k, v in sorted(values.items())]
        return "\n".join(lines)

    emit(caps, as_json, text)


def register(group: click.Group) -> None:
    for command in (auth, capabilities):
        group.add_command(command)

