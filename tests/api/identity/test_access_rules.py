"""Application credential access rules, end to end with real clients: created through
python-keystoneclient, a credential's token used by python-swiftclient and openstacksdk may
make only the requests its rules name, on every service (keystonemiddleware's semantics:
a refused request is as if no token were sent)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import openstack.connection
import pytest
import swiftclient.client
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client as ks_client

from tests.api.identity.conftest import KeystoneUser, make_user
from tests.harness import Server

RULES = [
    {"service": "object-store", "method": "GET", "path": "/v1/*/allowed/**"},
    {"service": "object-store", "method": "HEAD", "path": "/v1/{account}"},
    {"service": "image", "method": "GET", "path": "/v2/images"},
]


@pytest.fixture(scope="module")
def owner(server: Server) -> KeystoneUser:
    return make_user(server)


@pytest.fixture(scope="module")
def owner_session(server: Server, owner: KeystoneUser) -> ks_session.Session:
    return ks_session.Session(auth=v3.Password(
        auth_url=f"{server.url}/identity/v3", username=owner.name, password=owner.password,
        user_domain_id="default", project_name=owner.project, project_domain_id="default"))


@pytest.fixture(scope="module")
def seeded(owner_session: ks_session.Session) -> Iterator[None]:
    swift = swiftclient.client.Connection(session=owner_session, retries=0)
    for container in ("allowed", "other"):
        swift.put_container(container)
        swift.put_object(container, "doc.txt", b"hello")
    yield


def credential(server: Server, owner_session: ks_session.Session, rules: list[dict] | None
               ) -> tuple[ks_session.Session, dict]:
    ks = ks_client.Client(session=owner_session)
    created = ks.application_credentials.create(f"cred-{uuid.uuid4().hex[:8]}",
                                                access_rules=rules)
    session = ks_session.Session(auth=v3.ApplicationCredential(
        auth_url=f"{server.url}/identity/v3", application_credential_id=created.id,
        application_credential_secret=created.secret))
    return session, created.to_dict()


def test_a_restricted_token_makes_only_the_named_requests(
        server: Server, owner_session: ks_session.Session, seeded: None) -> None:
    session, created = credential(server, owner_session, RULES)
    assert [(r["service"], r["method"], r["path"]) for r in created["access_rules"]] == [
        (r["service"], r["method"], r["path"]) for r in RULES]
    swift = swiftclient.client.Connection(session=session, retries=0)
    storage = session.get_endpoint(service_type="object-store", interface="public")
    assert swift.get_object("allowed", "doc.txt")[1] == b"hello"
    swift.head_account()
    token = {"X-Auth-Token": session.get_token()}
    # (swiftclient retries a refused PUT and then cannot rewind its body: ask plainly)
    assert httpx.put(f"{storage}/allowed/new.txt", content=b"x", headers=token
                     ).status_code == 401
    with pytest.raises(swiftclient.client.ClientException) as other:
        swift.get_object("other", "doc.txt")
    assert other.value.http_status == 401
    with pytest.raises(swiftclient.client.ClientException) as listing:
        swift.get_account()  # GET of the account is not HEAD
    assert listing.value.http_status == 401

    cloud = openstack.connection.Connection(session=session)
    assert isinstance(list(cloud.image.images()), list)
    with pytest.raises(openstack.exceptions.HttpException) as create:
        cloud.image.create_image(name="nope", disk_format="raw", container_format="bare")
    assert create.value.status_code == 401

    # the identity API: a token may always read itself, nothing else it was not given
    token = session.get_token()
    me = session.get_user_id()
    shown = httpx.get(f"{server.url}/identity/v3/auth/tokens", headers={
        "X-Auth-Token": token, "X-Subject-Token": token}).json()["token"]
    assert [r["path"] for r in shown["application_credential"]["access_rules"]] == [
        r["path"] for r in RULES]
    assert httpx.get(f"{server.url}/identity/v3/users/{me}",
                     headers={"X-Auth-Token": token}).status_code == 401
    # nor does rescoping the token shed its rules
    rescoped = httpx.post(f"{server.url}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}}}})
    assert rescoped.status_code == 201
    again = rescoped.headers["X-Subject-Token"]
    assert httpx.put(f"{storage}/allowed/sneaky.txt", content=b"x",
                     headers={"X-Auth-Token": again}).status_code == 401


def test_no_rules_leaves_the_roles_in_charge_and_an_empty_list_allows_nothing(
        server: Server, owner_session: ks_session.Session, seeded: None) -> None:
    free, created = credential(server, owner_session, None)
    assert created["access_rules"] == []
    swift = swiftclient.client.Connection(session=free, retries=0)
    swift.put_object("other", "free.txt", b"x")
    nothing, _ = credential(server, owner_session, [])
    swift = swiftclient.client.Connection(session=nothing, retries=0)
    with pytest.raises(swiftclient.client.ClientException) as refused:
        swift.get_object("allowed", "doc.txt")
    assert refused.value.http_status == 401


def test_rules_are_the_users_own_and_shared_by_id(
        server: Server, owner: KeystoneUser, owner_session: ks_session.Session) -> None:
    _, first = credential(server, owner_session, RULES[:1])
    rule_id = first["access_rules"][0]["id"]
    # the same rule again, or its id, names the same rule
    _, by_value = credential(server, owner_session, RULES[:1])
    _, by_id = credential(server, owner_session, [{"id": rule_id}])
    assert by_value["access_rules"][0]["id"] == by_id["access_rules"][0]["id"] == rule_id
    me = owner_session.get_user_id()
    token = {"X-Auth-Token": owner_session.get_token()}
    listed = httpx.get(f"{server.url}/identity/v3/users/{me}/access_rules", headers=token
                       ).json()["access_rules"]
    assert rule_id in [r["id"] for r in listed]
    one = httpx.get(f"{server.url}/identity/v3/users/{me}/access_rules/{rule_id}",
                    headers=token)
    assert one.status_code == 200 and one.json()["access_rule"]["path"] == RULES[0]["path"]
    in_use = httpx.delete(f"{server.url}/identity/v3/users/{me}/access_rules/{rule_id}",
                          headers=token)
    assert in_use.status_code == 403
    # another user sees none of them, and may not name them
    stranger = make_user(server)
    their = ks_session.Session(auth=v3.Password(
        auth_url=f"{server.url}/identity/v3", username=stranger.name,
        password=stranger.password, user_domain_id="default", project_name=stranger.project,
        project_domain_id="default"))
    assert httpx.get(f"{server.url}/identity/v3/users/{me}/access_rules", headers={
        "X-Auth-Token": their.get_token()}).status_code == 403
    borrowed = httpx.post(
        f"{server.url}/identity/v3/users/{their.get_user_id()}/application_credentials",
        headers={"X-Auth-Token": their.get_token()},
        json={"application_credential": {"name": "borrow", "access_rules": [{"id": rule_id}]}})
    assert borrowed.status_code == 404


@pytest.mark.parametrize("rule", [
    {"service": "object-store", "method": "FETCH", "path": "/v1/**"},
    {"service": "object-store", "method": "GET", "path": "v1/**"},
    {"service": "", "method": "GET", "path": "/v1/**"},
    {"service": "object-store", "method": "GET", "path": None},
    "GET /v1",
])
def test_a_malformed_rule_is_keystones_400_and_creates_nothing(
        server: Server, owner_session: ks_session.Session, rule: object) -> None:
    me = owner_session.get_user_id()
    headers = {"X-Auth-Token": owner_session.get_token()}
    url = f"{server.url}/identity/v3/users/{me}/application_credentials"
    name = f"bad-{uuid.uuid4().hex[:8]}"
    resp = httpx.post(url, headers=headers, json={"application_credential": {
        "name": name, "access_rules": [rule]}})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == 400
    assert name not in [c["name"] for c in httpx.get(url, headers=headers).json()[
        "application_credentials"]]
