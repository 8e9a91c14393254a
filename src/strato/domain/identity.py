"""The identity service: users, projects, roles and tokens, with no HTTP in sight.

Every front-end (Swift v1.0 auth, Keystone v3/v2.0, Glance, the CLI) goes through here, so a
token issued by one flow works in all of them. Tokens are random secrets; the store keeps
only their SHA-256, so a copy of the database cannot be replayed as credentials.

Validation reuses a token's context while the store's change mark (`change_mark`, shared by
every process) is what it was when the token was read: every write that could change a
validated token (revocation, a user, project, role, group or assignment change) changes the
mark before it is acknowledged, so revocation still takes effect at once on every worker of
the host. On PostgreSQL, other nodes' marks change when the write's notification arrives,
and every second regardless (docs/scale-out.md, "Token reuse").

Logins check secrets through `passwords.Credentials`: Argon2id on a pool of its own, and a
memory of secrets verified recently that is keyed by the stored hash read fresh from the
store on every login (so a password change, a disabled or a deleted user count at once on
every worker). Failed logins are counted before any hash is checked, per user and client
address, per client address and (when set) per user, so a flood of wrong passwords is
refused without costing a hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from strato.domain.access_rules import Rule, permits
from strato.domain.passwords import Credentials, HasherBusy, PasswordHasher
from strato.stores.metadata.base import IdentityStore
from strato.stores.metadata.records import (
    AccessRuleRecord,
    AppCredentialRecord,
    DomainRecord,
    ProjectRecord,
    RoleRecord,
    TokenRecord,
    TokenView,
    UserRecord,
)

log = logging.getLogger("strato.identity")

DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"
SEED_ROLES = ("admin", "member", "reader", "ResellerAdmin")
ACCESS_RULES = "access_rules"
"""Key of a token's `extra`: its application credential's rules, [service, method, path]
each (absent: no rules)."""
VALIDATED_TOKENS = 10_000
"""Validated tokens a worker remembers (all forgotten at once when full)."""



class Unauthorized(Exception):
    """Credentials or token not accepted. The message never contains a secret."""


class TooManyAttempts(Unauthorized):
    """Refused before any password is checked (a lockout, or too many checks queued);
    try again after `retry_after` seconds."""

    def __init__(self, retry_after: int,
                 message: str = "Too many failed authentication attempts; try again later."
                 ) -> None:
        super().__init__(message)
        self.retry_after = retry_after


SWIFT_V1 = "swift_v1"
"""Token `extra` key: issued by Swift's v1.0 auth, so Swift reads its container ACLs as
tempauth does (a Keystone token gets keystoneauth's reading)."""


class IdentityConflict(Exception):
    pass


class PasswordRejected(Exception):
    """A new password the security compliance rules refuse; the message says why."""


class PasswordExpired(Unauthorized):
    """The right password, past its expiry: only a change of it (which proves it) is let
    through."""

    def __init__(self, user_id: str) -> None:
        super().__init__("The password is expired and needs to be changed for user: "
                         f"{user_id}.")


DAY = 86_400.0
PASSWORD_SET_AT = "password_set_at"  # nosec B105  # a key name, no secret
PASSWORD_EXPIRES_AT = "password_expires_at"  # nosec B105  # a key name, no secret
PASSWORD_HISTORY = "password_history"  # nosec B105  # a key name, no secret
PASSWORD_SELF_SERVICE = "password_self_service"  # nosec B105  # a key name, no secret
"""Keys of a user's internal `extra`: when its password was set, when it expires (absent:
never), the hashes of the passwords before it (newest first), and whether the user set it
itself (the minimum age holds only then, so a user can change one an admin set at once)."""

PasswordSetter = Literal["operator", "admin", "self"]
"""Who sets a password: the operator on the host (`strato user`: no rules but expiry), an
administrator through the API, or the user itself."""


@dataclass(frozen=True, slots=True)
class PasswordRules:
    """Keystone's `[security_compliance]` password options (0 turns a limit off)."""

    regex: str = ""
    """A new password must match it in full (empty: any password)."""
    description: str = ""
    """What the regex asks for, in words, for the error and the domain config."""
    expires_days: int = 0
    """A password set from now on expires this many days after it was set."""
    minimum_age_days: int = 0
    """A user may change its own password only this long after the last change."""
    unique_last_count: int = 0
    """A new password must differ from this many minus one of the latest (Keystone's
    unique_last_password_count: the count includes the new password)."""
    change_upon_first_use: bool = False
    """A password an administrator sets through the API is expired at once, so the user's
    first act is to change it."""

    def check(self, password: str) -> None:
        if self.regex and re.fullmatch(self.regex, password) is None:
            raise PasswordRejected("The password does not meet the requirements: "
                                   f"{self.description or self.regex}.")

    def check_age(self, user: UserRecord, now: float) -> None:
        """A self-service change too soon after the last one (which would let a user cycle
        through the history back to an old password)."""
        set_at = user.extra.get(PASSWORD_SET_AT)
        if (not self.minimum_age_days or not isinstance(set_at, int | float)
                or not user.extra.get(PASSWORD_SELF_SERVICE)):
            return
        allowed = set_at + self.minimum_age_days * DAY
        if now < allowed:
            days_left = int((allowed - now) // DAY)
            raise PasswordRejected(
                "You cannot change your password at this time due to the minimum password "
                "age. Once you change your password, it must be used for "
                f"{self.minimum_age_days} day(s) before it can be changed. Please try again "
                f"in {days_left} day(s) or contact your administrator to reset your password.")

    def recent_hashes(self, user: UserRecord) -> list[str]:
        """The hashes a new password must not match: the current one and those before it,
        unique_last_count - 1 in all."""
        if self.unique_last_count <= 1 or not user.password_hash.startswith("$"):
            return []
        history = [h for h in user.extra.get(PASSWORD_HISTORY, []) if isinstance(h, str)]
        return [user.password_hash, *history][:self.unique_last_count - 1]

    def history_error(self) -> PasswordRejected:
        return PasswordRejected(
            "The new password cannot be identical to a previous password. The total number "
            f"which includes the new password must be unique is {self.unique_last_count}.")

    def expired(self, user: UserRecord, now: float) -> bool:
        expires = user.extra.get(PASSWORD_EXPIRES_AT)
        return isinstance(expires, int | float) and now >= expires

    def state_after_change(self, user: UserRecord, now: float, by: PasswordSetter
                           ) -> dict[str, Any]:
        """`user.extra` once a new password replaces its own: when it was set, its expiry, and
        the password it replaces at the head of the history."""
        extra = dict(user.extra)
        extra[PASSWORD_SET_AT] = now
        extra[PASSWORD_SELF_SERVICE] = by == "self"
        extra.pop(PASSWORD_EXPIRES_AT, None)
        if by == "admin" and self.change_upon_first_use:
            extra[PASSWORD_EXPIRES_AT] = now
        elif self.expires_days:
            extra[PASSWORD_EXPIRES_AT] = now + self.expires_days * DAY
        keep = max(self.unique_last_count - 1, 0)
        previous = [user.password_hash] if user.password_hash.startswith("$") else []
        history = [*previous, *extra.get(PASSWORD_HISTORY, [])][:keep]
        if history:
            extra[PASSWORD_HISTORY] = history
        else:
            extra.pop(PASSWORD_HISTORY, None)
        return extra


def password_expires_at(user: UserRecord) -> float | None:
    """When the user's password expires (None: never), for the user and token documents."""
    expires = user.extra.get(PASSWORD_EXPIRES_AT)
    return float(expires) if isinstance(expires, int | float) else None


class IdentityNotFound(Exception):
    pass


def new_secret(nbytes: int = 32) -> str:
    """URL-safe random text that never starts with `-`, which command-line tools would take
    for an option (`swift --os-auth-token -abc...` fails)."""
    while True:
        secret = secrets.token_urlsafe(nbytes)
        if not secret.startswith("-"):
            return secret


def new_id() -> str:
    return uuid.uuid4().hex


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginObserver(Protocol):
    """Told of every login refused, for metrics (the server counts them; no HTTP here)."""

    def failed(self, kind: str) -> None:
        """Wrong or unknown credentials; `kind` is `password` or `application_credential`."""

    def refused(self, reason: str) -> None:
        """Refused before any check: `lockout_user_client`, `lockout_client`,
        `lockout_user` (a limit reached) or `busy` (too many checks queued)."""


LOCKOUT_REASONS = {"pair": "lockout_user_client", "client": "lockout_client",
                   "user": "lockout_user"}
"""Throttle key prefix -> the reason a refusal is reported under."""


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """Failed logins allowed within `window` seconds; one more is refused (429) for `window`
    seconds, before any hash is checked. 0 turns a limit off."""

    per_user_client: int = 5
    """One user from one client address."""
    per_client: int = 100
    """One client address, whatever users it tries (a spray of names)."""
    per_user: int = 0
    """One user from every address. Off by default: anyone who knows a name could then
    lock its owner out."""
    window: int = 60
    refused_delay: float = 1.0
    """Seconds a refused (locked-out) attempt waits for its 429: a script hammering a lock
    then sends one attempt per connection per second instead of thousands."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What a new token stands on, as read while checking the user may have it."""

    project: ProjectRecord | None = None
    domain_id: str | None = None
    roles: tuple[RoleRecord, ...] = ()


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
    service_roles: tuple[str, ...] = ()
    """Roles of a second, service token sent along (Swift's `X-Service-Token`)."""
    role_set: frozenset[str] = field(init=False, repr=False, compare=False)
    """`roles` lower-cased, made once: every request asks several role questions."""
    service_role_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "role_set", frozenset(r.lower() for r in self.roles))
        object.__setattr__(self, "service_role_set",
                           frozenset(r.lower() for r in self.service_roles))

    def has_any_role(self, names: list[str] | tuple[str, ...] | frozenset[str]) -> bool:
        """Whether the token holds one of `names` (compared case-insensitively)."""
        return not self.role_set.isdisjoint([n.lower() for n in names])

    def allows(self, service: str, method: str, path: str) -> bool:
        """Whether the token may make this request at all: only a token from an application
        credential with access rules is limited (`path` relative to the service's root)."""
        rules = self.extra.get(ACCESS_RULES)
        if not isinstance(rules, list):
            return True
        return permits(rules, service, method, path)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    context: AuthContext


@dataclass(frozen=True, slots=True)
class UserRef:
    """A user named in an auth request: by id, or by name within a domain (id or name)."""

    id: str | None = None
    name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None

    def label(self) -> str:
        """For logs and the lockout key: never contains a secret."""
        if self.id:
            return self.id
        return f"{self.name}@{self.domain_id or self.domain_name or DEFAULT_DOMAIN_ID}"


@dataclass(frozen=True, slots=True)
class ScopeRef:
    """What a token should be scoped to; all None means the user's default project."""

    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    project_domain_name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None
    unscoped: bool = False

    @property
    def wants_project(self) -> bool:
        return bool(self.project_id or self.project_name)

    @property
    def wants_domain(self) -> bool:
        return bool(self.domain_id or self.domain_name)


class IdentityService:
    def __init__(self, store: IdentityStore, *, token_ttl: int = 3600,
                 limits: LoginLimits | None = None, hasher: PasswordHasher | None = None,
                 verified_ttl: float = 300.0, observer: LoginObserver | None = None,
                 rules: PasswordRules | None = None) -> None:
        self.store = store
        self.observer = observer
        self.rules = rules or PasswordRules()
        self.token_ttl = token_ttl
        self.limits = limits or LoginLimits()
        self.passwords = hasher or PasswordHasher()
        self.credentials = Credentials(self.passwords, verified_ttl)
        self._refusals_logged: dict[str, float] = {}
        """Throttle key -> the lock it was logged for (one line per lock, not per try)."""
        self._validated: dict[str, tuple[bytes, AuthContext]] = {}
        """Token hash -> (the store's change mark when read, its context)."""

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
        passwords = {"admin": new_secret(12), "demo": new_secret(12)}
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
        user = await self.store.create_user(await self.with_password(UserRecord(
            new_id(), name, domain_id, "!",
            default_project_id=default_project.id if default_project else None),
            password, "operator"))
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
        """The operator's reset on the host (`strato user passwd`): no rules but expiry."""
        user = await self.store.get_user(name=user_name, domain_id=domain_id)
        if user is None:
            raise IdentityNotFound(f"user {user_name!r}")
        await self.store.update_user(await self.with_password(user, password, "operator"))

    async def with_password(self, user: UserRecord, password: str, by: PasswordSetter
                            ) -> UserRecord:
        """`user` with `password` as its new password. Through the API (`by` an admin or
        the user) the password rules and history apply; an admin's is expired at once
        under change_password_upon_first_use."""
        if by != "operator":
            self.rules.check(password)
            for old in self.rules.recent_hashes(user):
                if await self.passwords.verify(old, password):
                    raise self.rules.history_error()
        return replace(user, password_hash=await self.passwords.hash(password),
                       extra=self.rules.state_after_change(user, time.time(), by))

    async def change_password(self, user_id: str, original: str, new: str,
                              client: str = "") -> None:
        """A user's own change: the original password proves it (failures count toward
        lockout like a login's; an expired one still proves it); the new one must pass the
        password rules, the minimum age and the history."""
        user = await self.authenticate_password(UserRef(id=user_id), original, client,
                                                allow_expired=True)
        self.rules.check_age(user, time.time())
        await self.store.update_user(await self.with_password(user, new, "self"))

    # ---- authentication -------------------------------------------------------------------
    async def authenticate_v1(self, auth_user: str, key: str, client: str = "") -> IssuedToken:
        """Swift v1.0 auth: `project:user` (or a plain `user`, scoped to its default project)."""
        project_name, _, user_name = auth_user.rpartition(":")
        user = await self.authenticate_password(UserRef(name=user_name), key, client)
        if project_name:
            project = await self.store.get_project(name=project_name,
                                                   domain_id=DEFAULT_DOMAIN_ID)
        elif user.default_project_id:
            project = await self.store.get_project(id=user.default_project_id)
        else:
            projects = await self.store.user_projects(user.id)
            project = projects[0] if projects else None
        roles = await self.store.user_roles(user.id, project_id=project.id) if project else []
        if project is None or not project.enabled or not roles:
            raise Unauthorized("The user has no role on the requested project.")
        return await self.issue_token(user, Scope(project, None, tuple(roles)),
                                      methods=("password",), extra={SWIFT_V1: True})

    async def issue_token(self, user: UserRecord, scope: Scope, *,
                          methods: tuple[str, ...] = ("password",),
                          expires_at: float | None = None, extra: dict[str, object] | None = None
                          ) -> IssuedToken:
        """Store a new token and return it with its context, built from what the caller
        just read (one write, no read back: validation reads the store afresh anyway)."""
        token = new_secret(32)
        now = time.time()
        project = scope.project
        record = TokenRecord(
            hash_token(token), user.id, project.id if project else None, scope.domain_id, now,
            min(expires_at, now + self.token_ttl) if expires_at else now + self.token_ttl,
            methods, secrets.token_urlsafe(16), extra or {})
        roles = tuple(sorted(scope.roles, key=lambda r: r.name))
        context = self._context(TokenView(record, user, project, roles))
        if context is None:
            raise Unauthorized("Token could not be scoped.")
        await self.store.save_token(record)
        return IssuedToken(token, context)

    async def validate_token(self, token: str) -> AuthContext | None:
        """The context of a live token, or None if unknown, revoked or expired."""
        if not token or len(token) > 512:
            return None
        token_hash = hash_token(token)
        mark = self.store.change_mark()  # read before the store, never after
        if mark is not None:
            seen = self._validated.get(token_hash)
            if seen is not None and seen[0] == mark:
                return seen[1] if seen[1].expires_at > time.time() else None
        view = await self._token_view(token_hash)
        if view is None or view.token.expires_at <= time.time():
            return None
        context = self._context(view)
        if context is not None and mark is not None and not view.token.extra.get(
                "app_cred_id"):  # an application credential also expires on its own
            if len(self._validated) >= VALIDATED_TOKENS:
                self._validated.clear()
            self._validated[token_hash] = (mark, context)
        return context

    async def _token_view(self, token_hash: str) -> TokenView | None:
        """The token in one store read; an application credential's token also needs its
        credential live, and keeps only the roles the credential names."""
        view = await self.store.token_view(token_hash)
        app_cred_id = view.token.extra.get("app_cred_id") if view else None
        if view is None or not app_cred_id:
            return view
        app = await self.store.get_app_credential(id=str(app_cred_id))
        if app is None or (app.expires_at and app.expires_at <= time.time()):
            return None
        return replace(view, roles=tuple(r for r in view.roles if r.id in app.role_ids))

    async def revoke_token(self, token: str) -> bool:
        return await self.store.revoke_token(hash_token(token))

    @staticmethod
    def _context(view: TokenView) -> AuthContext | None:
        """The context of a token read with its user, project and roles (roles already
        narrowed to an application credential's), or None if something it stands on is
        disabled, gone or grants no role on its scope."""
        record, user, project, roles = view.token, view.user, view.project, view.roles
        if not user.enabled:
            return None
        if record.project_id:
            if project is None or not project.enabled:
                return None
        else:
            project = None
        if (record.project_id or record.domain_id) and not roles:
            return None
        if not (record.project_id or record.domain_id):
            roles = ()
        return AuthContext(
            token_hash=record.token_hash, user_id=user.id, user_name=user.name,
            user_domain_id=user.domain_id, project_id=project.id if project else None,
            project_name=project.name if project else None,
            project_domain_id=project.domain_id if project else None,
            domain_id=record.domain_id, roles=tuple(r.name for r in roles),
            role_ids=tuple(r.id for r in roles), issued_at=record.issued_at,
            expires_at=record.expires_at, methods=record.methods, audit_id=record.audit_id,
            extra=record.extra)

    # ---- Keystone flows -----------------------------------------------------------------
    async def resolve_domain(self, id: str | None = None, name: str | None = None
                             ) -> DomainRecord | None:
        if id:
            return await self.store.get_domain(id=id)
        if name:
            return await self.store.get_domain(name=name)
        return await self.store.get_domain(id=DEFAULT_DOMAIN_ID)

    async def find_user(self, ref: UserRef) -> UserRecord | None:
        if ref.id:
            return await self.store.get_user(id=ref.id)
        if not ref.name:
            return None
        domain = await self.resolve_domain(ref.domain_id, ref.domain_name)
        if domain is None or not domain.enabled:
            return None
        return await self.store.get_user(name=ref.name, domain_id=domain.id)

    async def authenticate_password(self, ref: UserRef, password: str, client: str = "",
                                    *, allow_expired: bool = False) -> UserRecord:
        """Check a password, refusing early while this user or client is locked out, and
        refusing a right one past its expiry unless `allow_expired` (a change of it).

        Failures are counted in the store, so the limits hold across every worker."""
        label = ref.label()
        now = time.time()
        limits, pair_failed = await self._throttle(label, client, now)
        user = await self.find_user(ref)
        # a disabled user, or one without a password ("!"), costs a (dummy) hash all the same
        live = user if user and user.enabled and user.password_hash.startswith("$") else None

        async def upgrade(new_hash: str) -> bool:
            assert live is not None
            return await self.store.replace_secret_hash(old=live.password_hash, new=new_hash,
                                                        user_id=live.id)

        ok = await self._check_secret("password", live.id if live else None,
                                      live.password_hash if live else None, password, upgrade)
        if user is None or live is None or not ok:
            await self.store.count_login_failure(limits, now, self.limits.window)
            log.warning("failed login for user %s from %s", label, client or "?")
            if self.observer is not None:
                self.observer.failed("password")
            raise Unauthorized("The request you have made requires authentication.")
        if pair_failed:
            await self.store.clear_login_failures(_pair_key(label, client))
        if not allow_expired and self.rules.expired(user, now):
            log.warning("refused login for user %s from %s: password expired", label,
                        client or "?")
            raise PasswordExpired(user.id)
        return user

    async def _check_secret(self, kind: str, subject: str | None, stored_hash: str | None,
                            secret: str, upgrade: Callable[[str], Awaitable[bool]]) -> bool:
        try:
            return await self.credentials.check(kind, subject, stored_hash, secret, upgrade)
        except HasherBusy:
            log.warning("login refused: too many password checks queued in this worker")
            if self.observer is not None:
                self.observer.refused("busy")
            raise TooManyAttempts(1, "Too many logins at once; try again shortly.") from None

    async def _throttle(self, label: str, client: str, now: float
                        ) -> tuple[dict[str, int], bool]:
        """TooManyAttempts while any limit on this user or client is reached; otherwise
        the keys to count a failure under, and whether the user+client key has failures
        to clear on success."""
        limits = self.limits
        keys = {_pair_key(label, client): limits.per_user_client,
                f"client|{client}": limits.per_client if client else 0,
                f"user|{label}": limits.per_user}
        counted = {key: limit for key, limit in keys.items() if limit > 0}
        pair_failed = False
        for key in counted:
            failures = await self.store.get_login_failures(key)
            if failures is None:
                continue
            if failures.locked_until > now:
                if self._refusals_logged.get(key) != failures.locked_until:
                    if len(self._refusals_logged) >= 10_000:
                        self._refusals_logged.clear()
                    self._refusals_logged[key] = failures.locked_until
                    log.warning("login refused for user %s from %s: %s locked out after %d "
                                "failures", label, client or "?", key.split("|", 1)[0],
                                failures.failures)
                if self.observer is not None:
                    self.observer.refused(LOCKOUT_REASONS[key.split("|", 1)[0]])
                await asyncio.sleep(limits.refused_delay)
                raise TooManyAttempts(int(failures.locked_until - now) + 1)
            pair_failed = pair_failed or key == _pair_key(label, client)
        return counted, pair_failed

    async def resolve_scope(self, user: UserRecord, scope: ScopeRef) -> Scope:
        """What the user may scope to, with its roles there; Unauthorized if it has none."""
        if scope.wants_project:
            if scope.project_id:
                project = await self.store.get_project(id=scope.project_id)
            else:
                domain = await self.resolve_domain(scope.project_domain_id,
                                                   scope.project_domain_name)
                project = await self.store.get_project(
                    name=scope.project_name, domain_id=domain.id) if domain else None
            roles = await self.store.user_roles(user.id, project_id=project.id) if (
                project is not None and project.enabled) else []
            if project is None or not roles:
                raise Unauthorized("The user has no role on the requested project.")
            return Scope(project, None, tuple(roles))
        if scope.wants_domain:
            domain = await self.resolve_domain(scope.domain_id, scope.domain_name)
            roles = await self.store.user_roles(user.id, domain_id=domain.id) if (
                domain is not None and domain.enabled) else []
            if domain is None or not roles:
                raise Unauthorized("The user has no role on the requested domain.")
            return Scope(None, domain.id, tuple(roles))
        if not scope.unscoped and user.default_project_id:
            roles = await self.store.user_roles(user.id, project_id=user.default_project_id)
            project = await self.store.get_project(id=user.default_project_id) if roles else None
            if project is not None and project.enabled:
                return Scope(project, None, tuple(roles))
        return Scope()

    async def issue_scoped(self, user: UserRecord, scope: ScopeRef,
                           methods: tuple[str, ...]) -> IssuedToken:
        return await self.issue_token(user, await self.resolve_scope(user, scope),
                                      methods=methods)

    async def rescope(self, token: str, scope: ScopeRef) -> IssuedToken:
        """The `token` method: a new token for the same user, never outliving the old one."""
        ctx = await self.validate_token(token)
        if ctx is None:
            raise Unauthorized("The request you have made requires authentication.")
        if "application_credential" in ctx.methods:
            if scope.wants_domain or (scope.project_id and scope.project_id != ctx.project_id):
                raise Unauthorized("Application credential tokens cannot be rescoped.")
            scope = ScopeRef(project_id=ctx.project_id)
        user = await self.store.get_user(id=ctx.user_id)
        if user is None:
            raise Unauthorized("The request you have made requires authentication.")
        target = await self.resolve_scope(user, scope)
        if "application_credential" in ctx.methods:  # keep to the credential's roles
            target = replace(target, roles=tuple(r for r in target.roles
                                                 if r.id in ctx.role_ids))
        methods = tuple(dict.fromkeys(("token", *ctx.methods)))
        return await self.issue_token(user, target, methods=methods,
                                      expires_at=ctx.expires_at, extra=dict(ctx.extra))

    # ---- application credentials ----------------------------------------------------------
    async def create_app_credential(
        self, user_id: str, project_id: str, name: str, *, secret: str | None = None,
        role_names: list[str] | None = None, expires_at: float | None = None,
        description: str = "", unrestricted: bool = False,
        access_rules: list[Rule | str] | None = None,
    ) -> tuple[AppCredentialRecord, str]:
        """A new credential on `project_id` with at most the user's roles there. Each access
        rule is a (service, method, path) or the id of one of the user's rules; a rule
        equal to one the user has keeps that one's id, as Keystone's do."""
        held = {r.name: r for r in await self.store.user_roles(user_id, project_id=project_id)}
        if not held:
            raise Unauthorized("The user has no role on the project.")
        wanted = role_names if role_names else list(held)
        missing = [r for r in wanted if r not in held]
        if missing:
            raise IdentityNotFound(f"role {missing[0]!r} is not held on the project")
        if await self.store.get_app_credential(name=name, user_id=user_id):
            raise IdentityConflict(f"application credential {name!r} already exists")
        rules = None if access_rules is None else await self._resolve_rules(user_id,
                                                                            access_rules)
        secret = secret or new_secret(48)
        record = AppCredentialRecord(
            new_id(), name, user_id, project_id, await self.passwords.hash(secret),
            tuple(held[r].id for r in wanted), time.time(), expires_at, description,
            unrestricted, rules)
        await self.store.create_app_credential(record)
        return record, secret

    async def list_access_rules(self, user_id: str) -> list[AccessRuleRecord]:
        """The user's access rules: those its application credentials hold (a rule lives
        as long as a credential uses it)."""
        found: dict[str, AccessRuleRecord] = {}
        for record in await self.store.list_app_credentials(user_id):
            for rule in record.access_rules or ():
                found.setdefault(rule.id, rule)
        return list(found.values())

    async def _resolve_rules(self, user_id: str, wanted: list[Rule | str]
                             ) -> tuple[AccessRuleRecord, ...]:
        known = await self.list_access_rules(user_id)
        by_id = {r.id: r for r in known}
        by_rule = {(r.service, r.method, r.path): r for r in known}
        rules: dict[str, AccessRuleRecord] = {}
        for item in wanted:
            if isinstance(item, str):
                if item not in by_id:
                    raise IdentityNotFound(f"Could not find access rule: {item}.")
                rule = by_id[item]
            else:
                rule = by_rule.get(item) or AccessRuleRecord(new_id(), *item)
                by_rule[item] = rule
            rules.setdefault(rule.id, rule)
        return tuple(rules.values())

    async def authenticate_app_credential(self, *, id: str | None, name: str | None,
                                          user: UserRef | None, secret: str,
                                          client: str = "") -> IssuedToken:
        label = f"appcred:{id}" if id else f"appcred:{name}:{user.label() if user else ''}"
        now = time.time()
        limits, pair_failed = await self._throttle(label, client, now)
        owner = await self.find_user(user) if user and not id else None
        record = None
        if id:
            record = await self.store.get_app_credential(id=id)
        elif name and owner is not None:
            record = await self.store.get_app_credential(name=name, user_id=owner.id)
        live = record if record is not None and not (
            record.expires_at and record.expires_at <= now) else None

        async def upgrade(new_hash: str) -> bool:
            assert live is not None
            return await self.store.replace_secret_hash(old=live.secret_hash, new=new_hash,
                                                        app_cred_id=live.id)

        ok = await self._check_secret("application credential", live.id if live else None,
                                      live.secret_hash if live else None, secret, upgrade)
        if live is None or not ok:
            await self.store.count_login_failure(limits, now, self.limits.window)
            log.warning("failed application credential login %s from %s", label,
                        client or "?")
            if self.observer is not None:
                self.observer.failed("application_credential")
            raise Unauthorized("The request you have made requires authentication.")
        if pair_failed:
            await self.store.clear_login_failures(_pair_key(label, client))
        account = await self.store.get_user(id=live.user_id)
        if account is None or not account.enabled:
            raise Unauthorized("The request you have made requires authentication.")
        project = await self.store.get_project(id=live.project_id)
        roles = [r for r in await self.store.user_roles(account.id, project_id=live.project_id)
                 if r.id in live.role_ids]
        if project is None or not project.enabled or not roles:
            raise Unauthorized("The user has no role on the credential's project.")
        return await self.issue_token(
            account, Scope(project, None, tuple(roles)), methods=("application_credential",),
            expires_at=live.expires_at, extra=_app_cred_extra(live))


def _app_cred_extra(record: AppCredentialRecord) -> dict[str, object]:
    """What a token made from `record` carries: the credential, and its access rules so
    every service checks them without a lookup."""
    extra: dict[str, object] = {"app_cred_id": record.id}
    if record.access_rules is not None:
        extra[ACCESS_RULES] = [[r.service, r.method, r.path] for r in record.access_rules]
    return extra


def _pair_key(label: str, client: str) -> str:
    """The throttle key of one user (or credential) from one client address."""
    return f"pair|{label}|{client}"
