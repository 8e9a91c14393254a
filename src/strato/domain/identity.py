"""The identity service: users, projects, roles and tokens, with no HTTP in sight.

Every front-end (Swift v1.0 auth, Keystone v3/v2.0, Glance, the CLI) goes through here, so a
token issued by one flow works in all of them. Tokens are random secrets; the store keeps
only their SHA-256, so a copy of the database cannot be replayed as credentials. Validation
reads the store on every request: revocation then takes effect at once on every worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from strato.stores.metadata.base import IdentityStore
from strato.stores.metadata.records import (
    DomainRecord,
    ProjectRecord,
    RoleRecord,
    TokenRecord,
    UserRecord,
)

log = logging.getLogger("strato.identity")

DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"
SEED_ROLES = ("admin", "member", "reader", "ResellerAdmin")

_hasher = PasswordHasher()
# A fixed hash to verify against when the user does not exist, so a wrong user name costs the
# same time as a wrong password and does not reveal which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class Unauthorized(Exception):
    """Credentials or token not accepted. The message never contains a secret."""


class IdentityConflict(Exception):
    pass


class IdentityNotFound(Exception):
    pass


def new_id() -> str:
    return uuid.uuid4().hex


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Who a validated token speaks for."""

    token_hash: str
    user_id: str
    user_name: str
    user_domain_id: str
    project_id: str | None
    project_name: str | None
    project_domain_id: str | None
    domain_id: str | None
    roles: tuple[str, ...]
    role_ids: tuple[str, ...]
    issued_at: float
    expires_at: float
    methods: tuple[str, ...] = ("password",)
    audit_id: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def has_any_role(self, names: list[str] | tuple[str, ...]) -> bool:
        wanted = {n.lower() for n in names}
        return any(r.lower() in wanted for r in self.roles)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    context: AuthContext


class IdentityService:
    def __init__(self, store: IdentityStore, *, token_ttl: int = 3600) -> None:
        self.store = store
        self.token_ttl = token_ttl

    # ---- bootstrap ----------------------------------------------------------------------
    async def is_bootstrapped(self) -> bool:
        return await self.store.get_domain(id=DEFAULT_DOMAIN_ID) is not None

    async def bootstrap(self) -> dict[str, str]:
        """Seed the default domain, roles, `admin`, `demo` and `Default` projects.

        Returns the generated passwords by user name; they are shown once and never stored.
        """
        if await self.is_bootstrapped():
            return {}
        await self.store.create_domain(DomainRecord(DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME))
        for role in SEED_ROLES:
            await self.ensure_role(role)
        passwords = {"admin": secrets.token_urlsafe(12), "demo": secrets.token_urlsafe(12)}
        await self.add_user("admin", passwords["admin"], project="admin", role="admin")
        await self.grant("admin", "ResellerAdmin", project="admin")
        await self.add_user("demo", passwords["demo"], project="demo", role="member")
        await self.ensure_project(DEFAULT_DOMAIN_NAME)
        for user in ("admin", "demo"):
            await self.grant(user, "member", project=DEFAULT_DOMAIN_NAME)
        return passwords

    # ---- administration -------------------------------------------------------------------
    async def ensure_role(self, name: str) -> RoleRecord:
        role = await self.store.get_role(name=name)
        return role or await self.store.create_role(RoleRecord(new_id(), name))

    async def ensure_project(self, name: str, domain_id: str = DEFAULT_DOMAIN_ID
                             ) -> ProjectRecord:
        project = await self.store.get_project(name=name, domain_id=domain_id)
        return project or await self.store.create_project(ProjectRecord(new_id(), name,
                                                                         domain_id))

    async def add_user(self, name: str, password: str, *, project: str | None = None,
                       role: str = "member", domain_id: str = DEFAULT_DOMAIN_ID
                       ) -> UserRecord:
        if await self.store.get_user(name=name, domain_id=domain_id):
            raise IdentityConflict(f"user {name!r} already exists")
        default_project = await self.ensure_project(project, domain_id) if project else None
        user = await self.store.create_user(UserRecord(
            new_id(), name, domain_id, await hash_password(password),
            default_project_id=default_project.id if default_project else None))
        if default_project:
            await self.grant(name, role, project=default_project.name, domain_id=domain_id)
        return user

    async def grant(self, user_name: str, role_name: str, *, project: str,
                    domain_id: str = DEFAULT_DOMAIN_ID) -> None:
        user = await self.store.get_user(name=user_name, domain_id=domain_id)
        if user is None:
            raise IdentityNotFound(f"user {user_name!r}")
        proj = await self.ensure_project(project, domain_id)
        role = await self.ensure_role(role_name)
        await self.store.assign_role(role.id, user.id, project_id=proj.id)

    async def set_password(self, user_name: str, password: str,
                           domain_id: str = DEFAULT_DOMAIN_ID) -> None:
        user = await self.store.get_user(name=user_name, domain_id=domain_id)
        if user is None:
            raise IdentityNotFound(f"user {user_name!r}")
        await self.store.update_user(UserRecord(
            user.id, user.name, user.domain_id, await hash_password(password), user.enabled,
            user.default_project_id, user.extra))

    # ---- authentication -------------------------------------------------------------------
    async def check_password(self, user: UserRecord | None, password: str) -> UserRecord:
        ok = await verify_password(user.password_hash if user else _DUMMY_HASH, password)
        if user is None or not ok or not user.enabled:
            raise Unauthorized("The request you have made requires authentication.")
        return user

    async def authenticate_v1(self, auth_user: str, key: str) -> IssuedToken:
        """Swift v1.0 auth: `project:user` (or a plain `user`, scoped to its default project)."""
        project_name, _, user_name = auth_user.rpartition(":")
        user = await self.store.get_user(name=user_name, domain_id=DEFAULT_DOMAIN_ID)
        user = await self.check_password(user, key)
        if project_name:
            project = await self.store.get_project(name=project_name,
                                                   domain_id=DEFAULT_DOMAIN_ID)
        elif user.default_project_id:
            project = await self.store.get_project(id=user.default_project_id)
        else:
            projects = await self.store.user_projects(user.id)
            project = projects[0] if projects else None
        if project is None or not await self.store.user_roles(user.id, project_id=project.id):
            raise Unauthorized("The user has no role on the requested project.")
        return await self.issue_token(user, project_id=project.id, methods=("password",))

    async def issue_token(self, user: UserRecord, *, project_id: str | None = None,
                          domain_id: str | None = None, methods: tuple[str, ...] = ("password",),
                          expires_at: float | None = None, extra: dict[str, object] | None = None
                          ) -> IssuedToken:
        token = secrets.token_urlsafe(32)
        now = time.time()
        record = TokenRecord(
            hash_token(token), user.id, project_id, domain_id, now,
            min(expires_at, now + self.token_ttl) if expires_at else now + self.token_ttl,
            methods, secrets.token_urlsafe(16), extra or {})
        await self.store.save_token(record)
        context = await self._context(record, user)
        if context is None:
            raise Unauthorized("Token could not be scoped.")
        return IssuedToken(token, context)

    async def validate_token(self, token: str) -> AuthContext | None:
        """The context of a live token, or None if unknown, revoked or expired."""
        if not token or len(token) > 512:
            return None
        record = await self.store.get_token(hash_token(token))
        if record is None or record.expires_at <= time.time():
            return None
        return await self._context(record)

    async def revoke_token(self, token: str) -> bool:
        return await self.store.revoke_token(hash_token(token))

    async def _context(self, record: TokenRecord, user: UserRecord | None = None
                       ) -> AuthContext | None:
        user = user or await self.store.get_user(id=record.user_id)
        if user is None or not user.enabled:
            return None
        project = None
        if record.project_id:
            project = await self.store.get_project(id=record.project_id)
            if project is None or not project.enabled:
                return None
        roles: list[RoleRecord] = []
        if record.project_id or record.domain_id:
            roles = await self.store.user_roles(user.id, project_id=record.project_id,
                                                domain_id=record.domain_id)
            if not roles:
                return None
        return AuthContext(
            token_hash=record.token_hash, user_id=user.id, user_name=user.name,
            user_domain_id=user.domain_id, project_id=project.id if project else None,
            project_name=project.name if project else None,
            project_domain_id=project.domain_id if project else None,
            domain_id=record.domain_id, roles=tuple(r.name for r in roles),
            role_ids=tuple(r.id for r in roles), issued_at=record.issued_at,
            expires_at=record.expires_at, methods=record.methods, audit_id=record.audit_id,
            extra=record.extra)
