"""Per-user access keys: an id and a secret a user signs HP Cloud style temp URLs with.

HP Cloud Object Storage let scripts sign a temp URL with a personal access key instead of
the account's `Temp-URL-Key`; the signature field reads `<project_id>:<access_key_id>:<hex
hmac>`. Strato issues such keys per user and project (`strato access-key create --user U
[--project P]`). The secret has to stay readable to verify HMACs, so it cannot be hashed:
the metadata store keeps it encrypted with the credential key repository
(`stores/metadata/secretbox.py`, `strato credential-key`); the CLI shows it once at creation
and never lists it, and it is never logged (the Keystone EC2 API, where the same keys are
EC2 credentials, shows it to its own user and to admins, as Keystone does: S3 clients need
it back). A key works only while its user is enabled and still holds a role on the project,
so removing the user or the role revokes every URL signed with it at once.
"""

from __future__ import annotations

import logging
import secrets
import time

from strato.domain.identity import DEFAULT_DOMAIN_ID, IdentityNotFound, new_secret
from strato.stores.metadata.base import MetadataStore
from strato.stores.metadata.records import AccessKeyRecord, UserRecord
from strato.stores.metadata.secretbox import CredentialKeyError

log = logging.getLogger("strato.identity")


class AccessKeyService:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    async def _user(self, user_name: str, domain_id: str) -> UserRecord:
        user = await self.store.get_user(name=user_name, domain_id=domain_id)
        if user is None:
            raise IdentityNotFound(f"user {user_name!r}")
        return user

    async def create(self, user_name: str, project_name: str | None = None,
                     domain_id: str = DEFAULT_DOMAIN_ID) -> AccessKeyRecord:
        """A new key for the user on a project where it holds a role (default: its own)."""
        user = await self._user(user_name, domain_id)
        if project_name is not None:
            project = await self.store.get_project(name=project_name, domain_id=domain_id)
        elif user.default_project_id:
            project = await self.store.get_project(id=user.default_project_id)
        else:
            projects = await self.store.user_projects(user.id)
            project = projects[0] if projects else None
        if project is None:
            raise IdentityNotFound(f"project {project_name or '(default)'!r}")
        if not await self.store.user_roles(user.id, project_id=project.id):
            raise IdentityNotFound(f"role of user {user_name!r} on project {project.name!r}")
        record = AccessKeyRecord(secrets.token_hex(10).upper(), new_secret(30),
                                 user.id, project.id, time.time())
        return await self.store.create_access_key(record)

    async def list(self, user_name: str, domain_id: str = DEFAULT_DOMAIN_ID
                   ) -> list[AccessKeyRecord]:
        user = await self._user(user_name, domain_id)
        return await self.store.list_access_keys(user.id)

    async def delete(self, user_name: str, key_id: str,
                     domain_id: str = DEFAULT_DOMAIN_ID) -> None:
        user = await self._user(user_name, domain_id)
        record = await self.store.get_access_key(key_id)
        if record is None or record.user_id != user.id:
            raise IdentityNotFound(f"access key {key_id!r}")
        await self.store.delete_access_key(key_id)

    async def resolve(self, key_id: str, project_id: str) -> tuple[AccessKeyRecord,
                                                                     tuple[str, ...]] | None:
        """The live key and its user's role names on the project, or None (also when its
        secret cannot be decrypted here: the signature is refused, and the cause logged)."""
        try:
            record = await self.store.get_access_key(key_id)
        except CredentialKeyError as exc:
            log.error("access key %s refused: %s", key_id, exc)
            return None
        if record is None or record.project_id != project_id:
            return None
        user = await self.store.get_user(id=record.user_id)
        project = await self.store.get_project(id=project_id)
        if user is None or not user.enabled or project is None or not project.enabled:
            return None
        roles = await self.store.user_roles(user.id, project_id=project_id)
        return (record, tuple(r.name for r in roles)) if roles else None
