"""The identity service's decisions without a server: the real service over a real SQLite
store in a temporary directory, real Argon2id (at OWASP's cheapest point) and a clock the
test moves, so expiry and lockout boundaries are checked to the second. The Keystone API
tests (tests/api/identity) show the same rules over HTTP; these are fast enough for
mutation testing (scripts/mutation identity)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time as real_time
from collections.abc import Awaitable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from strato.domain import identity
from strato.domain.identity import (
    ACCESS_RULES,
    DAY,
    DEFAULT_DOMAIN_ID,
    PASSWORD_EXPIRES_AT,
    PASSWORD_HISTORY,
    PASSWORD_SELF_SERVICE,
    PASSWORD_SET_AT,
    SEED_ROLES,
    SWIFT_V1,
    AuthContext,
    IdentityConflict,
    IdentityNotFound,
    IdentityService,
    LoginLimits,
    PasswordExpired,
    PasswordRejected,
    PasswordRules,
    Scope,
    ScopeRef,
    TooManyAttempts,
    Unauthorized,
    UserRef,
    hash_token,
    new_id,
    new_secret,
    password_expires_at,
)
from strato.domain.passwords import HashParams, PasswordHasher
from strato.stores.metadata.records import (
    DomainRecord,
    ProjectRecord,
    RoleRecord,
    UserRecord,
)
from strato.stores.metadata.sqlite import SqliteMetadataStore

T = TypeVar("T")
FAST = HashParams(memory_kib=12288, time_cost=3)  # OWASP's cheapest point: ~20 ms a hash
START = 1_800_000_000.0


class Clock:
    """Stands in for the `time` module inside strato.domain.identity only."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


class Observer:
    """Records what the service reports (the server turns it into metrics)."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.refusals: list[str] = []

    def failed(self, kind: str) -> None:
        self.failures.append(kind)

    def refused(self, reason: str) -> None:
        self.refusals.append(reason)


class Env:
    """A store on its own event loop, a hasher, and services over them."""

    def __init__(self, tmp: Path, clock: Clock) -> None:
        self.clock = clock
        self.loop = asyncio.new_event_loop()
        self.store = SqliteMetadataStore(tmp / "metadata.db")
        self.hasher = PasswordHasher(FAST)
        self.seen = Observer()
        self.run(self.store.open())
        self.run(self.store.create_domain(DomainRecord(DEFAULT_DOMAIN_ID, "Default")))
        self.svc = self.service()

    def service(self, **options: Any) -> IdentityService:
        """Another service (another worker) on the same store, with `options`."""
        options.setdefault("limits", LoginLimits(refused_delay=0))
        return IdentityService(self.store, hasher=self.hasher, observer=self.seen, **options)

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.store.close())
        self.hasher.close()
        self.loop.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock(START)
    monkeypatch.setattr(identity, "time", moved)
    return moved


@pytest.fixture
def env(tmp_path: Path, clock: Clock) -> Iterator[Env]:
    made = Env(tmp_path, clock)
    yield made
    made.close()


def rejected(call: Awaitable[object], env: Env, error: type[Exception] = Unauthorized
             ) -> Exception:
    """The exception `call` raises, of exactly `error` (a lockout is no wrong password)."""
    with pytest.raises(error) as caught:
        env.run(call)
    assert type(caught.value) is error
    return caught.value


# ---- password rules (no store) ------------------------------------------------------------

def user(**extra: Any) -> UserRecord:
    return UserRecord("u1", "alice", DEFAULT_DOMAIN_ID, "$argon2id$current", extra=extra)


def test_the_password_regex_must_match_the_whole_password() -> None:
    PasswordRules().check("anything at all")
    rules = PasswordRules(regex="[a-z]+[0-9]")
    rules.check("abc1")
    for bad in ("abc1x", "xabc", "ABC1"):
        with pytest.raises(PasswordRejected) as caught:
            rules.check(bad)
        assert str(caught.value) == (
            "The password does not meet the requirements: [a-z]+[0-9].")
    with pytest.raises(PasswordRejected, match=r"requirements: a letter then a digit\.$"):
        PasswordRules(regex="[a-z]+[0-9]", description="a letter then a digit").check("1")


def test_minimum_age_holds_only_for_a_password_the_user_set_itself() -> None:
    rules = PasswordRules(minimum_age_days=3)
    own = user(**{PASSWORD_SET_AT: START, PASSWORD_SELF_SERVICE: True})
    with pytest.raises(PasswordRejected) as caught:
        rules.check_age(own, START + 0.5 * DAY)
    assert str(caught.value) == (  # Keystone's words
        "You cannot change your password at this time due to the minimum password age. Once "
        "you change your password, it must be used for 3 day(s) before it can be changed. "
        "Please try again in 2 day(s) or contact your administrator to reset your password.")
    with pytest.raises(PasswordRejected, match=r"in 0 day\(s\)"):
        rules.check_age(own, START + 3 * DAY - 1)
    rules.check_age(own, START + 3 * DAY)  # the age reached: allowed
    rules.check_age(user(**{PASSWORD_SET_AT: START, PASSWORD_SELF_SERVICE: False}), START)
    rules.check_age(user(**{PASSWORD_SELF_SERVICE: True}), START)  # set before the rule
    rules.check_age(user(**{PASSWORD_SET_AT: "x", PASSWORD_SELF_SERVICE: True}), START)
    PasswordRules().check_age(own, START)  # no minimum age


def test_history_covers_the_current_password_and_count_minus_two_before_it() -> None:
    old = user(**{PASSWORD_HISTORY: ["$h1", 7, "$h2", "$h3"]})
    assert PasswordRules().recent_hashes(old) == []
    assert PasswordRules(unique_last_count=1).recent_hashes(old) == []
    assert PasswordRules(unique_last_count=2).recent_hashes(old) == ["$argon2id$current"]
    assert PasswordRules(unique_last_count=3).recent_hashes(old) == ["$argon2id$current",
                                                                     "$h1"]
    assert PasswordRules(unique_last_count=9).recent_hashes(old) == [
        "$argon2id$current", "$h1", "$h2", "$h3"]
    assert PasswordRules(unique_last_count=3).recent_hashes(user()) == ["$argon2id$current"]
    none = replace(old, password_hash="!")  # no password: nothing to compare with
    assert PasswordRules(unique_last_count=3).recent_hashes(none) == []
    assert str(PasswordRules(unique_last_count=4).history_error()) == (
        "The new password cannot be identical to a previous password. The total number "
        "which includes the new password must be unique is 4.")


def test_a_password_expires_at_its_expiry_to_the_second() -> None:
    rules = PasswordRules()
    dated = user(**{PASSWORD_EXPIRES_AT: START})
    assert not rules.expired(dated, START - 0.001)
    assert rules.expired(dated, START)
    assert not rules.expired(user(), START)
    assert not rules.expired(user(**{PASSWORD_EXPIRES_AT: "soon"}), START)
    assert password_expires_at(dated) == START and isinstance(
        password_expires_at(user(**{PASSWORD_EXPIRES_AT: 5})), float)
    assert password_expires_at(user()) is None
    assert password_expires_at(user(**{PASSWORD_EXPIRES_AT: "soon"})) is None


def test_state_after_a_change_dates_it_expires_it_and_keeps_the_history() -> None:
    previous = user(**{PASSWORD_HISTORY: ["$h1", "$h2"], PASSWORD_EXPIRES_AT: 1.0, "x": 1})
    plain = PasswordRules().state_after_change(previous, START, "self")
    assert plain == {PASSWORD_SET_AT: START, PASSWORD_SELF_SERVICE: True, "x": 1}
    assert previous.extra[PASSWORD_EXPIRES_AT] == 1.0  # the record itself is left alone

    rules = PasswordRules(expires_days=10, unique_last_count=3, change_upon_first_use=True)
    by_admin = rules.state_after_change(previous, START, "admin")
    assert by_admin[PASSWORD_EXPIRES_AT] == START  # changed upon first use
    assert by_admin[PASSWORD_SELF_SERVICE] is False
    assert by_admin[PASSWORD_HISTORY] == ["$argon2id$current", "$h1"]
    by_self = rules.state_after_change(previous, START, "self")
    assert by_self[PASSWORD_EXPIRES_AT] == START + 10 * DAY
    by_operator = rules.state_after_change(previous, START, "operator")
    assert by_operator[PASSWORD_EXPIRES_AT] == START + 10 * DAY
    assert by_operator[PASSWORD_SELF_SERVICE] is False

    two = PasswordRules(unique_last_count=2).state_after_change(previous, START, "self")
    assert two[PASSWORD_HISTORY] == ["$argon2id$current"]
    unset = PasswordRules(unique_last_count=3).state_after_change(
        replace(previous, password_hash="!", extra={}), START, "self")
    assert PASSWORD_HISTORY not in unset  # nothing to remember
    assert PASSWORD_HISTORY not in PasswordRules(unique_last_count=1).state_after_change(
        previous, START, "self")


# ---- small pieces -------------------------------------------------------------------------

def test_secrets_ids_and_token_hashes() -> None:
    for _ in range(200):
        secret = new_secret(3)
        assert len(secret) == 4 and not secret.startswith("-")
    assert len(new_secret()) == 43
    assert len(new_id()) == 32 and new_id() != new_id()
    assert hash_token("tok") == hashlib.sha256(b"tok").hexdigest()


def test_default_login_limits_are_the_documented_ones() -> None:
    assert LoginLimits() == LoginLimits(per_user_client=5, per_client=100, per_user=0,
                                        window=60, refused_delay=1.0)


def context(roles: tuple[str, ...] = (), **extra: object) -> AuthContext:
    return AuthContext(token_hash="h", user_id="u", user_name="n", user_domain_id="d",
                       project_id="p", project_name="pn", project_domain_id="d",
                       domain_id=None, roles=roles, role_ids=(), issued_at=0.0,
                       expires_at=1.0, extra=dict(extra), service_roles=("Service",))


def test_role_questions_ignore_case_and_access_rules_bind_only_when_present() -> None:
    ctx = context(("Member", "reader"))
    assert ctx.role_set == {"member", "reader"} and ctx.service_role_set == {"service"}
    assert ctx.has_any_role(["MEMBER"]) and ctx.has_any_role(("x", "Reader"))
    assert not ctx.has_any_role(["admin"]) and not ctx.has_any_role([])
    assert ctx.allows("object-store", "DELETE", "/v1/anything")
    bound = context(**{ACCESS_RULES: [["object-store", "GET", "/v1/**"]]})
    assert bound.allows("object-store", "GET", "/v1/a/c")
    assert not bound.allows("object-store", "PUT", "/v1/a/c")
    assert not bound.allows("image", "GET", "/v1/a/c")


def test_user_labels_and_what_a_scope_asks_for() -> None:
    assert UserRef(id="u1", name="alice").label() == "u1"
    assert UserRef(name="alice").label() == "alice@default"
    assert UserRef(name="alice", domain_name="Dom").label() == "alice@Dom"
    assert UserRef(name="alice", domain_id="d1", domain_name="Dom").label() == "alice@d1"
    assert ScopeRef(project_id="p").wants_project and ScopeRef(project_name="p").wants_project
    assert not ScopeRef(domain_id="d").wants_project
    assert ScopeRef(domain_id="d").wants_domain and ScopeRef(domain_name="d").wants_domain
    assert not ScopeRef(project_id="p").wants_domain and not ScopeRef().wants_domain


# ---- bootstrap and administration ---------------------------------------------------------

def test_bootstrap_seeds_once_and_its_passwords_log_in(tmp_path: Path, clock: Clock) -> None:
    env = Env(tmp_path, clock)
    try:
        env.run(env.store.delete_domain(DEFAULT_DOMAIN_ID))
        svc = env.svc
        assert not env.run(svc.is_bootstrapped())
        env.run(env.store.create_domain(DomainRecord("d2", "Other")))
        assert not env.run(svc.is_bootstrapped())  # only the default domain counts
        passwords = env.run(svc.bootstrap())
        assert sorted(passwords) == ["admin", "demo"]
        assert all(len(p) == 16 and not p.startswith("-") for p in passwords.values())
        assert env.run(svc.is_bootstrapped())
        assert env.run(svc.bootstrap()) == {}  # never again, never new passwords
        domain = env.run(env.store.get_domain(id=DEFAULT_DOMAIN_ID))
        assert domain is not None and domain.name == "Default"
        assert sorted(r.name for r in env.run(env.store.list_roles())) == sorted(SEED_ROLES)

        def roles(name: str, project: str) -> list[str]:
            found = env.run(env.store.get_user(name=name, domain_id=DEFAULT_DOMAIN_ID))
            proj = env.run(env.store.get_project(name=project, domain_id=DEFAULT_DOMAIN_ID))
            assert found is not None and proj is not None
            return [r.name for r in env.run(env.store.user_roles(found.id, project_id=proj.id))]

        assert roles("admin", "admin") == ["ResellerAdmin", "admin"]
        assert roles("demo", "demo") == ["member"]
        assert roles("admin", "Default") == ["member"] == roles("demo", "Default")
        for name, password in passwords.items():
            issued = env.run(svc.authenticate_v1(name, password))
            assert issued.context.project_name == name
    finally:
        env.close()


def test_users_projects_roles_and_grants(env: Env) -> None:
    svc, store = env.svc, env.store
    role = env.run(svc.ensure_role("member"))
    assert env.run(svc.ensure_role("member")) == role
    project = env.run(svc.ensure_project("p1"))
    assert env.run(svc.ensure_project("p1")) == project
    assert project.domain_id == DEFAULT_DOMAIN_ID
    env.run(store.create_domain(DomainRecord("d2", "Other")))
    assert env.run(svc.ensure_project("p1", "d2")).id != project.id

    alice = env.run(svc.add_user("alice", "pw-a", project="p1", role="reader"))
    assert alice.default_project_id == project.id and alice.domain_id == DEFAULT_DOMAIN_ID
    assert alice.password_hash.startswith("$argon2id$")
    assert [r.name for r in env.run(store.user_roles(alice.id, project_id=project.id))] == [
        "reader"]
    err = rejected(svc.add_user("alice", "other"), env, IdentityConflict)
    assert str(err) == "user 'alice' already exists"
    elsewhere = env.run(svc.add_user("alice", "pw", project="p2", domain_id="d2"))
    assert elsewhere.domain_id == "d2"
    p2 = env.run(store.get_project(name="p2", domain_id="d2"))
    assert p2 is not None and elsewhere.default_project_id == p2.id
    assert [r.name for r in env.run(store.user_roles(elsewhere.id, project_id=p2.id))] == [
        "member"]

    bob = env.run(svc.add_user("bob", "pw-b"))
    assert bob.default_project_id is None and env.run(store.user_projects(bob.id)) == []
    env.run(svc.grant("bob", "admin", project="p3"))
    p3 = env.run(store.get_project(name="p3", domain_id=DEFAULT_DOMAIN_ID))
    assert p3 is not None
    assert [r.name for r in env.run(store.user_roles(bob.id, project_id=p3.id))] == ["admin"]
    err = rejected(svc.grant("nobody", "admin", project="p3"), env, IdentityNotFound)
    assert str(err) == "user 'nobody'"
    env.run(svc.grant("alice", "admin", project="p4", domain_id="d2"))
    p4 = env.run(store.get_project(name="p4", domain_id="d2"))
    assert p4 is not None
    assert [r.name for r in env.run(store.user_roles(elsewhere.id, project_id=p4.id))] == [
        "admin"]


def test_the_operators_reset_skips_the_rules_but_dates_the_password(env: Env) -> None:
    svc = env.service(rules=PasswordRules(regex="[0-9]+", expires_days=2, unique_last_count=5))
    env.run(svc.add_user("alice", "original"))  # the operator: no regex
    env.run(svc.set_password("alice", "original"))  # nor history
    found = env.run(env.store.get_user(name="alice", domain_id=DEFAULT_DOMAIN_ID))
    assert found is not None
    assert found.extra[PASSWORD_EXPIRES_AT] == START + 2 * DAY
    assert found.extra[PASSWORD_SELF_SERVICE] is False
    env.run(svc.set_password("alice", "second"))
    rejected(svc.authenticate_password(UserRef(name="alice"), "original"), env)
    assert env.run(svc.authenticate_password(UserRef(name="alice"), "second")).id == found.id
    err = rejected(svc.set_password("nobody", "x"), env, IdentityNotFound)
    assert str(err) == "user 'nobody'"
    env.run(env.store.create_domain(DomainRecord("d2", "Other")))
    env.run(svc.add_user("alice", "in-d2", domain_id="d2"))
    env.run(svc.set_password("alice", "new-d2", domain_id="d2"))
    assert env.run(svc.authenticate_password(UserRef(name="alice", domain_id="d2"),
                                             "new-d2")).domain_id == "d2"
    assert env.run(svc.authenticate_password(UserRef(name="alice"), "second")).id == found.id


def test_an_admin_or_the_user_meets_the_regex_and_history(env: Env) -> None:
    svc = env.service(rules=PasswordRules(regex="[a-z]+[0-9]", unique_last_count=3))
    alice = env.run(svc.add_user("alice", "first1"))
    rejected(svc.with_password(alice, "nodigit", "admin"), env, PasswordRejected)
    rejected(svc.with_password(alice, "first1", "admin"), env, PasswordRejected)
    changed = env.run(svc.with_password(alice, "second2", "admin"))
    assert changed.extra[PASSWORD_HISTORY] == [alice.password_hash]
    env.run(env.store.update_user(changed))
    env.run(svc.change_password(alice.id, "second2", "third3"))
    now = env.run(env.store.get_user(id=alice.id))
    assert now is not None and now.extra[PASSWORD_SELF_SERVICE] is True
    for old in ("second2", "third3"):  # the current one and the one before it
        err = rejected(svc.change_password(alice.id, "third3", old), env, PasswordRejected)
        assert "must be unique is 3" in str(err)
    env.run(svc.change_password(alice.id, "third3", "first1"))  # two back: allowed again
    rejected(svc.change_password(alice.id, "third3", "fourth4"), env)  # no longer the password


def test_a_change_needs_the_original_even_expired_and_honours_the_minimum_age(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "strato.identity")
    svc = env.service(rules=PasswordRules(minimum_age_days=1, expires_days=5))
    alice = env.run(svc.add_user("alice", "pw1"))
    env.run(svc.change_password(alice.id, "pw1", "pw2"))  # the operator's: no minimum age
    rejected(svc.change_password(alice.id, "pw2", "pw3"), env, PasswordRejected)
    env.clock.now += DAY
    rejected(svc.change_password(alice.id, "wrong", "pw3"), env)
    assert env.seen.failures == ["password"]
    env.clock.now += 5 * DAY  # expired: a login is refused, a change is not
    err = rejected(svc.authenticate_password(UserRef(id=alice.id), "pw2", "10.2.2.2"), env,
                   PasswordExpired)
    assert caplog.records[-1].getMessage() == (
        f"refused login for user {alice.id} from 10.2.2.2: password expired")
    assert str(err) == ("The password is expired and needs to be changed for user: "
                        f"{alice.id}.")
    env.run(svc.change_password(alice.id, "pw2", "pw3"))
    assert env.run(svc.authenticate_password(UserRef(id=alice.id), "pw3")).id == alice.id


def test_failed_changes_count_toward_the_lockout_of_their_client(env: Env) -> None:
    svc = env.service(limits=LoginLimits(per_user_client=1, per_client=1, refused_delay=0))
    alice = env.run(svc.add_user("alice", "pw1"))
    rejected(svc.change_password(alice.id, "bad", "pw2", "c1"), env)
    rejected(svc.change_password(alice.id, "pw1", "pw2", "c1"), env, TooManyAttempts)
    env.run(svc.change_password(alice.id, "pw1", "pw2", "c2"))
    rejected(svc.change_password(alice.id, "bad", "pw3"), env)
    rejected(svc.change_password("nobody", "bad", "pw3"), env)  # no client: no client limit
    env.run(svc.change_password(alice.id, "pw2", "pw3", "c3"))


def test_first_use_of_an_admin_set_password_is_a_change(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    svc = env.service(rules=PasswordRules(change_upon_first_use=True))
    caplog.set_level(logging.WARNING, "strato.identity")
    alice = env.run(svc.add_user("alice", "by-operator"))
    assert env.run(svc.authenticate_password(UserRef(id=alice.id), "by-operator"))
    env.run(env.store.update_user(env.run(svc.with_password(alice, "by-admin", "admin"))))
    rejected(svc.authenticate_password(UserRef(id=alice.id), "by-admin"), env, PasswordExpired)
    assert caplog.records[-1].getMessage() == (
        f"refused login for user {alice.id} from ?: password expired")
    env.run(svc.change_password(alice.id, "by-admin", "by-alice"))
    assert env.run(svc.authenticate_password(UserRef(id=alice.id), "by-alice"))


# ---- password logins and lockouts ---------------------------------------------------------

def test_only_the_right_password_of_a_live_user_logs_in(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    svc, store = env.svc, env.store
    caplog.set_level(logging.WARNING, "strato.identity")
    env.run(svc.add_user("first", "pw-f"))  # another user, made first
    alice = env.run(svc.add_user("alice", "pw-a"))
    assert env.run(svc.authenticate_password(UserRef(name="alice"), "pw-a")).id == alice.id
    assert env.run(svc.authenticate_password(UserRef(id=alice.id), "pw-a")).id == alice.id
    assert env.run(svc.authenticate_password(UserRef(name="alice", domain_name="Default"),
                                             "pw-a")).id == alice.id
    err = rejected(svc.authenticate_password(UserRef(name="alice"), "pw-A", "10.1.1.1"), env)
    assert str(err) == "The request you have made requires authentication."
    rejected(svc.authenticate_password(UserRef(name="nobody"), "pw-a"), env)
    rejected(svc.authenticate_password(UserRef(), "pw-a"), env)  # neither id nor name
    rejected(svc.authenticate_password(UserRef(name="alice", domain_name="Nope"), "pw-a"), env)
    assert env.seen.failures == ["password"] * 4
    logged = [r.getMessage() for r in caplog.records]  # operators watch for these lines
    assert logged[:2] == ["failed login for user alice@default from 10.1.1.1",
                          "failed login for user nobody@default from ?"]
    env.run(store.update_user(replace(alice, enabled=False)))
    rejected(svc.authenticate_password(UserRef(name="alice"), "pw-a"), env)
    env.run(store.update_user(replace(alice, password_hash="!")))  # no password set
    rejected(svc.authenticate_password(UserRef(name="alice"), "!"), env)
    env.run(store.update_user(alice))
    env.run(store.update_domain(DomainRecord(DEFAULT_DOMAIN_ID, "Default", enabled=False)))
    rejected(svc.authenticate_password(UserRef(name="alice"), "pw-a"), env)  # domain off


def test_a_hash_of_other_parameters_is_replaced_after_a_login(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "strato.identity")
    old = PasswordHasher(HashParams(memory_kib=9216, time_cost=4))
    try:
        hashed = env.run(old.hash("pw"))
        alice = env.run(env.store.create_user(UserRecord(
            new_id(), "alice", DEFAULT_DOMAIN_ID, hashed, default_project_id=None)))
        env.run(env.svc.grant("alice", "member", project="p1"))
        p1 = env.run(env.store.get_project(name="p1", domain_id=DEFAULT_DOMAIN_ID))
        assert p1 is not None
        before = IdentityService(env.store, hasher=old)
        cred, secret = env.run(before.create_app_credential(alice.id, p1.id, "ci"))
    finally:
        old.close()
    env.run(env.svc.authenticate_password(UserRef(id=alice.id), "pw"))
    now = env.run(env.store.get_user(id=alice.id))
    assert now is not None and now.password_hash.startswith("$argon2id$v=19$m=12288,t=3,")
    assert env.run(env.svc.authenticate_password(UserRef(id=alice.id), "pw")).id == alice.id
    assert env.run(env.service().authenticate_password(UserRef(id=alice.id), "pw"))

    assert cred.secret_hash.startswith("$argon2id$v=19$m=9216,t=4,")
    env.run(env.svc.authenticate_app_credential(id=cred.id, name=None, user=None,
                                                secret=secret))
    stored = env.run(env.store.get_app_credential(id=cred.id))
    assert stored is not None and stored.secret_hash.startswith("$argon2id$v=19$m=12288,t=3,")
    assert env.run(env.service().authenticate_app_credential(id=cred.id, name=None, user=None,
                                                             secret=secret))
    assert [r.getMessage() for r in caplog.records if "re-hashed" in r.getMessage()] == [
        f"re-hashed the password secret of {alice.id} with the current parameters",
        f"re-hashed the application credential secret of {cred.id} with the current "
        "parameters"]


def test_lockout_after_the_failures_allowed_until_the_window_passes(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    svc = env.service(limits=LoginLimits(per_user_client=3, window=60, refused_delay=0))
    alice = UserRef(name="alice")
    env.run(svc.add_user("alice", "pw"))
    for _ in range(3):
        rejected(svc.authenticate_password(alice, "bad", "10.0.0.1"), env)
    env.clock.now += 10
    caplog.set_level(logging.WARNING, "strato.identity")
    err = rejected(svc.authenticate_password(alice, "pw", "10.0.0.1"), env, TooManyAttempts)
    assert isinstance(err, TooManyAttempts) and err.retry_after == 51
    assert str(err) == "Too many failed authentication attempts; try again later."
    assert env.seen.refusals == ["lockout_user_client"]
    env.clock.now += 49.5
    err = rejected(svc.authenticate_password(alice, "pw", "10.0.0.1"), env, TooManyAttempts)
    assert isinstance(err, TooManyAttempts) and err.retry_after == 1
    refused = [r.getMessage() for r in caplog.records if "login refused" in r.getMessage()]
    assert refused == ["login refused for user alice@default from 10.0.0.1: pair locked out "
                       "after 3 failures"]  # once per lock, not per attempt
    assert env.run(svc.authenticate_password(alice, "pw", "10.0.0.2"))  # another client
    env.clock.now += 0.5  # the lock's last instant is over
    assert env.run(svc.authenticate_password(alice, "pw", "10.0.0.1"))
    assert env.seen.failures == ["password"] * 3


def test_a_success_clears_the_failures_of_that_user_and_client(env: Env) -> None:
    svc = env.service(limits=LoginLimits(per_user_client=3, per_client=0, refused_delay=0))
    alice = UserRef(name="alice")
    env.run(svc.add_user("alice", "pw"))
    for _ in range(2):
        rejected(svc.authenticate_password(alice, "bad", "c1"), env)
    env.run(svc.authenticate_password(alice, "pw", "c1"))
    for _ in range(2):
        rejected(svc.authenticate_password(alice, "bad", "c1"), env)
    env.run(svc.authenticate_password(alice, "pw", "c1"))  # 4 failures, never 3 in a row
    for _ in range(3):
        rejected(svc.authenticate_password(alice, "bad", "c1"), env)
    rejected(svc.authenticate_password(alice, "pw", "c1"), env, TooManyAttempts)


def test_failures_count_until_the_window_restarts_them(env: Env) -> None:
    svc = env.service(limits=LoginLimits(per_user_client=2, window=60, refused_delay=0))
    env.run(svc.add_user("alice", "pw"))
    rejected(svc.authenticate_password(UserRef(name="alice"), "bad", "c1"), env)
    env.clock.now += 61  # the first failure is too old to count
    rejected(svc.authenticate_password(UserRef(name="alice"), "bad", "c1"), env)
    assert env.run(svc.authenticate_password(UserRef(name="alice"), "pw", "c1"))


def test_a_client_spraying_names_is_locked_out_and_so_is_a_user_from_anywhere(
        env: Env) -> None:
    svc = env.service(limits=LoginLimits(per_user_client=0, per_client=3, refused_delay=0))
    env.run(svc.add_user("alice", "pw"))
    for name in ("a", "b", "c"):
        rejected(svc.authenticate_password(UserRef(name=name), "x", "10.0.0.9"), env)
    rejected(svc.authenticate_password(UserRef(name="alice"), "pw", "10.0.0.9"), env,
             TooManyAttempts)
    assert env.seen.refusals == ["lockout_client"]
    assert env.run(svc.authenticate_password(UserRef(name="alice"), "pw", "10.0.0.8"))
    for name in ("a", "b", "c", "d"):  # no client address: no per-client count
        rejected(svc.authenticate_password(UserRef(name=name), "x"), env)
    assert env.run(svc.authenticate_password(UserRef(name="alice"), "pw"))

    per_user = env.service(limits=LoginLimits(per_user_client=0, per_client=0, per_user=2,
                                              refused_delay=0))
    rejected(per_user.authenticate_password(UserRef(name="alice"), "x", "c1"), env)
    rejected(per_user.authenticate_password(UserRef(name="alice"), "x", "c2"), env)
    rejected(per_user.authenticate_password(UserRef(name="alice"), "pw", "c3"), env,
             TooManyAttempts)
    assert env.seen.refusals == ["lockout_client", "lockout_user"]
    off = env.service(limits=LoginLimits(per_user_client=0, per_client=0, per_user=0,
                                         refused_delay=0))
    for _ in range(3):
        rejected(off.authenticate_password(UserRef(name="bob"), "x", "c4"), env)
    assert env.run(off.authenticate_password(UserRef(name="alice"), "pw", "c4"))


def test_every_limit_is_checked_even_when_the_user_has_no_failures_yet(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    svc = env.service(limits=LoginLimits(per_user_client=5, per_client=2, per_user=2,
                                         refused_delay=0))
    caplog.set_level(logging.WARNING, "strato.identity")
    env.run(svc.add_user("alice", "pw"))
    env.run(svc.add_user("bob", "pw"))
    for name in ("a", "b"):
        rejected(svc.authenticate_password(UserRef(name=name), "x", "10.0.0.9"), env)
    # alice has no failures under her own keys: the client's lock still holds
    rejected(svc.authenticate_password(UserRef(name="alice"), "pw", "10.0.0.9"), env,
             TooManyAttempts)
    for client in ("c1", "c2"):
        rejected(svc.authenticate_password(UserRef(name="bob"), "x", client), env)
    rejected(svc.authenticate_password(UserRef(name="bob"), "pw"), env, TooManyAttempts)
    assert env.seen.refusals == ["lockout_client", "lockout_user"]
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == [
        "login refused for user alice@default from 10.0.0.9: client locked out after 2 "
        "failures",
        "login refused for user bob@default from ?: user locked out after 2 failures"]


def test_a_refused_attempt_waits_before_its_answer(env: Env) -> None:
    svc = env.service(limits=LoginLimits(per_user_client=1, refused_delay=0.2))
    env.run(svc.add_user("alice", "pw"))
    rejected(svc.authenticate_password(UserRef(name="alice"), "x", "c"), env)
    started = real_time.monotonic()
    rejected(svc.authenticate_password(UserRef(name="alice"), "pw", "c"), env, TooManyAttempts)
    assert real_time.monotonic() - started >= 0.2


def test_checks_past_the_hash_queue_are_refused_as_busy(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "strato.identity")
    hasher = PasswordHasher(FAST, threads=1, queue=0)
    svc = IdentityService(env.store, hasher=hasher, observer=env.seen)
    try:
        env.run(svc.add_user("alice", "pw"))

        async def both() -> list[object]:
            return await asyncio.gather(
                svc.authenticate_password(UserRef(name="alice"), "pw"),
                svc.authenticate_password(UserRef(name="alice"), "other"),
                return_exceptions=True)

        first, second = env.run(both())
        assert isinstance(first, UserRecord)
        assert isinstance(second, TooManyAttempts) and second.retry_after == 1
        assert str(second) == "Too many logins at once; try again shortly."
        assert env.seen.refusals == ["busy"] and env.seen.failures == []
        assert [r.getMessage() for r in caplog.records] == [
            "login refused: too many password checks queued in this worker"]
    finally:
        hasher.close()


# ---- tokens -------------------------------------------------------------------------------

def setup_alice(env: Env, *, role: str = "member") -> tuple[UserRecord, ProjectRecord]:
    alice = env.run(env.svc.add_user("alice", "pw", project="p1", role=role))
    project = env.run(env.store.get_project(id=str(alice.default_project_id)))
    assert project is not None
    return alice, project


def test_a_token_lives_its_ttl_to_the_second(env: Env) -> None:
    svc = env.service(token_ttl=100)
    alice, project = setup_alice(env)
    issued = env.run(svc.issue_scoped(alice, ScopeRef(), ("password",)))
    ctx = issued.context
    assert (ctx.issued_at, ctx.expires_at) == (START, START + 100)
    assert ctx.project_id == project.id and ctx.roles == ("member",)
    assert ctx.user_name == "alice" and ctx.user_domain_id == DEFAULT_DOMAIN_ID
    assert ctx.project_name == "p1" and ctx.project_domain_id == DEFAULT_DOMAIN_ID
    assert ctx.token_hash == hash_token(issued.token) and len(ctx.audit_id) == 22
    assert not issued.token.startswith("-") and len(issued.token) == 43
    other = env.service(token_ttl=100)  # another worker: nothing remembered
    for reader in (svc, other, svc):  # a first and a remembered validation
        env.clock.now = START + 99.999
        assert env.run(reader.validate_token(issued.token)) == ctx
        env.clock.now = START + 100
        assert env.run(reader.validate_token(issued.token)) is None
    assert env.run(env.service().validate_token(issued.token)) is None  # read afresh
    assert env.run(svc.validate_token("")) is None
    assert env.run(svc.validate_token("x" * 513)) is None
    assert env.run(svc.validate_token(issued.token + "x")) is None


def test_by_default_a_token_lives_an_hour_as_keystones_do(env: Env) -> None:
    alice, _ = setup_alice(env)
    issued = env.run(IdentityService(env.store, hasher=env.hasher).issue_scoped(
        alice, ScopeRef(), ("password",)))
    assert issued.context.expires_at == START + 3600


def test_a_token_never_outlives_the_expiry_it_is_given(env: Env) -> None:
    svc = env.service(token_ttl=100)
    alice, _ = setup_alice(env)
    scope = env.run(svc.resolve_scope(alice, ScopeRef()))
    sooner = env.run(svc.issue_token(alice, scope, expires_at=START + 10))
    assert sooner.context.expires_at == START + 10
    later = env.run(svc.issue_token(alice, scope, expires_at=START + 1000, extra={"k": 1}))
    assert later.context.expires_at == START + 100 and later.context.extra == {"k": 1}
    stored = env.run(env.store.get_token(hash_token(later.token)))
    assert stored is not None and stored.extra == {"k": 1}
    assert stored.expires_at == START + 100 and stored.methods == ("password",)


def test_roles_are_listed_by_name_and_a_disabled_user_gets_no_token(env: Env) -> None:
    alice, project = setup_alice(env)
    roles = (RoleRecord("r2", "zeta"), RoleRecord("r1", "alpha"))
    issued = env.run(env.svc.issue_token(alice, Scope(project, None, roles),
                                         methods=("token", "password")))
    assert issued.context.roles == ("alpha", "zeta")
    assert issued.context.role_ids == ("r1", "r2")
    assert issued.context.methods == ("token", "password")
    err = rejected(env.svc.issue_token(replace(alice, enabled=False), Scope()), env)
    assert str(err) == "Token could not be scoped."
    rejected(env.svc.issue_token(alice, Scope(project, None, ())), env)  # no role on it


def test_revocation_and_what_a_token_stands_on_count_at_once(env: Env) -> None:
    svc, store = env.svc, env.store
    alice, project = setup_alice(env)
    member = env.run(store.get_role(name="member"))
    assert member is not None

    def fresh() -> str:
        token = env.run(svc.issue_scoped(alice, ScopeRef(), ("password",))).token
        assert env.run(svc.validate_token(token)) is not None  # remembered from here on
        return token

    token = fresh()
    assert env.run(svc.revoke_token(token))
    assert env.run(svc.validate_token(token)) is None
    assert not env.run(svc.revoke_token(token))

    token = fresh()
    env.run(store.update_user(replace(alice, enabled=False)))
    assert env.run(svc.validate_token(token)) is None
    assert env.run(svc.validate_token(token)) is None  # asked again, store unchanged
    env.run(store.update_user(alice))
    assert env.run(svc.validate_token(token)) is not None  # enabled again

    token = fresh()
    env.run(store.update_project(replace(project, enabled=False)))
    assert env.run(svc.validate_token(token)) is None
    env.run(store.update_project(project))

    token = fresh()
    env.run(store.unassign_role(member.id, alice.id, project_id=project.id))
    assert env.run(svc.validate_token(token)) is None
    env.run(store.assign_role(member.id, alice.id, project_id=project.id))

    token = fresh()
    env.run(store.delete_project(project.id))
    assert env.run(svc.validate_token(token)) is None


def test_an_unscoped_token_carries_no_roles(env: Env) -> None:
    alice, _ = setup_alice(env)
    issued = env.run(env.svc.issue_scoped(alice, ScopeRef(unscoped=True), ("password",)))
    ctx = env.run(env.svc.validate_token(issued.token))
    assert ctx is not None and ctx.roles == () and ctx.project_id is None
    assert ctx.project_name is None and ctx.project_domain_id is None and ctx.domain_id is None


# ---- scoping ------------------------------------------------------------------------------

def test_scoping_to_a_project_needs_a_role_on_a_live_project(env: Env) -> None:
    svc, store = env.svc, env.store
    alice, p1 = setup_alice(env)
    env.run(store.create_domain(DomainRecord("d2", "Other")))
    p2 = env.run(svc.ensure_project("p2", "d2"))
    reader = env.run(svc.ensure_role("reader"))
    env.run(store.assign_role(reader.id, alice.id, project_id=p2.id))
    env.run(svc.ensure_project("p3"))
    assert env.run(svc.resolve_scope(alice, ScopeRef(project_id=p1.id))).project == p1
    by_name = env.run(svc.resolve_scope(alice, ScopeRef(project_name="p1")))
    assert by_name.project == p1 and [r.name for r in by_name.roles] == ["member"]
    assert by_name.domain_id is None
    assert env.run(svc.resolve_scope(alice, ScopeRef(
        project_name="p2", project_domain_id="d2"))).project == p2
    assert env.run(svc.resolve_scope(alice, ScopeRef(
        project_name="p2", project_domain_name="Other"))).project == p2
    for refused in (ScopeRef(project_name="p2"),  # p2 is not in the default domain
                    ScopeRef(project_name="p2", project_domain_name="Nope"),
                    ScopeRef(project_name="p3"), ScopeRef(project_id="nope")):
        err = rejected(svc.resolve_scope(alice, refused), env)
        assert str(err) == "The user has no role on the requested project."
    env.run(store.update_project(replace(p1, enabled=False)))
    rejected(svc.resolve_scope(alice, ScopeRef(project_id=p1.id)), env)


def test_scoping_to_a_domain_needs_a_role_on_a_live_domain(env: Env) -> None:
    svc, store = env.svc, env.store
    alice, _ = setup_alice(env)
    env.run(store.create_domain(DomainRecord("d2", "Other")))
    admin = env.run(svc.ensure_role("admin"))
    env.run(store.assign_role(admin.id, alice.id, domain_id="d2"))
    for ref in (ScopeRef(domain_id="d2"), ScopeRef(domain_name="Other")):
        scope = env.run(svc.resolve_scope(alice, ref))
        assert scope.domain_id == "d2" and scope.project is None
        assert [r.name for r in scope.roles] == ["admin"]
    issued = env.run(svc.issue_scoped(alice, ScopeRef(domain_id="d2"), ("password",)))
    ctx = env.run(svc.validate_token(issued.token))
    assert ctx is not None and ctx.domain_id == "d2" and ctx.roles == ("admin",)
    assert ctx.project_id is None
    for refused in (ScopeRef(domain_id=DEFAULT_DOMAIN_ID), ScopeRef(domain_name="Nope")):
        err = rejected(svc.resolve_scope(alice, refused), env)
        assert str(err) == "The user has no role on the requested domain."
    env.run(store.update_domain(DomainRecord("d2", "Other", enabled=False)))
    rejected(svc.resolve_scope(alice, ScopeRef(domain_id="d2")), env)
    env.run(store.update_domain(DomainRecord("d2", "Other")))
    env.run(store.unassign_role(admin.id, alice.id, domain_id="d2"))
    assert env.run(svc.validate_token(issued.token)) is None  # no role left on the domain


def test_no_scope_asked_means_the_default_project_if_still_usable(env: Env) -> None:
    svc, store = env.svc, env.store
    env.run(svc.ensure_project("made-first"))
    alice, p1 = setup_alice(env)
    assert env.run(svc.resolve_scope(alice, ScopeRef())).project == p1
    assert env.run(svc.resolve_scope(alice, ScopeRef(unscoped=True))) == Scope()
    env.run(store.update_project(replace(p1, enabled=False)))
    assert env.run(svc.resolve_scope(alice, ScopeRef())) == Scope()
    env.run(store.update_project(p1))
    member = env.run(store.get_role(name="member"))
    assert member is not None
    env.run(store.unassign_role(member.id, alice.id, project_id=p1.id))
    assert env.run(svc.resolve_scope(alice, ScopeRef())) == Scope()
    bob = env.run(svc.add_user("bob", "pw"))
    assert env.run(svc.resolve_scope(bob, ScopeRef())) == Scope()


def test_swift_v1_auth_scopes_to_the_named_the_default_or_the_first_project(env: Env) -> None:
    svc, store = env.svc, env.store
    _, p1 = setup_alice(env)
    env.run(svc.grant("alice", "admin", project="team:a"))
    issued = env.run(svc.authenticate_v1("team:a:alice", "pw", "c"))
    assert issued.context.project_name == "team:a" and issued.context.roles == ("admin",)
    assert issued.context.extra == {SWIFT_V1: True}
    assert issued.context.methods == ("password",)
    assert env.run(svc.authenticate_v1("alice", "pw")).context.project_id == p1.id
    rejected(svc.authenticate_v1("alice", "bad"), env)
    err = rejected(svc.authenticate_v1("nope:alice", "pw"), env)
    assert str(err) == "The user has no role on the requested project."
    env.run(svc.ensure_project("other"))
    rejected(svc.authenticate_v1("other:alice", "pw"), env)  # no role there
    env.run(store.update_project(replace(p1, enabled=False)))
    err = rejected(svc.authenticate_v1("alice", "pw"), env)
    assert str(err) == "The user has no role on the requested project."
    env.run(store.create_domain(DomainRecord("d2", "Other")))
    team = env.run(svc.ensure_project("team", "d2"))
    member = env.run(svc.ensure_role("member"))
    env.run(store.assign_role(member.id, p1_user(env), project_id=team.id))
    rejected(svc.authenticate_v1("team:alice", "pw"), env)  # v1 names default-domain projects

    bob = env.run(svc.add_user("bob", "pw"))
    rejected(svc.authenticate_v1("bob", "pw"), env)  # no project at all
    env.run(svc.grant("bob", "reader", project="zz"))
    env.run(svc.grant("bob", "member", project="aa"))
    first = env.run(svc.authenticate_v1("bob", "pw")).context  # no default: the first
    assert first.project_name == "aa" and first.user_id == bob.id


def p1_user(env: Env) -> str:
    found = env.run(env.store.get_user(name="alice", domain_id=DEFAULT_DOMAIN_ID))
    assert found is not None
    return found.id


def test_swift_v1_logins_count_toward_the_lockout_of_their_client(env: Env) -> None:
    svc = env.service(limits=LoginLimits(per_user_client=1, per_client=1, refused_delay=0))
    setup_alice(env)
    rejected(svc.authenticate_v1("alice", "bad", "c1"), env)
    rejected(svc.authenticate_v1("alice", "pw", "c1"), env, TooManyAttempts)
    assert env.run(svc.authenticate_v1("alice", "pw", "c2"))
    for name in ("bob", "carol"):  # no client address: no per-client limit
        rejected(svc.authenticate_v1(name, "bad"), env)
    assert env.run(svc.authenticate_v1("p1:alice", "pw"))


# ---- rescoping ----------------------------------------------------------------------------

def test_rescoping_keeps_the_user_and_never_the_expiry(env: Env) -> None:
    svc = env.service(token_ttl=100)
    env.run(svc.add_user("bob", "pw-b", project="p1"))  # another user, made first
    alice = env.run(svc.add_user("alice", "pw", project="p1"))
    p1 = env.run(env.store.get_project(id=str(alice.default_project_id)))
    assert p1 is not None
    env.run(svc.grant("alice", "admin", project="p2"))
    unscoped = env.run(svc.issue_scoped(alice, ScopeRef(unscoped=True), ("password",)))
    env.clock.now += 40
    rescoped = env.run(svc.rescope(unscoped.token, ScopeRef(project_name="p2")))
    ctx = rescoped.context
    assert ctx.project_name == "p2" and ctx.roles == ("admin",) and ctx.user_id == alice.id
    assert ctx.expires_at == START + 100 and ctx.issued_at == START + 40
    assert ctx.methods == ("token", "password")
    again = env.run(svc.rescope(rescoped.token, ScopeRef(project_id=p1.id)))
    assert again.context.methods == ("token", "password")  # once each
    assert again.context.project_id == p1.id and again.context.user_id == alice.id
    err = rejected(svc.rescope("not-a-token", ScopeRef()), env)
    assert str(err) == "The request you have made requires authentication."
    env.run(env.store.delete_user(alice.id))
    err = rejected(svc.rescope(unscoped.token, ScopeRef()), env)
    assert str(err) == "The request you have made requires authentication."


def test_a_token_keeps_the_methods_it_was_issued_for(env: Env) -> None:
    alice, _ = setup_alice(env)
    issued = env.run(env.svc.issue_scoped(alice, ScopeRef(), ("password", "totp")))
    assert issued.context.methods == ("password", "totp")
    ctx = env.run(env.service().validate_token(issued.token))
    assert ctx is not None and ctx.methods == ("password", "totp")


# ---- application credentials --------------------------------------------------------------

def test_a_credential_takes_at_most_the_roles_held_on_its_project(env: Env) -> None:
    svc = env.svc
    alice, p1 = setup_alice(env)
    env.run(svc.grant("alice", "reader", project="p1"))
    record, secret = env.run(svc.create_app_credential(alice.id, p1.id, "ci"))
    assert len(secret) == 64 and not secret.startswith("-")
    held = {r.id for r in env.run(env.store.user_roles(alice.id, project_id=p1.id))}
    assert set(record.role_ids) == held and len(held) == 2
    assert (record.user_id, record.project_id, record.name) == (alice.id, p1.id, "ci")
    assert record.created_at == START and record.access_rules is None
    assert record.description == "" and record.unrestricted is False
    stored = env.run(env.store.get_app_credential(id=record.id))
    assert stored is not None and stored.secret_hash != secret
    assert stored.secret_hash.startswith("$argon2id$")

    reader_only, given = env.run(svc.create_app_credential(
        alice.id, p1.id, "ro", secret="chosen", role_names=["reader"], expires_at=START + 50,
        description="read only", unrestricted=True))
    assert given == "chosen" and len(reader_only.role_ids) == 1
    assert (reader_only.expires_at, reader_only.description, reader_only.unrestricted) == (
        START + 50, "read only", True)
    err = rejected(svc.create_app_credential(alice.id, p1.id, "ro"), env, IdentityConflict)
    assert str(err) == "application credential 'ro' already exists"
    err = rejected(svc.create_app_credential(alice.id, p1.id, "x", role_names=["admin"]), env,
                   IdentityNotFound)
    assert "'admin'" in str(err)
    p3 = env.run(svc.ensure_project("p3"))
    err = rejected(svc.create_app_credential(alice.id, p3.id, "x"), env)
    assert str(err) == "The user has no role on the project."


def test_a_credential_logs_in_by_id_or_by_name_and_user_with_its_roles(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    svc = env.service(token_ttl=100)
    caplog.set_level(logging.WARNING, "strato.identity")
    bob = env.run(svc.add_user("bob", "pw", project="p1"))
    alice, p1 = setup_alice(env)
    env.run(svc.create_app_credential(bob.id, p1.id, "ci", secret="bob's"))  # made first
    env.run(svc.create_app_credential(alice.id, p1.id, "a-first", secret="other"))
    env.run(svc.grant("alice", "reader", project="p1"))
    record, secret = env.run(svc.create_app_credential(alice.id, p1.id, "ci",
                                                       role_names=["reader"]))
    issued = env.run(svc.authenticate_app_credential(id=record.id, name=None, user=None,
                                                     secret=secret))
    ctx = issued.context
    assert ctx.roles == ("reader",) and ctx.project_id == p1.id and ctx.user_id == alice.id
    assert ctx.methods == ("application_credential",) and ctx.expires_at == START + 100
    assert ctx.extra == {"app_cred_id": record.id}
    by_name = env.run(svc.authenticate_app_credential(
        id=None, name="ci", user=UserRef(name="alice"), secret=secret))
    assert by_name.context.roles == ("reader",) and by_name.context.user_id == alice.id
    assert by_name.context.extra == {"app_cred_id": record.id}
    for wrong in (dict(id=record.id, name=None, user=None, secret="bad"),
                  dict(id=None, name="ci", user=UserRef(name="bob"), secret=secret),
                  dict(id=None, name="ci", user=None, secret=secret),
                  dict(id=None, name=None, user=UserRef(name="alice"), secret=secret),
                  dict(id="nope", name=None, user=None, secret=secret)):
        err = rejected(svc.authenticate_app_credential(**wrong), env)  # type: ignore[arg-type]
        assert str(err) == "The request you have made requires authentication."
    assert env.seen.failures == ["application_credential"] * 5
    assert [r.getMessage() for r in caplog.records][:3] == [
        f"failed application credential login appcred:{record.id} from ?",
        "failed application credential login appcred:ci:bob@default from ?",
        "failed application credential login appcred:ci: from ?"]
    # the token holds the credential's roles only, also when validated afresh
    assert env.run(env.service().validate_token(issued.token)) == ctx


def test_a_credential_expires_and_its_tokens_go_with_it(env: Env) -> None:
    svc = env.service(token_ttl=100)
    alice, p1 = setup_alice(env)
    record, secret = env.run(svc.create_app_credential(alice.id, p1.id, "ci",
                                                       expires_at=START + 30))
    issued = env.run(svc.authenticate_app_credential(id=record.id, name=None, user=None,
                                                     secret=secret))
    assert issued.context.expires_at == START + 30
    env.clock.now = START + 29.999
    assert env.run(svc.validate_token(issued.token)) is not None
    assert env.run(svc.authenticate_app_credential(id=record.id, name=None, user=None,
                                                   secret=secret))
    env.clock.now = START + 30
    assert env.run(svc.validate_token(issued.token)) is None
    rejected(svc.authenticate_app_credential(id=record.id, name=None, user=None,
                                             secret=secret), env)

    env.clock.now = START
    forever, secret = env.run(svc.create_app_credential(alice.id, p1.id, "forever"))
    issued = env.run(svc.authenticate_app_credential(id=forever.id, name=None, user=None,
                                                     secret=secret))
    assert env.run(svc.validate_token(issued.token)) is not None
    env.run(env.store.delete_app_credential(forever.id))
    assert env.run(svc.validate_token(issued.token)) is None  # deleted: its tokens are dead


def test_a_credential_needs_its_user_project_and_roles_live(env: Env) -> None:
    svc, store = env.svc, env.store
    alice, p1 = setup_alice(env)
    env.run(svc.grant("alice", "reader", project="p1"))
    record, secret = env.run(svc.create_app_credential(alice.id, p1.id, "ci",
                                                       role_names=["reader"]))

    def login() -> str:
        """Why the credential's login is refused."""
        return str(rejected(svc.authenticate_app_credential(id=record.id, name=None, user=None,
                                                            secret=secret), env))

    gone = "The request you have made requires authentication."
    no_role = "The user has no role on the credential's project."

    token = env.run(svc.authenticate_app_credential(id=record.id, name=None, user=None,
                                                    secret=secret)).token
    env.run(store.update_user(replace(alice, enabled=False)))
    assert login() == gone
    env.run(store.update_user(alice))
    env.run(store.update_project(replace(p1, enabled=False)))
    assert login() == no_role
    env.run(store.update_project(p1))
    reader = env.run(store.get_role(name="reader"))
    assert reader is not None
    env.run(store.unassign_role(reader.id, alice.id, project_id=p1.id))
    assert login() == no_role  # still a member there: the credential holds reader only
    assert env.run(svc.validate_token(token)) is None
    env.run(store.delete_user(alice.id))
    assert login() == gone


def test_access_rules_are_shared_by_value_and_carried_in_tokens(env: Env) -> None:
    svc = env.svc
    alice, p1 = setup_alice(env)
    get = ("object-store", "GET", "/v1/**")
    first, secret = env.run(svc.create_app_credential(alice.id, p1.id, "one",
                                                      access_rules=[get, get]))
    assert first.access_rules is not None and len(first.access_rules) == 1
    rule = first.access_rules[0]
    assert (rule.service, rule.method, rule.path) == get
    put = ("object-store", "PUT", "/v1/*")
    second, _ = env.run(svc.create_app_credential(alice.id, p1.id, "two",
                                                  access_rules=[put, get, rule.id]))
    assert second.access_rules is not None
    assert [r.id for r in second.access_rules][1:] == [rule.id]  # the same rule, once
    assert [(r.service, r.method, r.path) for r in second.access_rules] == [put, get]
    assert {r.id for r in env.run(svc.list_access_rules(alice.id))} == {
        r.id for r in second.access_rules}
    err = rejected(svc.create_app_credential(alice.id, p1.id, "three", access_rules=["zz"]),
                   env, IdentityNotFound)
    assert str(err) == "Could not find access rule: zz."
    none, _ = env.run(svc.create_app_credential(alice.id, p1.id, "none", access_rules=[]))
    assert none.access_rules == ()

    issued = env.run(svc.authenticate_app_credential(id=first.id, name=None, user=None,
                                                     secret=secret))
    assert issued.context.extra == {"app_cred_id": first.id,
                                    ACCESS_RULES: [list(get)]}
    assert issued.context.allows("object-store", "GET", "/v1/a/c")
    assert not issued.context.allows("object-store", "PUT", "/v1/a/c")
    rescoped = env.run(svc.rescope(issued.token, ScopeRef()))
    assert rescoped.context.extra == issued.context.extra  # the rules stay with it


def test_a_credential_token_is_rescoped_to_its_own_project_and_roles_only(env: Env) -> None:
    svc, store = env.svc, env.store
    alice = env.run(svc.add_user("alice", "pw", project="home", role="reader"))
    env.run(svc.grant("alice", "reader", project="work"))
    env.run(svc.grant("alice", "admin", project="work"))
    work = env.run(store.get_project(name="work", domain_id=DEFAULT_DOMAIN_ID))
    admin = env.run(store.get_role(name="admin"))
    assert work is not None and admin is not None
    env.run(store.assign_role(admin.id, alice.id, domain_id=DEFAULT_DOMAIN_ID))
    record, secret = env.run(svc.create_app_credential(alice.id, work.id, "ci",
                                                       role_names=["reader"]))
    token = env.run(svc.authenticate_app_credential(id=record.id, name=None, user=None,
                                                    secret=secret)).token
    for refused in (ScopeRef(project_id=str(alice.default_project_id)),
                    ScopeRef(domain_id=DEFAULT_DOMAIN_ID), ScopeRef(domain_name="Default")):
        err = rejected(svc.rescope(token, refused), env)
        assert str(err) == "Application credential tokens cannot be rescoped."
    # each reads as the credential's project, never the user's default one (where it is a
    # reader too), and keeps the credential's roles
    for allowed in (ScopeRef(), ScopeRef(project_id=work.id), ScopeRef(unscoped=True),
                    ScopeRef(project_name="home")):
        ctx = env.run(svc.rescope(token, allowed)).context
        assert ctx.project_id == work.id and ctx.roles == ("reader",)
        assert ctx.methods == ("token", "application_credential")
        assert ctx.extra == {"app_cred_id": record.id}


def test_credential_logins_are_locked_out_per_credential_and_client(env: Env) -> None:
    svc = env.service(limits=LoginLimits(per_user_client=2, refused_delay=0))
    alice, p1 = setup_alice(env)
    one, _ = env.run(svc.create_app_credential(alice.id, p1.id, "one", secret="s1"))
    two, _ = env.run(svc.create_app_credential(alice.id, p1.id, "two", secret="s2"))

    def by_id(cred: str, secret: str, client: str = "c1") -> Awaitable[object]:
        return svc.authenticate_app_credential(id=cred, name=None, user=None, secret=secret,
                                               client=client)

    def by_name(name: str, secret: str, client: str = "c1") -> Awaitable[object]:
        return svc.authenticate_app_credential(id=None, name=name, user=UserRef(name="alice"),
                                               secret=secret, client=client)

    rejected(by_id(one.id, "bad"), env)
    assert env.run(by_id(one.id, "s1"))  # clears the failure
    rejected(by_id(one.id, "bad"), env)
    rejected(by_id(one.id, "bad"), env)
    rejected(by_id(one.id, "s1"), env, TooManyAttempts)
    assert env.run(by_id(one.id, "s1", "c2"))
    assert env.run(by_id(two.id, "s2"))  # another credential
    assert env.run(by_name("one", "s1"))  # by name: counted apart from by id
    rejected(by_name("two", "bad"), env)
    rejected(by_name("two", "bad"), env)
    rejected(by_name("two", "s2"), env, TooManyAttempts)
    assert env.run(by_id(two.id, "s2"))
    assert env.run(by_name("one", "s1"))  # another name: not locked
    assert env.seen.refusals == ["lockout_user_client"] * 2


def test_credential_logins_without_a_client_address_have_no_client_limit(env: Env) -> None:
    svc = env.service(limits=LoginLimits(per_user_client=1, per_client=1, refused_delay=0))
    alice, p1 = setup_alice(env)
    one, _ = env.run(svc.create_app_credential(alice.id, p1.id, "one", secret="s1"))
    two, _ = env.run(svc.create_app_credential(alice.id, p1.id, "two", secret="s2"))
    rejected(svc.authenticate_app_credential(id=one.id, name=None, user=None, secret="x"), env)
    assert env.run(svc.authenticate_app_credential(id=two.id, name=None, user=None,
                                                   secret="s2"))
