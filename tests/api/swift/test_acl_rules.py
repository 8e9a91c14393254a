"""Who an ACL lets in, rule by rule, without a server. The server-level tests (test_acl.py,
test_account_acl.py) show the headers at work; these pin each comparison of the rules, so a
check that grants too much (the costly direction) fails here, and fast enough for mutation
testing (scripts/mutation acl)."""

from __future__ import annotations

import pytest

from strato.api.swift.acl import (
    Authorizer,
    clean_account_acl,
    clean_acl,
    group_matches,
    keystone_matches,
    parse_acl,
    referrer_allowed,
    service_role_rules,
)
from strato.api.swift.errors import SwiftError
from strato.domain.identity import SWIFT_V1, AuthContext


def authz() -> Authorizer:
    """Made in each test, not at import: what its constructor derives is tested too."""
    return Authorizer(("admin", "Member"), "ResellerAdmin", ("AUTH_", "SERVICE_"),
                      service_role_rules(["SERVICE_:Service"]))


def ctx(*roles: str, project: str | None = "p1", user: str = "u1", v1: bool = False,
        user_domain: str = "default", project_domain: str | None = "default",
        service_roles: tuple[str, ...] = ()) -> AuthContext:
    return AuthContext(token_hash="h", user_id=user, user_name=f"{user}-name",
                       user_domain_id=user_domain, project_id=project,
                       project_name=None if project is None else f"{project}-name",
                       project_domain_id=project_domain, domain_id=None, roles=roles,
                       role_ids=(), issued_at=0.0, expires_at=1e12,
                       extra={SWIFT_V1: True} if v1 else {}, service_roles=service_roles)


@pytest.mark.parametrize(("value", "clean"), [
    ("", ""), (" a , ,b ", "a,b"), (".r:*", ".r:*"), (".ref:example.com", ".r:example.com"),
    (".referer: -bad.com", ".r:-bad.com"), (".referrer:*.example.com", ".r:.example.com"),
    (".r:-*.example.com", ".r:-.example.com"), (".rlistings", ".rlistings"),
    ("p:u, .r:*,.rlistings", "p:u,.r:*,.rlistings"),
])
def test_clean_read_acl(value: str, clean: str) -> None:
    assert clean_acl("x-container-read", value) == clean


@pytest.mark.parametrize(("name", "value"), [
    ("x-container-read", ".r:"), ("x-container-read", ".r:-"), ("x-container-read", ".r:."),
    ("x-container-read", ".r:*."), ("x-container-read", ".unknown:x"),
    ("x-container-read", ".rlistings:x"), ("x-container-write", ".r:*"),
    ("x-container-read", ".r:--"),
])
def test_bad_acl_elements_are_400(name: str, value: str) -> None:
    with pytest.raises(SwiftError) as err:
        clean_acl(name, value)
    assert err.value.status == 400
    assert value in (err.value.message or "")  # the body names the element refused


def test_parse_acl_splits_referrers_groups_and_listings() -> None:
    acl = parse_acl(" .r:a.com, p:u ,, .rlistings,role ")
    assert (acl.referrers, acl.groups, acl.listings) == (("a.com",), ("p:u", "role"), True)
    assert parse_acl(None) == parse_acl("") == parse_acl(" , ")
    assert parse_acl(None).listings is False


@pytest.mark.parametrize(("referrer", "rules", "allowed"), [
    ("http://a.com/x", ("*",), True),
    (None, ("*",), True),
    (None, ("a.com",), False),
    ("http://a.com/x", ("a.com",), True),
    ("http://b.a.com/x", ("a.com",), False),
    ("http://b.a.com/x", (".a.com",), True),
    ("http://xa.com/x", (".a.com",), False),
    ("http://b.com/x", ("a.com",), False),
    ("http://a.com/x", ("*", "-a.com"), False),
    ("http://b.com/x", ("*", "-a.com"), True),
    ("http://a.com/x", ("-a.com", "*"), True),  # the last matching rule decides
    ("http://b.a.com/x", ("*", "-.a.com"), False),
    ("http://a.com/x", (), False),
    # a Referer that is no URL (the fuzzer's find: urlparse raised, a 500) names no host
    ("http://[a.com/x", ("a.com",), False),
    ("http://[a.com/x", ("*",), True),
])
def test_referrer_rules(referrer: str | None, rules: tuple[str, ...], allowed: bool) -> None:
    assert referrer_allowed(referrer, rules) is allowed


@pytest.mark.parametrize(("groups", "own", "names", "match"), [
    (("p1:u1",), False, False, True),
    (("p1:*",), False, False, True),
    (("*:u1",), False, False, True),
    (("*:*",), False, False, True),
    (("p2:u1",), False, False, False),
    (("p1:u2",), False, False, False),
    (("p1-name:u1-name",), False, False, False),  # names only count when `names`
    (("p1-name:u1-name",), False, True, True),
    (("p1-name:u1",), False, True, True),
    (("member",), True, False, True),  # a role name, in the caller's own account
    (("MEMBER",), True, False, True),
    (("member",), False, False, False),  # ... and nowhere else
    (("u1",), True, True, False),  # a bare user id is no keystone entry
    (("p1",), True, True, False),
    ((), True, True, False),
])
def test_keystone_entries(groups: tuple[str, ...], own: bool, names: bool,
                          match: bool) -> None:
    assert keystone_matches(ctx("Member"), groups, own_account=own, names=names) is match


def test_keystone_entries_of_a_projectless_token() -> None:
    unscoped = ctx("member", project=None)
    assert keystone_matches(unscoped, ("*:u1",), own_account=False, names=False)
    assert not keystone_matches(unscoped, (":u1",), own_account=False, names=False)
    assert not keystone_matches(unscoped, (":*",), own_account=False, names=True)


@pytest.mark.parametrize(("groups", "owned", "match"), [
    (("p1:u1",), (), True), (("p1-name:u1-name",), (), True), (("*:*",), (), True),
    (("p2:u1",), (), False), (("p1:u2",), (), False),
    (("u1",), (), True), (("u1-name",), (), True), (("p1",), (), True),
    (("p1-name",), (), True), (("member",), (), True), (("MEMBER",), (), True),
    (("AUTH_p1",), ("AUTH_p1",), True), (("AUTH_p1",), (), False),
    (("u2", "p2", "other"), (), False), ((), (), False),
])
def test_v1_groups(groups: tuple[str, ...], owned: tuple[str, ...], match: bool) -> None:
    assert group_matches(ctx("Member"), groups, frozenset(owned)) is match


def test_v1_groups_of_a_projectless_token() -> None:
    unscoped = ctx("member", project=None)
    assert group_matches(unscoped, ("*:u1",))
    assert not group_matches(unscoped, (":u1",))
    assert not group_matches(unscoped, ("",))  # the missing project is not a name


def test_owners() -> None:
    assert authz().is_owner(ctx("member"), "AUTH_p1")
    assert authz().is_owner(ctx("Admin"), "AUTH_p1")
    assert not authz().is_owner(ctx("reader"), "AUTH_p1")  # no operator role
    assert not authz().is_owner(ctx("member"), "AUTH_p2")
    assert not authz().is_owner(ctx("member"), "AUTH_xp1")  # ends with the id, is not it
    assert not authz().is_owner(ctx("member"), "OTHER_p1")
    assert not authz().is_owner(ctx("member", project=None), "AUTH_p1")
    assert not authz().is_owner(None, "AUTH_p1")
    assert authz().is_owner(ctx("resellerADMIN", project=None), "AUTH_anyone")
    # the service prefix wants a service token with a service role as well
    assert not authz().is_owner(ctx("member"), "SERVICE_p1")
    assert not authz().is_owner(ctx("member", service_roles=("member",)), "SERVICE_p1")
    assert authz().is_owner(ctx("member", service_roles=("sERVICE",)), "SERVICE_p1")
    assert authz().owned_accounts(ctx("member")) == {"AUTH_p1"}
    assert authz().owned_accounts(ctx("reader")) == frozenset()
    assert authz().owned_accounts(ctx("member", project=None)) == frozenset()


def test_prefixes() -> None:
    longest = Authorizer(("admin",), "ResellerAdmin", ("A_", "A_B_"))
    assert longest.account_prefix("A_B_p1") == "A_B_"
    assert longest.account_prefix("A_p1") == "A_"
    assert longest.account_prefix("B_p1") is None
    assert longest.storage_prefix == "A_"
    assert Authorizer(("admin",), "ResellerAdmin", ()).storage_prefix == ""
    assert authz().is_reseller(ctx("ResellerAdmin")) and not authz().is_reseller(ctx("admin"))
    assert not authz().is_reseller(None)
    assert authz().deny(None).status == 401 and authz().deny(ctx()).status == 403


def test_container_read_and_write() -> None:
    other = ctx("member", project="p2", user="u2")
    assert authz().can_read(other, "p2:u2", None, account="AUTH_p1")
    assert not authz().can_read(other, "p1:u1", None, account="AUTH_p1")
    assert not authz().can_read(None, "p2:u2", None, account="AUTH_p1")
    assert authz().can_read(None, ".r:*", None, account="AUTH_p1")
    assert not authz().can_read(None, ".r:*", None, listing=True, account="AUTH_p1")
    assert authz().can_read(None, ".r:*,.rlistings", None, listing=True, account="AUTH_p1")
    assert not authz().can_read(None, ".r:a.com", "http://b.com/", account="AUTH_p1")
    assert authz().can_read(None, ".r:a.com", "http://a.com/x", account="AUTH_p1")
    assert not authz().can_read(other, "p2-name:u2-name", None, account="AUTH_p1",
                                account_domain="d")  # names do not count across domains
    # a v1.0 token's owners are named by their account
    v1_owner = ctx("member", project="p2", v1=True)
    assert authz().can_read(v1_owner, "AUTH_p2", None, account="AUTH_p1")
    assert not authz().can_read(v1_owner, "AUTH_p3", None, account="AUTH_p1")
    assert authz().can_read(other, "p2-name:u2-name", None, account="AUTH_p1",
                            account_domain="default")
    assert not authz().can_read(other, None, None, account="AUTH_p1")
    # a role entry counts in the caller's own account only (keystone), anywhere for v1
    assert not authz().can_read(other, "member", None, account="AUTH_p1")
    assert authz().can_read(other, "member", None, account="AUTH_p2")
    assert authz().can_read(ctx("member", project="p2", v1=True), "member", None,
                          account="AUTH_p1")
    assert authz().can_write(other, "p2:u2", account="AUTH_p1")
    assert not authz().can_write(other, ".r:*", account="AUTH_p1")
    assert not authz().can_write(None, "*:*", account="AUTH_p1")


def test_names_count_in_the_default_domain_only() -> None:
    by_name = "p2-name:u2-name"
    assert authz().can_write(ctx(project="p2", user="u2"), by_name, account="AUTH_p1")
    assert not authz().can_write(ctx(project="p2", user="u2", user_domain="d"), by_name,
                               account="AUTH_p1")
    assert not authz().can_write(ctx(project="p2", user="u2", project_domain="d"), by_name,
                               account="AUTH_p1")
    assert not authz().can_write(ctx(project="p2", user="u2"), by_name, account="AUTH_p1",
                               account_domain="d")
    assert authz().can_write(ctx(project="p2", user="u2"), by_name, account="AUTH_p1",
                           account_domain="default")
    assert authz().can_write(ctx(project="p2", user="u2", project_domain=None), by_name,
                           account="AUTH_p1")
    # in its own account a user's names count whatever the account's domain is said to be
    assert authz().can_write(ctx(project="p2", user="u2"), by_name, account="AUTH_p2",
                           account_domain="d")


def test_account_acl_levels() -> None:
    acl = '{"admin": ["p9:u9"], "read-write": ["p2:u2"], "read-only": ["*:u3", "u2"]}'
    assert authz().account_access(ctx(project="p2", user="u2"), acl) == "read-write"
    assert authz().account_access(ctx(project="p9", user="u9"), acl) == "admin"
    assert authz().account_access(ctx(project="p3", user="u3"), acl) == "read-only"
    assert authz().account_access(ctx(project="p4", user="u4"), acl) is None
    assert authz().account_access(None, acl) is None
    assert authz().account_access(ctx(), None) is None
    assert authz().account_access(ctx(), "not json") is None
    assert authz().account_access(ctx(), '["p1:u1"]') is None
    assert authz().account_access(ctx(), '{"admin": "p1:u1"}') is None
    assert authz().account_access(ctx("member"), '{"read-only": ["AUTH_p1"]}') == "read-only"


@pytest.mark.parametrize(("value", "clean"), [
    ("", ""), ("  ", ""), ('{"admin": []}', ""),
    ('{"read-only": ["a", "b"], "admin": []}', '{"read-only":["a","b"]}'),
])
def test_clean_account_acl(value: str, clean: str) -> None:
    assert clean_account_acl(value) == clean


@pytest.mark.parametrize("value", ["nope", "[]", '{"owner": ["a"]}', '{"admin": "a"}',
                                   '{"admin": [1]}'])
def test_bad_account_acl_is_400(value: str) -> None:
    with pytest.raises(SwiftError) as err:
        clean_account_acl(value)
    assert err.value.status == 400
    assert (err.value.message or "").startswith("Invalid X-Account-Access-Control: ")


def test_service_role_rules_group_by_prefix() -> None:
    assert service_role_rules([" SERVICE_ : service", "SERVICE_:other", "X_:y"]) == (
        ("SERVICE_", ("service", "other")), ("X_", ("y",)))
