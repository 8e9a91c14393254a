"""The client commands of `strato`: what `swift` users know (stat, list, upload, download,
delete, post, copy, tempurl, capabilities, auth) plus sync, share and image commands, over
HTTP against any Swift/OpenStack cloud.

Results go to stdout (`--json` for scripts), progress and errors to stderr. Exit codes:
0 ok, 1 error, 2 usage, 3 not found, 4 conflict, 5 authentication refused, 6 network
(the server could not be reached)."""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import re
import sys
from collections.abc import Awaitable, Callable
from http import HTTPStatus
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
    HTTPError,
    InsufficientStorage,
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


def open_cloud(ctx: click.Context, connections: int = 64) -> Cloud:
    """A Cloud from the command's options, `OS_*`/`ST_*` variables and clouds.yaml."""
    args = dict((ctx.obj or {}).get("cloud_args", {}))
    cloud = args.pop("cloud", None)
    st = {key: args.pop(key) for key in ("st_auth", "st_user", "st_key") if key in args}
    if st:
        args.update({"auth_type": "v1password", "auth_url": st.get("st_auth"),
                     "username": st.get("st_user"), "password": st.get("st_key")})
    config = load_cloud(cloud, **args)
    ctx.ensure_object(dict)["config"] = config
    return connect(config=config, connections=connections)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (it comes with the server extra): less client CPU
    per request, which is what many small transfers spend their time on."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(ctx: click.Context, work: Callable[[Cloud], Awaitable[T]], *,
        connections: int = 64) -> T:
    """Run `work` on the command's cloud; turn failures into one line and an exit code."""
    outcome: list[T] = []

    async def main() -> None:
        # the result stays out of the task: at its end asyncio.Runner formats the repr of
        # its SIGINT handler, which holds the task and so its result (5,000 downloads
        # made a 16 ms repr nobody read)
        async with open_cloud(ctx, connections) as cloud:
            outcome.append(await work(cloud))

    # The collector walks every object it tracks, again and again as a transfer makes
    # thousands more; what the start-up made (modules, classes) lives to the end, and so
    # does whatever is left when the command ends (the process exits): frozen, neither is
    # walked again, which spared 30-40 ms of a 5,000-file download.
    gc.freeze()
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(main())
            gc.freeze()
            return outcome[0]
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except ClientError as exc:
        fail(exc, ctx)
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    raise AssertionError("unreachable")


def fail(exc: ClientError, ctx: click.Context | None = None) -> None:
    """One line saying what went wrong, a hint where there is one, and the exit code."""
    code, hint = EXIT_ERROR, ""
    if isinstance(exc, Unauthorized):
        code = EXIT_AUTH
        hint = "check the user, password and project (or the token)" + tried(ctx)
    elif isinstance(exc, Forbidden):
        hint = "the user has no role that allows this"
    elif isinstance(exc, NotFound):
        code = EXIT_NOT_FOUND
    elif isinstance(exc, Conflict):
        code = EXIT_CONFLICT
    elif isinstance(exc, ConnectionFailed):
        code = EXIT_NETWORK
        hint = "is the server running, and the URL right?"
    elif isinstance(exc, InsufficientStorage):
        hint = "the cloud is out of space: free some (or ask its operator), then run it again"
    elif isinstance(exc, ConfigError):
        hint = "see `strato auth --help` for the ways to log in"
    click.echo(f"error: {message(exc)}" + (f"\n  hint: {hint}" if hint else ""), err=True)
    sys.exit(code)


def tried(ctx: click.Context | None) -> str:
    """Who logged in where, from which configuration (for the hint of a refused login)."""
    config = ((ctx.obj or {}) if ctx else {}).get("config")
    if config is None:
        return ""
    auth = config.auth
    who = auth.get("username") or auth.get("user_id") or \
        auth.get("application_credential_id") or "a token"
    scope = auth.get("project_name") or auth.get("project_id")
    where = auth.get("auth_url") or config.endpoint_overrides.get("object-store", "?")
    return (f"; tried {who}" + (f" in project {scope}" if scope else "") + f" at {where}"
            + (f" ({config.source})" if config.source else ""))


def message(exc: BaseException) -> str:
    """The error in one line: for an HTTP error, what was asked, the status and the
    server's words (HTML tags dropped) and request id."""
    if not isinstance(exc, HTTPError):
        return str(exc) or type(exc).__name__
    phrase = HTTPStatus(exc.status).phrase if exc.status in HTTPStatus._value2member_map_ \
        else ""
    detail = " ".join(re.sub(r"<[^>]+>", " ", exc.detail or "").split())
    if detail.lower().startswith(phrase.lower()):
        detail = detail[len(phrase):].strip(" .")
    text = f"{exc.method} {exc.url}: {exc.status} {phrase}".rstrip()
    text += f" ({detail})" if detail else ""
    return text + (f" [request id {exc.request_id}]" if exc.request_id else "")


def exit_code(exc: BaseException) -> int:
    """The exit code `fail` would give `exc` (for commands that report many failures)."""
    for kind, code in ((Unauthorized, EXIT_AUTH), (NotFound, EXIT_NOT_FOUND),
                       (Conflict, EXIT_CONFLICT), (ConnectionFailed, EXIT_NETWORK)):
        if isinstance(exc, kind):
            return code
    return EXIT_ERROR


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(fn)


def quiet_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-q", "--quiet", is_flag=True,
                        help="No progress bars and no per-file lines.")(fn)


UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str) -> int:
    """`1073741824`, `1G`, `64M`, `512K` or `1.5G` (powers of 1024, as `swift` reads them)."""
    raw = text.strip().upper().removesuffix("IB").removesuffix("B") or "0"
    unit = raw[-1] if raw[-1] in UNITS else ""
    try:
        value = float(raw[:-1] if unit else raw)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 1G, 64M, 1048576)") from None
    if value <= 0:
        raise click.BadParameter("a size must be positive")
    return int(value * UNITS[unit])


def human(size: float) -> str:
    """Sizes as `swift list --lh` prints them: 1023, 1.0K, 64M, 2.0G."""
    for unit in ("", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            return f"{int(size)}" if not unit else (
                f"{size:.1f}{unit}" if size < 10 else f"{round(size)}{unit}")
        size /= 1024
    raise AssertionError("unreachable")


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


#: The modules of the client commands beyond this one's, the transfers first: a command
#: imports the modules up to its own only (the others cost ~10 ms of a `download`'s start).
COMMAND_MODULES = ("cli_transfer", "cli_objects", "cli_share", "cli_image")


def register(group: click.Group, wanted: str | None = None) -> bool:
    """Add the client commands to `group`, module by module, stopping once `wanted` is
    there (None: all of them). True when every client command is in."""
    for command in (auth, capabilities):
        group.add_command(command)
    for name in COMMAND_MODULES:
        if wanted is not None and wanted in group.commands:
            return False
        module = importlib.import_module(f"strato.client.{name}")
        for command in module.COMMANDS:
            group.add_command(command)
    return True

