"""The `strato` command: `serve`, and identity and image administration on a data directory.

Results go to stdout, messages and errors to stderr. Exit codes: 0 ok, 1 error,
2 usage error (click), 3 not found, 4 already exists.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, get_args

import click
from pydantic import BaseModel, ValidationError

from strato import __version__
from strato.domain.identity import (
    DEFAULT_DOMAIN_ID,
    IdentityConflict,
    IdentityNotFound,
    IdentityService,
    Unauthorized,
)
from strato.server.datadir import (
    DataDirError,
    check_initialised,
    not_initialised,
    opened_identity,
)
from strato.server.settings import CONFIG_ENV, Settings, load_settings

T = TypeVar("T")
EXIT_NOT_FOUND = 3
EXIT_EXISTS = 4


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _settings(config: str | None, **overrides: Any) -> Settings:
    """The settings, or a one-line error naming the setting, its flag and variable."""
    if config:
        os.environ[CONFIG_ENV] = str(Path(config).resolve())
    source = os.environ.get(CONFIG_ENV)
    if source and not Path(source).is_file():
        _fail(f"config file {source} not found: fix --config (or {CONFIG_ENV})")
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        _fail("; ".join(_describe(error) for error in exc.errors()))
    except (tomllib.TOMLDecodeError, OSError) as exc:
        _fail(f"cannot read config file {source}: {exc}")
    raise AssertionError("unreachable")


def _describe(error: Any) -> str:
    """One pydantic error as `setting port (--port, STRATO_PORT): must be ...`."""
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return f"invalid settings: {message}"
    name = str(error["loc"][0])
    if error["type"] == "extra_forbidden":
        return (f"unknown setting {name!r} (from the config file or a STRATO_ variable): "
                "`strato serve --help` lists them")
    value = error.get("input")
    given = str(value) if isinstance(value, Path) else repr(value)
    given = given if len(given) <= 60 else given[:57] + "..."
    return (f"invalid setting {name} (--{name.replace('_', '-')}, STRATO_{name.upper()}) = "
            f"{given}: {message}")


def require_data_dir(settings: Settings) -> None:
    """Exit with a one-line error unless `settings.data_dir` is an initialised one."""
    try:
        check_initialised(settings)
    except DataDirError as exc:
        _fail(str(exc))


def _prompt_password(settings: Settings) -> str:
    """Ask for a password, once the data directory is known to be one (not for nothing)."""
    require_data_dir(settings)
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _with_identity(settings: Settings, fn: Callable[[IdentityService], Awaitable[T]]) -> T:
    """Run `fn` on an initialised data directory (never creates one: see datadir.py)."""
    async def run() -> T:
        check_initialised(settings)
        async with opened_identity(settings) as identity:
            if not await identity.is_bootstrapped():
                raise not_initialised(settings)
            return await fn(identity)

    from strato.stores.metadata.secretbox import CredentialKeyError

    try:
        return asyncio.run(run())
    except (DataDirError, CredentialKeyError) as exc:
        _fail(str(exc))
        raise


def _is_model_list(annotation: Any) -> bool:
    args = get_args(annotation)
    return bool(args) and isinstance(args[0], type) and issubclass(args[0], BaseModel)


def _parse_json(_ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param=param) from None


def _split_list(_ctx: click.Context, _param: click.Parameter, value: str | None
                ) -> list[str] | None:
    """A comma-separated list; an empty value is an empty list (not the default)."""
    if value is None:
        return None
    return [item for item in value.split(",") if item]


def settings_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One CLI option per setting, documented from the model (defaults shown, env named)."""
    for name, field in reversed(list(Settings.model_fields.items())):
        flag = "--" + name.replace("_", "-")
        env = f"STRATO_{name.upper()}"
        default = field.get_default(call_default_factory=True)
        if _is_model_list(field.annotation):
            default = json.dumps([m.model_dump(mode="json", exclude_defaults=True)
                                  for m in default])
        help_text = f"{field.description} [env {env}; default: {default}]"
        annotation = field.annotation
        if annotation is bool:
            option = click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)
        elif annotation in (int, float):
            option = click.option(flag, name, type=annotation, default=None, help=help_text)
        elif _is_model_list(annotation):
            option = click.option(flag, name, default=None, help=help_text + " (JSON)",
                                  callback=_parse_json)
        elif str(annotation).startswith("list"):
            option = click.option(flag, name, default=None, help=help_text + " (comma-separated)",
                                  callback=_split_list)
        else:
            kind = Path if annotation is Path or Path in get_args(annotation) else str
            option = click.option(flag, name, type=kind, default=None, help=help_text)
        fn = option(fn)
    return fn


config_option = click.option("--config", "config", type=click.Path(dir_okay=False),
                             default=None, help=f"TOML config file [env {CONFIG_ENV}].")
data_dir_option = click.option("--data-dir", "data_dir", type=click.Path(path_type=Path),
                               default=None, help="Data directory [env STRATO_DATA_DIR; "
                               "default: ./strato-data].")


@click.group()
@click.version_option(__version__, prog_name="strato")
def main() -> None:
    """Strato: a self-hosted, OpenStack-compatible storage cloud in one server: object
    storage (Swift v1 API), identity (Keystone v3 and v2.0, Swift v1.0 auth) and images
    (Glance v2), on one port.

    Start with `strato serve` (it creates ./strato-data and prints the first passwords),
    or `strato init` to only create the data directory. The other commands administer an
    existing data directory, also while the server runs."""


@main.group()
def user() -> None:
    """Manage users (works while the server runs)."""


@user.command("add")
@config_option
@data_dir_option
@click.option("--user", "name", required=True, help="User name.")
@click.option("--password", default=None, help="Password (prompted for when omitted).")
@click.option("--project", default=None, help="Project to join (created if missing).")
@click.option("--role", default="member", show_default=True, help="Role on the project.")
def user_add(config: str | None, data_dir: Path | None, name: str, password: str | None,
             project: str | None, role: str) -> None:
    """Add a user, optionally with a role on a project (the project and the role are
    created if missing, and the command says so).

    For a user that exists, `--project` grants it the role; a `--password` other than the
    user's own is refused (never silently ignored): `strato user passwd` changes it."""
    settings = _settings(config, data_dir=data_dir)
    store_user = _with_identity(settings, lambda identity: identity.store.get_user(
        name=name, domain_id=DEFAULT_DOMAIN_ID))
    secret = password
    if store_user is None and secret is None:
        secret = _prompt_password(settings)
    elif store_user is not None and project is None:
        _fail(f"user {name!r} already exists: give --project to grant it a role there, or "
              f"change its password with `strato user passwd --user {name}`", EXIT_EXISTS)

    async def run(identity: IdentityService) -> list[str]:
        store = identity.store
        created = [f"created {kind} {value}" for kind, value, found in (
            ("project", project, project and await store.get_project(
                name=project, domain_id=DEFAULT_DOMAIN_ID)),
            ("role", role, await store.get_role(name=role))) if value and not found]
        existing = await store.get_user(name=name, domain_id=DEFAULT_DOMAIN_ID)
        if existing is None:
            if secret is None:  # deleted since the first look: ask again rather than guess
                raise IdentityConflict(f"user {name!r} was deleted meanwhile: run again")
            await identity.add_user(name, secret, project=project, role=role)
            return created
        if project is None:
            raise IdentityConflict(f"user {name!r} already exists")
        if password is not None and not await identity.passwords.verify(
                existing.password_hash, password):
            raise IdentityConflict(
                f"user {name!r} already exists with another password, which --password would "
                f"not change: use `strato user passwd --user {name}`")
        await identity.grant(name, role, project=project)
        return created

    try:
        notes = _with_identity(settings, run)
    except IdentityConflict as exc:
        _fail(str(exc), EXIT_EXISTS)
    for note in notes:
        click.echo(note, err=True)
    state = "ready" if store_user is None else "exists (password unchanged)"
    click.echo(f"user {name} {state}" + (f", with role {role} on project {project}"
                                         if project else ""), err=True)


@user.command("list")
@config_option
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def user_list(config: str | None, data_dir: Path | None, as_json: bool) -> None:
    """List users with their project roles."""
    settings = _settings(config, data_dir=data_dir)

    async def run(identity: IdentityService) -> list[dict[str, Any]]:
        rows = []
        for record in await identity.store.list_users():
            grants: list[str] = []
            for project in await identity.store.user_projects(record.id):
                roles = await identity.store.user_roles(record.id, project_id=project.id)
                grants.extend(f"{project.name}:{r.name}" for r in roles)
            rows.append({"id": record.id, "name": record.name, "domain_id": record.domain_id,
                         "enabled": record.enabled, "roles": grants})
        return rows

    rows = _with_identity(settings, run)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']:<20} {row['id']}  {', '.join(row['roles'])}")


@user.command("delete")
@config_option
@data_dir_option
@click.option("--user", "name", required=True)
def user_delete(config: str | None, data_dir: Path | None, name: str) -> None:
    """Delete a user; its tokens stop working at once."""
    settings = _settings(config, data_dir=data_dir)

    async def run(identity: IdentityService) -> None:
        record = await identity.store.get_user(name=name, domain_id=DEFAULT_DOMAIN_ID)
        if record is None:
            raise IdentityNotFound(f"user {name!r}")
        await identity.store.delete_user(record.id)

    try:
        _with_identity(settings, run)
    except IdentityNotFound as exc:
        _fail(f"no such {exc}", EXIT_NOT_FOUND)
    click.echo(f"user {name} deleted", err=True)


@user.command("passwd")
@config_option
@data_dir_option
@click.option("--user", "name", required=True)
@click.option("--password", default=None,
              help="New password (prompted for when omitted and not --generate).")
@click.option("--generate", is_flag=True,
              help="Generate a new password and print it (e.g. lost first-start passwords: "
              "only their hashes are stored, so they cannot be shown again).")
def user_passwd(config: str | None, data_dir: Path | None, name: str, password: str | None,
                generate: bool) -> None:
    """Set a user's password, or generate one and print it."""
    if generate and password is not None:
        _fail("give either --password or --generate", 2)
    settings = _settings(config, data_dir=data_dir)
    if generate:
        password = secrets.token_urlsafe(12).replace("-", "x")
    elif password is None:
        password = _prompt_password(settings)
    assert password is not None
    new = password
    try:
        _with_identity(settings, lambda identity: identity.set_password(name, new))
    except IdentityNotFound as exc:
        _fail(f"no such {exc}", EXIT_NOT_FOUND)
    if generate:
        click.echo(new)
    click.echo(f"password of {name} changed", err=True)


@main.group()
def project() -> None:
    """Manage projects (each project is a Swift account <prefix><project_id>, AUTH_ by default)."""


@project.command("add")
@config_option
@data_dir_option
@click.option("--project", "name", required=True)
def project_add(config: str | None, data_dir: Path | None, name: str) -> None:
    """Add a project."""
    settings = _settings(config, data_dir=data_dir)

    async def run(identity: IdentityService) -> str:
        if await identity.store.get_project(name=name, domain_id=DEFAULT_DOMAIN_ID):
            raise IdentityConflict(f"project {name!r} already exists")
        return (await identity.ensure_project(name)).id

    try:
        project_id = _with_identity(settings, run)
    except IdentityConflict as exc:
        _fail(str(exc), EXIT_EXISTS)
    click.echo(project_id)


@project.command("list")
@config_option
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def project_list(config: str | None, data_dir: Path | None, as_json: bool) -> None:
    """List projects and their Swift accounts."""
    settings = _settings(config, data_dir=data_dir)
    rows = _with_identity(settings, lambda identity: identity.store.list_projects())
    prefix = settings.reseller_prefixes[0]  # the account a project's storage URL names
    if as_json:
        click.echo(json.dumps([{"id": p.id, "name": p.name, "domain_id": p.domain_id,
                                "account": f"{prefix}{p.id}"} for p in rows], indent=2))
        return
    for p in rows:
        click.echo(f"{p.name:<20} {p.id}  {prefix}{p.id}")


@project.command("delete")
@config_option
@data_dir_option
@click.option("--project", "name", required=True)
def project_delete(config: str | None, data_dir: Path | None, name: str) -> None:
    """Delete a project and its role assignments (its account data stays until removed)."""
    settings = _settings(config, data_dir=data_dir)

    async def run(identity: IdentityService) -> None:
        record = await identity.store.get_project(name=name, domain_id=DEFAULT_DOMAIN_ID)
        if record is None:
            raise IdentityNotFound(f"project {name!r}")
        await identity.store.delete_project(record.id)

    try:
        _with_identity(settings, run)
    except IdentityNotFound as exc:
        _fail(f"no such {exc}", EXIT_NOT_FOUND)
    click.echo(f"project {name} deleted", err=True)


@main.group("access-key")
def access_key() -> None:
    """Manage per-user access keys (HP Cloud style temp URL signatures)."""


def _with_access_keys(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    from strato.domain.access_keys import AccessKeyService
    from strato.stores.metadata.base import MetadataStore

    def keys(identity: IdentityService) -> Awaitable[T]:
        assert isinstance(identity.store, MetadataStore)  # the whole store, keys included
        return fn(AccessKeyService(identity.store))

    return _with_identity(settings, keys)


@access_key.command("create")
@config_option
@data_dir_option
@click.option("--user", "name", required=True, help="User the key signs for.")
@click.option("--project", default=None, help="Project (default: the user's own).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def access_key_create(config: str | None, data_dir: Path | None, name: str,
                      project: str | None, as_json: bool) -> None:
    """Create a key; its secret is printed this once only."""
    settings = _settings(config, data_dir=data_dir)
    try:
        record = _with_access_keys(settings, lambda keys: keys.create(name, project))
    except IdentityNotFound as exc:
        _fail(f"no such {exc}", EXIT_NOT_FOUND)
    if as_json:
        click.echo(json.dumps({"id": record.id, "secret": record.secret,
                               "project_id": record.project_id, "user_id": record.user_id}))
    else:
        click.echo(f"id:         {record.id}\nsecret:     {record.secret}\n"
                   f"project_id: {record.project_id}")


@access_key.command("list")
@config_option
@data_dir_option
@click.option("--user", "name", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def access_key_list(config: str | None, data_dir: Path | None, name: str,
                    as_json: bool) -> None:
    """List a user's keys (ids and projects; secrets are never shown again)."""
    settings = _settings(config, data_dir=data_dir)
    try:
        rows = _with_access_keys(settings, lambda keys: keys.list(name))
    except IdentityNotFound as exc:
        _fail(f"no such {exc}", EXIT_NOT_FOUND)
    if as_json:
        click.echo(json.dumps([{"id": r.id, "project_id": r.project_id,
                                "created_at": r.created_at} for r in rows], indent=2))
        return
    for r in rows:
        click.echo(f"{r.id}  {r.project_id}")


@access_key.command("delete")
@config_option
@data_dir_option
@click.option("--user", "name", required=True)
@click.option("--id", "key_id", required=True, help="Access key id.")
def access_key_delete(config: str | None, data_dir: Path | None, name: str,
                      key_id: str) -> None:
    """Delete a key; URLs signed with it stop working at once."""
    settings = _settings(config, data_dir=data_dir)
    try:
        _with_access_keys(settings, lambda keys: keys.delete(name, key_id))
    except IdentityNotFound as exc:
        _fail(f"no such {exc}", EXIT_NOT_FOUND)
    click.echo(f"access key {key_id} deleted", err=True)


@main.group()
def role() -> None:
    """Manage roles and role assignments (works while the server runs)."""


@role.command("list")
@config_option
@data_dir_option
def role_list(config: str | None, data_dir: Path | None) -> None:
    """List roles."""
    settings = _settings(config, data_dir=data_dir)
    for record in _with_identity(settings, lambda identity: identity.store.list_roles()):
        click.echo(f"{record.name:<20} {record.id}")


@role.command("add")
@config_option
@data_dir_option
@click.option("--role", "name", required=True)
def role_add(config: str | None, data_dir: Path | None, name: str) -> None:
    """Add a role."""
    settings = _settings(config, data_dir=data_dir)

    async def run(identity: IdentityService) -> str:
        if await identity.store.get_role(name=name):
            raise IdentityConflict(f"role {name!r} already exists")
        return (await identity.ensure_role(name)).id

    try:
        click.echo(_with_identity(settings, run))
    except IdentityConflict as exc:
        _fail(str(exc), EXIT_EXISTS)


@role.command("delete")
@config_option
@data_dir_option
@click.option("--role", "name", required=True)
def role_delete(config: str | None, data_dir: Path | None, name: str) -> None:
    """Delete a role and every assignment of it."""
    settings = _settings(config, data_dir=data_dir)

    async def run(identity: IdentityService) -> None:
        record = await identity.store.get_role(name=name)
        if record is None:
            raise IdentityNotFound(f"role {name!r}")
        await identity.store.delete_role(record.id)

    try:
        _with_identity(settings, run)
    except IdentityNotFound as exc:
        _fail(f"no such {exc}", EXIT_NOT_FOUND)
    click.echo(f"role {name} deleted", err=True)


@role.command("grant")
@config_option
@data_dir_option
@click.option("--user", "user_name", required=True)
@click.option("--project", "project_name", required=True)
@click.option("--role", "role_name", required=True)
def role_grant(config: str | None, data_dir: Path | None, user_name: str, project_name: str,
               role_name: str) -> None:
    """Give a user a role on a project (both must exist)."""
    _assignment(config, data_dir, user_name, project_name, role_name, grant=True)


@role.command("revoke")
@config_option
@data_dir_option
@click.option("--user", "user_name", required=True)
@click.option("--project", "project_name", required=True)
@click.option("--role", "role_name", required=True)
def role_revoke(config: str | None, data_dir: Path | None, user_name: str, project_name: str,
                role_name: str) -> None:
    """Take a role away; tokens lose it on their next request."""
    _assignment(config, data_dir, user_name, project_name, role_name, grant=False)


def _assignment(config: str | None, data_dir: Path | None, user_name: str,
                project_name: str, role_name: str, *, grant: bool) -> None:
    settings = _settings(config, data_dir=data_dir)

    async def run(identity: IdentityService) -> bool:
        store = identity.store
        user_record = await store.get_user(name=user_name, domain_id=DEFAULT_DOMAIN_ID)
        project_record = await store.get_project(name=project_name,
                                                 domain_id=DEFAULT_DOMAIN_ID)
        role_record = await store.get_role(name=role_name)
        for kind, value, record in (("user", user_name, user_record),
                                    ("project", project_name, project_record),
                                    ("role", role_name, role_record)):
            if record is None:
                raise IdentityNotFound(f"{kind} {value!r}")
        assert user_record and project_record and role_record
        held = bool(await store.list_assignments(
            user_id=user_record.id, project_id=project_record.id, role_id=role_record.id))
        if grant and not held:
            await store.assign_role(role_record.id, user_record.id,
                                    project_id=project_record.id)
        elif not grant:
            if not held:  # as Keystone's DELETE of an assignment that is not there: 404
                raise IdentityNotFound(f"role {role_name!r} of user {user_name!r} on project "
                                       f"{project_name!r} (not granted to the user itself)")
            await store.unassign_role(role_record.id, user_record.id,
                                      project_id=project_record.id)
        return held

    try:
        held = _with_identity(settings, run)
    except IdentityNotFound as exc:
        _fail(f"no such {exc}", EXIT_NOT_FOUND)
    done = ("already held by" if held else "granted to") if grant else "revoked from"
    click.echo(f"role {role_name} {done} {user_name} on project {project_name}", err=True)


@main.group("app-credential")
def app_credential() -> None:
    """Manage application credentials (a named secret that logs in as a user on a project)."""


@app_credential.command("create")
@config_option
@data_dir_option
@click.option("--user", "user_name", required=True)
@click.option("--project", "project_name", required=True)
@click.option("--name", required=True, help="Credential name, unique per user.")
@click.option("--role", "roles", multiple=True,
              help="Restrict to these roles (default: all the user's roles on the project).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def app_credential_create(config: str | None, data_dir: Path | None, user_name: str,
                          project_name: str, name: str, roles: tuple[str, ...],
                          as_json: bool) -> None:
    """Create a credential; its secret is printed once and never stored."""
    settings = _settings(config, data_dir=data_dir)

    async def run(identity: IdentityService) -> tuple[str, str]:
        store = identity.store
        user_record = await store.get_user(name=user_name, domain_id=DEFAULT_DOMAIN_ID)
        project_record = await store.get_project(name=project_name,
                                                 domain_id=DEFAULT_DOMAIN_ID)
        if user_record is None or project_record is None:
            raise IdentityNotFound(f"user {user_name!r} or project {project_name!r}")
        try:
            record, secret = await identity.create_app_credential(
                user_record.id, project_record.id, name, role_names=list(roles) or None)
        except Unauthorized as exc:
            raise IdentityNotFound(str(exc)) from None
        return record.id, secret

    try:
        cred_id, secret = _with_identity(settings, run)
    except IdentityNotFound as exc:
        _fail(f"no such {exc}", EXIT_NOT_FOUND)
    except IdentityConflict as exc:
        _fail(str(exc), EXIT_EXISTS)
    if as_json:
        click.echo(json.dumps({"id": cred_id, "name": name, "secret": secret}))
    else:
        click.echo(f"id:     {cred_id}\nsecret: {secret}")


@app_credential.command("list")
@config_option
@data_dir_option
@click.option("--user", "user_name", required=True)
def app_credential_list(config: str | None, data_dir: Path | None, user_name: str) -> None:
    """List a user's credentials (never their secrets)."""
    settings = _settings(config, data_dir=data_dir)

    async def run(identity: IdentityService) -> list[Any]:
        record = await identity.store.get_user(name=user_name, domain_id=DEFAULT_DOMAIN_ID)
        if record is None:
            raise IdentityNotFound(f"user {user_name!r}")
        return await identity.store.list_app_credentials(record.id)

    try:
        rows = _with_identity(settings, run)
    except IdentityNotFound as exc:
        _fail(f"no such {exc}", EXIT_NOT_FOUND)
    for row in rows:
        click.echo(f"{row.name:<20} {row.id}  project {row.project_id}")


@app_credential.command("delete")
@config_option
@data_dir_option
@click.option("--id", "cred_id", required=True)
def app_credential_delete(config: str | None, data_dir: Path | None, cred_id: str) -> None:
    """Delete a credential; tokens issued through it stop working at once."""
    settings = _settings(config, data_dir=data_dir)
    if not _with_identity(settings, lambda identity: identity.store.delete_app_credential(
            cred_id)):
        _fail(f"no such application credential {cred_id!r}", EXIT_NOT_FOUND)
    click.echo(f"application credential {cred_id} deleted", err=True)


def _register_subcommands() -> None:
    """Commands that live in modules of their own (cli.py stays this size)."""
    from strato.server.audit_cli import audit
    from strato.server.backup_cli import backup, restore
    from strato.server.cloud_config_cli import cloud_config
    from strato.server.credential_keys import credential_key
    from strato.server.db_cli import db
    from strato.server.image_cli import image
    from strato.server.migrate_cli import migrate
    from strato.server.serve_cli import init, serve

    main.add_command(serve)
    main.add_command(init)
    main.add_command(cloud_config)
    main.add_command(image)
    main.add_command(db)
    main.add_command(credential_key)
    main.add_command(audit)
    main.add_command(backup)
    main.add_command(restore)
    main.add_command(migrate)


_register_subcommands()
