"""Who may do what to an account, container or object.

A project's accounts are `<prefix><project_id>` for each reseller prefix (`AUTH_`,
`SERVICE_`), as Swift's keystoneauth names them. Owners (a role in `operator_roles` on the
account's project, or the reseller-admin role) may do everything; under a prefix with
service roles (`SERVICE_`), an owner must also present an `X-Service-Token` holding one of
them, so data a service keeps for a user cannot be changed by the user alone.

Container ACLs (`X-Container-Read`/`-Write`) grant others, read as the middleware that
would have issued the caller's token reads them. For a Keystone token, as keystoneauth:
`project:user` by id (`project:*`, `*:user`, `*:*`), by name only while the user, its
project and the account's project are all in the default domain, and a bare entry is a role
name that counts in the caller's own project's account only. For a Swift v1.0 token, as
tempauth's groups besides those: a bare entry may also name the user, its project (name or
id: its users) or an account (its owners), and role names count anywhere. Referrer elements
`.r:*`, `.r:host`, `.r:.domain`, `.r:-host` plus `.rlistings` for listings, for everyone.

Account ACLs (`X-Account-Access-Control: {"admin": [...], "read-write": [...],
"read-only": [...]}`, set by an owner) take the same entries: read-only lists and reads
everything, read-write also creates and deletes containers and objects, admin is an owner
of the account. Only owners see or set the owner-only headers (`OWNER_HEADERS`); anyone else
sending them has them dropped, as Swift's proxy does. `/info` advertises account ACLs as
tempauth does, which is where Swift's clients and functional tests look for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import orjson

from strato.api.swift.errors import SwiftError
from strato.domain.identity import DEFAULT_DOMAIN_ID, SWIFT_V1, AuthContext

ACCOUNT_ACL_HEADER = "x-account-access-control"
ACCOUNT_ACCESS = "account_access"
"""`sr.state` key: the caller's level from the account ACL (`admin`, `read-write`, ...)."""
ACCESS_LEVELS = ("admin", "read-write", "read-only")
OWNER_HEADERS = ("x-container-read", "x-container-write", "x-container-sync-key",
                 "x-container-sync-to", "x-account-meta-temp-url-key",
                 "x-account-meta-temp-url-key-2", "x-container-meta-temp-url-key",
                 "x-container-meta-temp-url-key-2", "x-account-access-control")


def clean_acl(name: str, value: str) -> str:
    """Validate and normalise an ACL header as Swift does; 400 on a bad element."""
    values = []
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        if item.startswith("."):
            designator, _, rest = item.partition(":")
            designator = designator.strip()
            rest = rest.strip()
            if designator in (".r", ".ref", ".referer", ".referrer"):
                if "write" in name:
                    raise SwiftError(400, f"Referrers not allowed in write ACL: {item!r}")
                negate = rest.startswith("-")
                host = rest[1:].strip() if negate else rest
                host = host[1:] if host.startswith("*.") else host  # `*.example.com` = domain
                if not host or host in (".", "-"):
                    raise SwiftError(400, f"No host/domain value after referrer "
                                     f"designation in ACL: {item!r}")
                values.append(f".r:{'-' if negate else ''}{host}")
            elif designator == ".rlistings" and not rest:
                values.append(".rlistings")
            else:
                raise SwiftError(400, f"Unknown designator {designator!r} in ACL: {item!r}")
        else:
            values.append(item)
    return ",".join(values)


@dataclass(frozen=True, slots=True)
class ParsedAcl:
    referrers: tuple[str, ...]
    groups: tuple[str, ...]
    listings: bool


def parse_acl(value: str | None) -> ParsedAcl:
    referrers: list[str] = []
    groups: list[str] = []
    listings = False
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith(".r:"):
            referrers.append(item[3:])
        elif item == ".rlistings":
            listings = True
        else:
            groups.append(item)
    return ParsedAcl(tuple(referrers), tuple(groups), listings)


def referrer_allowed(referrer: str | None, allowed: tuple[str, ...]) -> bool:
    try:
        host = urlparse(referrer).hostname or "" if referrer else ""
    except ValueError:  # no URL (`http://[x`): a host no rule but `*` can name
        host = ""
    ok = False
    for rule in allowed:
        negate = rule.startswith("-")
        pattern = rule[1:] if negate else rule
        if pattern == "*" or pattern == host or (
                pattern.startswith(".") and host.endswith(pattern)):
            ok = not negate
    return ok


def keystone_matches(ctx: AuthContext, groups: tuple[str, ...], *, own_account: bool,
                     names: bool) -> bool:
    """keystoneauth's reading: `project:user` by id or `*` (by name when `names`), and a
    role name, which counts only in the caller's own account (`own_account`)."""
    projects = {ctx.project_id or "", "*"}
    users = {ctx.user_id, "*"}
    if names:
        projects.add(ctx.project_name or "")
        users.add(ctx.user_name)
    for group in groups:
        project, sep, user = group.partition(":")
        if sep:
            if project in projects and user in users and (ctx.project_id is not None
                                                          or project == "*"):
                return True
        elif own_account and group.lower() in ctx.role_set:
            return True
    return False


def group_matches(ctx: AuthContext, groups: tuple[str, ...],
                  owned: frozenset[str] = frozenset()) -> bool:
    """Whether an ACL entry names the caller: `project:user` (ids, names or `*`), a role
    name, the user, or, as tempauth's groups, the caller's project (its v1.0 "account") or
    an account the caller owns."""
    user_keys = {ctx.user_id, ctx.user_name, "*"}
    project_keys = {ctx.project_id or "", ctx.project_name or "", "*"}
    names = {ctx.user_id, ctx.user_name, *owned}
    if ctx.project_id is not None:
        names.update((ctx.project_id, ctx.project_name or ctx.project_id))
    roles = ctx.role_set
    for group in groups:
        project, sep, user = group.partition(":")
        if sep:
            if project in project_keys and user in user_keys and (ctx.project_id is not None
                                                                  or project == "*"):
                return True
        elif group.lower() in roles or group in names:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Authorizer:
    operator_roles: tuple[str, ...]
    reseller_admin_role: str
    reseller_prefixes: tuple[str, ...] = ("AUTH_",)
    """Account name prefixes; the first names the account in storage URLs."""
    service_roles: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(prefix, roles): accounts under the prefix also need a service token with a role."""
    _operators: frozenset[str] = field(init=False, repr=False, compare=False)
    """The role names lower-cased once, as contexts hold theirs (`AuthContext.role_set`)."""
    _reseller_admin: frozenset[str] = field(init=False, repr=False, compare=False)
    _service: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)
    _longest_first: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """`reseller_prefixes` by length, longest first (in their order among equals)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_longest_first",
                           tuple(sorted(self.reseller_prefixes, key=len, reverse=True)))
        object.__setattr__(self, "_operators", frozenset(r.lower() for r in self.operator_roles))
        object.__setattr__(self, "_reseller_admin",
                           frozenset((self.reseller_admin_role.lower(),)))
        service: dict[str, frozenset[str]] = {}
        for prefix, roles in self.service_roles:
            service.setdefault(prefix, frozenset(r.lower() for r in roles))
        object.__setattr__(self, "_service", service)

    @property
    def storage_prefix(self) -> str:
        return self.reseller_prefixes[0] if self.reseller_prefixes else ""

    def account_prefix(self, account: str) -> str | None:
        """The reseller prefix `account` falls under (the longest that matches), or None."""
        for prefix in self._longest_first:
            if account.startswith(prefix):
                return prefix
        return None

    def is_reseller(self, ctx: AuthContext | None) -> bool:
        return ctx is not None and not ctx.role_set.isdisjoint(self._reseller_admin)

    def is_owner(self, ctx: AuthContext | None, account: str) -> bool:
        if ctx is None:
            return False
        if self.is_reseller(ctx):
            return True
        project_id = ctx.project_id
        if project_id is None or not account.endswith(project_id):
            return False
        prefix = self.account_prefix(account)
        if (prefix is None or account != prefix + project_id
                or ctx.role_set.isdisjoint(self._operators)):
            return False
        needed = self._service.get(prefix)
        return not needed or not needed.isdisjoint(ctx.service_role_set)

    def owned_accounts(self, ctx: AuthContext) -> frozenset[str]:
        """The accounts the caller's own token owns (no service token needed), which ACLs
        may name to grant that account's owners."""
        if ctx.project_id is None or ctx.role_set.isdisjoint(self._operators):
            return frozenset()
        return frozenset(p + ctx.project_id for p in self.reseller_prefixes
                         if not self._service.get(p))

    @staticmethod
    def deny(ctx: AuthContext | None) -> SwiftError:
        return SwiftError(403 if ctx is not None else 401)

    def acl_matches(self, ctx: AuthContext, groups: tuple[str, ...], account: str,
                    account_domain: str | None) -> bool:
        """A container ACL's entries against the caller, read as its token's issuer would
        (`account_domain`: the domain of the account's project, None if unknown)."""
        if ctx.extra.get(SWIFT_V1):
            return group_matches(ctx, groups, self.owned_accounts(ctx))
        own = ctx.project_id is not None and self.account_prefix(account) is not None \
            and account == (self.account_prefix(account) or "") + ctx.project_id
        names = (ctx.user_domain_id == DEFAULT_DOMAIN_ID
                 and ctx.project_domain_id in (None, DEFAULT_DOMAIN_ID)
                 and (own or account_domain in (None, DEFAULT_DOMAIN_ID)))
        return keystone_matches(ctx, groups, own_account=own, names=names)

    def can_read(self, ctx: AuthContext | None, read_acl: str | None, referrer: str | None,
                 *, listing: bool = False, account: str = "",
                 account_domain: str | None = None) -> bool:
        acl = parse_acl(read_acl)
        if ctx is not None and self.acl_matches(ctx, acl.groups, account, account_domain):
            return True
        if acl.referrers and referrer_allowed(referrer, acl.referrers):
            return acl.listings if listing else True
        return False

    def can_write(self, ctx: AuthContext | None, write_acl: str | None, *, account: str = "",
                  account_domain: str | None = None) -> bool:
        return ctx is not None and self.acl_matches(ctx, parse_acl(write_acl).groups,
                                                    account, account_domain)

    def account_access(self, ctx: AuthContext | None, acl: str | None) -> str | None:
        """The highest level the account ACL grants the caller, or None."""
        if ctx is None or not acl:
            return None
        try:
            document = orjson.loads(acl)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(document, dict):
            return None
        owned = self.owned_accounts(ctx)
        for level in ACCESS_LEVELS:
            entries = document.get(level)
            if isinstance(entries, list) and group_matches(ctx, tuple(map(str, entries)),
                                                           owned):
                return level
        return None


def service_role_rules(pairs: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`["SERVICE_:service", "SERVICE_:other"]` -> `(("SERVICE_", ("service", "other")),)`."""
    rules: dict[str, list[str]] = {}
    for pair in pairs:
        prefix, _, role = pair.partition(":")
        rules.setdefault(prefix.strip(), []).append(role.strip())
    return tuple((prefix, tuple(roles)) for prefix, roles in rules.items())


def clean_account_acl(value: str) -> str:
    """Validate `X-Account-Access-Control`; 400 unless a JSON object of known levels to lists
    of strings. Returns the normalised JSON ("" removes the ACL)."""
    if not value.strip():
        return ""
    try:
        document: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise SwiftError(400, "Invalid X-Account-Access-Control: not JSON") from None
    if not isinstance(document, dict):
        raise SwiftError(400, "Invalid X-Account-Access-Control: not a JSON object")
    clean: dict[str, list[str]] = {}
    for level, entries in document.items():
        if level not in ACCESS_LEVELS:
            raise SwiftError(400, f"Invalid X-Account-Access-Control: unknown key {level!r}")
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise SwiftError(400, f"Invalid X-Account-Access-Control: {level!r} must be a "
                             "list of strings")
        if entries:
            clean[level] = entries
    return orjson.dumps(clean).decode() if clean else ""
