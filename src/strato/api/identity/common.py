"""What every identity handler needs: the services, JSON bodies, the caller, policy checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from strato.api.http import BadRequest, Request
from strato.api.identity.catalog import CATALOG, Catalog
from strato.api.identity.errors import KeystoneError
from strato.domain.identity import AuthContext, IdentityService
from strato.stores.metadata.base import AccessKeyStore

MAX_BODY = 64 * 1024
ADMIN_ROLE = "admin"


PREFIX = "/identity"
"""Where the identity API is mounted; its paths (and access rules) are relative to it."""


@dataclass(slots=True)
class IdentityApi:
    identity: IdentityService
    base_url: str
    region: str
    catalog: Catalog = CATALOG
    access_keys: AccessKeyStore | None = None
    """Where EC2 credentials live (the metadata store's access keys)."""

    @property
    def identity_url(self) -> str:
        return f"{self.base_url}{PREFIX}"

    @property
    def v3_url(self) -> str:
        return f"{self.base_url}/identity/v3"

    async def caller(self, request: Request) -> AuthContext:
        """The context of `X-Auth-Token`; 401 when missing, unknown, revoked or expired."""
        token = request.headers.get("x-auth-token")
        ctx = await self.identity.validate_token(token) if token else None
        if ctx is None:
            raise KeystoneError(401)
        path = request.path.removeprefix(PREFIX)
        if not (request.method == "GET" and path.rstrip("/").endswith("/v3/auth/tokens")
                ) and not ctx.allows("identity", request.method, path):
            # a token can always read itself; anything else its access rules must name
            raise KeystoneError(401)
        return ctx

    async def admin(self, request: Request) -> AuthContext:
        """Keystone's default policy for administrative calls: the `admin` role."""
        ctx = await self.caller(request)
        if not is_admin(ctx):
            raise KeystoneError(403)
        return ctx


def is_admin(ctx: AuthContext) -> bool:
    return ctx.has_any_role((ADMIN_ROLE,))


def client_address(request: Request) -> str:
    return str((request.scope.get("client") or ("",))[0])


async def read_json(request: Request) -> dict[str, Any]:
    try:
        raw = await request.body(MAX_BODY)
    except BadRequest as exc:
        raise KeystoneError(exc.status, str(exc)) from None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise KeystoneError(400, "The request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise KeystoneError(400, "The request body must be a JSON object.")
    _check_storable(document, "")
    return document


SECRETS = frozenset({"password", "original_password", "secret"})
"""Fields kept only as a hash, never as text nor looked up: any character may be in them."""


def _check_storable(value: Any, path: str) -> None:
    """400 for a NUL character in any name or value of the body: PostgreSQL's text holds
    none, so a user or project named with one would be a 500 there (a lone surrogate is
    already malformed JSON to orjson). Checked here, once for every identity call, so both
    metadata backends answer alike."""
    if isinstance(value, str):
        if "\x00" in value:
            raise KeystoneError(400, f"Invalid input for field '{path.lstrip('/')}': NUL "
                                "characters are not allowed.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key, path)
            if not (key in SECRETS and isinstance(item, str)):  # not the password method
                _check_storable(item, f"{path}/{key}")
    elif isinstance(value, list):
        for item in value:
            _check_storable(item, path)


_TYPE_NAMES = {str: "string", bool: "boolean", dict: "object", list: "array", int: "integer"}


def _is(value: Any, kind: type) -> bool:
    """JSON's types: a boolean is not a number here, although Python says it is an int."""
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def invalid(where: str, value: Any, kind: type) -> KeystoneError:
    """Keystone's schema-validation 400."""
    shown = orjson.dumps(value).decode() if value is not None else "None"
    return KeystoneError(400, f"Invalid input for field '{where}': {shown[:80]} is not of "
                         f"type '{_TYPE_NAMES.get(kind, kind.__name__)}'")


def member(document: Any, *path: str, kind: type = dict, required: bool = True) -> Any:
    """`document[path...]`, checked for type (null is a wrong type too); Keystone's 400
    message when absent. Not `required`: None when absent or null."""
    value = document
    for key in path:
        if not isinstance(value, dict) or key not in value:
            if required:
                raise KeystoneError(400, f"Expecting to find {key} in {path[0]}. The server "
                                    "could not comply with the request since it is either "
                                    "malformed or otherwise incorrect.")
            return None
        value = value[key]
    if value is None and not required:
        return None
    if not _is(value, kind):
        raise invalid("/".join(path), value, kind)
    return value


def field(document: dict[str, Any], key: str, kind: type = str, default: Any = None, *,
          nullable: bool = False, where: str = "") -> Any:
    """An optional `document[key]`: `default` when absent (or null where the schema allows
    null), Keystone's 400 when of another type."""
    if key not in document:
        return default
    value = document[key]
    if value is None and nullable:
        return default
    if not _is(value, kind):
        raise invalid(f"{where}/{key}" if where else key, value, kind)
    return value


def iso(ts: float) -> str:
    """A token time as Keystone writes one (`utils.isotime(subsecond=True)`): with `Z`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stored_time(ts: float) -> str:
    """A stored time (an application credential's `expires_at`) as Keystone's JSON
    serializer writes its naive UTC datetime: six fraction digits, no zone."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def parse_iso(value: str | None) -> float | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise KeystoneError(400, f"Invalid date: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def links(url: str) -> dict[str, Any]:
    return {"self": url, "previous": None, "next": None}
