"""EC2-style credentials: `/v3/users/{id}/credentials/OS-EC2[/{access}]` and `/v3/credentials`
of type `ec2` — the access/secret pairs S3 clients sign with.

An EC2 credential is Strato's per-user access key (`strato access-key`, `domain/access_keys.py`):
one record, so a pair made either way is listed by both, signs HP-style temp URLs, and is
revoked by deleting it, the user, or the user's role on its project. Keystone's default
policy: a user manages its own, an admin anyone's. As in Keystone the EC2 API shows the
secret when listing (S3 clients need it back); ids in `/v3/credentials` are the SHA-256 of
the access key. Only the `ec2` type is kept (others: 400).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

import orjson

from strato.api.http import Request, Response, json_response
from strato.api.identity.common import IdentityApi, is_admin, links, member, read_json
from strato.api.identity.errors import KeystoneError
from strato.domain.identity import AuthContext
from strato.stores.metadata.base import AccessKeyStore, Conflict
from strato.stores.metadata.records import AccessKeyRecord


def _ec2_json(api: IdentityApi, record: AccessKeyRecord) -> dict[str, Any]:
    return {"user_id": record.user_id, "tenant_id": record.project_id, "access": record.id,
            "secret": record.secret, "trust_id": None,
            "links": {"self": f"{api.v3_url}/users/{record.user_id}/credentials/OS-EC2/"
                              f"{record.id}"}}


def credential_id(access: str) -> str:
    """Keystone's id of an ec2 credential: the SHA-256 of its access key, in hex."""
    return hashlib.sha256(access.encode()).hexdigest()


def _credential_json(api: IdentityApi, record: AccessKeyRecord) -> dict[str, Any]:
    cid = credential_id(record.id)
    blob = orjson.dumps({"access": record.id, "secret": record.secret,
                         "trust_id": None}).decode()
    return {"id": cid, "type": "ec2", "user_id": record.user_id,
            "project_id": record.project_id, "blob": blob,
            "links": {"self": f"{api.v3_url}/credentials/{cid}"}}


def _keys(api: IdentityApi) -> AccessKeyStore:
    assert api.access_keys is not None, "the identity front-end is built with its key store"
    return api.access_keys


def _may_manage(caller: AuthContext, user_id: str) -> None:
    if caller.user_id != user_id and not is_admin(caller):
        raise KeystoneError(403)


async def _create(api: IdentityApi, user_id: str, project_id: str, access: str | None = None,
                  secret: str | None = None) -> AccessKeyRecord:
    if await api.identity.store.get_project(id=project_id) is None:
        raise KeystoneError(404, f"Could not find project: {project_id}.")
    record = AccessKeyRecord(access or uuid.uuid4().hex, secret or uuid.uuid4().hex,
                             user_id, project_id, time.time())
    try:
        return await _keys(api).create_access_key(record)
    except Conflict:
        raise KeystoneError(409, "Conflict occurred attempting to store credential - "
                            "Duplicate entry.") from None


async def handle_os_ec2(api: IdentityApi, request: Request, caller: AuthContext,
                        user_id: str, rest: list[str]) -> Response:
    """`/v3/users/{user_id}/credentials/OS-EC2[/{access}]`."""
    _may_manage(caller, user_id)
    store = _keys(api)
    base = f"{api.v3_url}/users/{user_id}/credentials/OS-EC2"
    if not rest:
        if request.method in ("GET", "HEAD"):
            records = await store.list_access_keys(user_id)
            return json_response(200, {"credentials": [_ec2_json(api, r) for r in records],
                                       "links": links(base)})
        if request.method == "POST":
            project_id = member(await read_json(request), "tenant_id", kind=str)
            made = await _create(api, user_id, project_id)
            return json_response(201, {"credential": _ec2_json(api, made)})
        raise KeystoneError(405)
    found = await store.get_access_key(rest[0])
    if found is None or found.user_id != user_id or len(rest) > 1:
        raise KeystoneError(401, "EC2 access key not found.")
    if request.method in ("GET", "HEAD"):
        return json_response(200, {"credential": _ec2_json(api, found)})
    if request.method == "DELETE":
        await store.delete_access_key(found.id)
        return Response(204)
    raise KeystoneError(405)


async def handle_credentials(api: IdentityApi, request: Request, rest: list[str]) -> Response:
    """`/v3/credentials[/{id}]`, type `ec2`: a user's own (an admin's `?user_id=` filter
    lists another's)."""
    caller = await api.caller(request)
    store = _keys(api)
    if not rest:
        if request.method in ("GET", "HEAD"):
            user_id = request.query.get("user_id", caller.user_id)
            _may_manage(caller, user_id)
            wanted = request.query.get("type")
            records = [] if wanted not in (None, "ec2") else \
                await store.list_access_keys(user_id)
            return json_response(200, {"credentials": [_credential_json(api, r)
                                                       for r in records],
                                       "links": links(f"{api.v3_url}/credentials")})
        if request.method == "POST":
            doc = member(await read_json(request), "credential")
            kind = member(doc, "type", kind=str)
            user_id = member(doc, "user_id", kind=str)
            _may_manage(caller, user_id)
            if kind != "ec2":
                raise KeystoneError(400, f"Credentials of type {kind!r} are not supported: "
                                    "only 'ec2'.")
            project_id = member(doc, "project_id", kind=str)
            try:
                blob = orjson.loads(member(doc, "blob", kind=str))
                access, secret = str(blob["access"]), str(blob["secret"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise KeystoneError(400, "Invalid blob in credential: an ec2 credential "
                                    "needs a JSON blob with access and secret.") from None
            record = await _create(api, user_id, project_id, access, secret)
            return json_response(201, {"credential": _credential_json(api, record)})
        raise KeystoneError(405)
    matches = [r for r in await store.list_access_keys(caller.user_id)
               if credential_id(r.id) == rest[0]]
    if not matches or len(rest) > 1:
        raise KeystoneError(404, f"Could not find credential: {rest[0]}.")
    if request.method in ("GET", "HEAD"):
        return json_response(200, {"credential": _credential_json(api, matches[0])})
    if request.method == "DELETE":
        await store.delete_access_key(matches[0].id)
        return Response(204)
    raise KeystoneError(405)
