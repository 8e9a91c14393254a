"""What a plain member may read and change on itself, as under Keystone's default policy,
through python-keystoneclient and openstacksdk; timestamps as Keystone writes them."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import openstack.connection
import pytest
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client as ks_client

from tests.api.identity.conftest import KeystoneUser, admin_token, make_user
from tests.harness import Server


def member_session(server: Server, user: KeystoneUser, password: str | None = None
                   ) -> ks_session.Session:
    auth = v3.Password(auth_url=f"{server.url}/identity/v3", username=user.name,
                       password=password or user.password, user_domain_id="default",
                       project_name=user.project, project_domain_id="default")
    return ks_session.Session(auth=auth)


@pytest.fixture(scope="module")
def member(server: Server) -> KeystoneUser:
    return make_user(server)


def test_member_reads_itself_its_projects_and_its_domain(server: Server,
                                                          member: KeystoneUser) -> None:
    sess = member_session(server, member)
    ks = ks_client.Client(session=sess)
    me = sess.get_user_id()
    assert ks.users.get(me).name == member.name
    assert [p.id for p in ks.projects.list(user=me)] == [member.project_id]
    project = ks.projects.get(member.project_id)
    assert project.name == member.project and project.domain_id == "default"
    domain = ks.domains.get(project.domain_id)  # the domain of its token's project
    assert (domain.id, domain.name) == ("default", "Default")
    conn = openstack.connection.Connection(session=sess, region_name="RegionOne")
    assert conn.identity.get_domain("default").name == "Default"
    # what Keystone's default policy keeps from a plain member
    other = make_user(server)
    other_id = httpx.get(f"{server.url}/identity/v3/users", params={"name": other.name},
                         headers={"X-Auth-Token": admin_token(server)}).json()["users"][0]["id"]
    for call in (lambda: ks.users.get(other_id), ks.domains.list, ks.users.list,
                 lambda: ks.projects.get(other.project_id)):
        with pytest.raises(ks_exc.Forbidden):
            call()
    created = httpx.post(f"{server.url}/identity/v3/domains",
                         headers={"X-Auth-Token": admin_token(server)},
                         json={"domain": {"name": f"d-{uuid.uuid4().hex[:8]}"}}).json()["domain"]
    with pytest.raises(ks_exc.Forbidden):
        ks.domains.get(created["id"])


def test_application_credential_times_echo_keystones_form(server: Server,
                                                          member: KeystoneUser) -> None:
    """Keystone stores a naive UTC datetime and writes it back with six fraction digits and
    no zone, whatever form it was given in; tokens keep their `Z`."""
    sess = member_session(server, member)
    me = sess.get_user_id()
    year = dt.datetime.now(dt.UTC).year + 1
    given_and_echoed = [
        (f"{year}-12-02T11:42:08.390235", f"{year}-12-02T11:42:08.390235"),
        (f"{year}-06-01T00:00:00Z", f"{year}-06-01T00:00:00.000000"),
        (f"{year}-06-01T02:30:00+02:00", f"{year}-06-01T00:30:00.000000"),
    ]
    for given, echoed in given_and_echoed:
        resp = sess.post(f"{server.url}/identity/v3/users/{me}/application_credentials",
                         json={"application_credential": {"name": uuid.uuid4().hex,
                                                          "expires_at": given}})
        created = resp.json()["application_credential"]
        assert created["expires_at"] == echoed, given
        shown = ks_client.Client(session=sess).application_credentials.get(created["id"])
        assert shown.expires_at == echoed
    token = sess.get(f"{server.url}/identity/v3/auth/tokens",
                     headers={"X-Subject-Token": sess.get_token()}).json()["token"]
    for key in ("expires_at", "issued_at"):
        assert token[key].endswith("Z") and len(token[key]) == len("2026-01-01T00:00:00.000000Z")


def test_user_changes_its_own_password(server: Server) -> None:
    user = make_user(server)
    sess = member_session(server, user)
    ks = ks_client.Client(session=sess)
    with pytest.raises(ks_exc.Unauthorized):
        ks.users.update_password("not-the-password", "whatever-new")
    ks.users.update_password(user.password, "n3w-pass-word")
    with pytest.raises(ks_exc.Unauthorized):
        member_session(server, user).get_token()
    fresh = member_session(server, user, "n3w-pass-word")
    assert fresh.get_token()
    # as in Keystone the call needs no token: the original password is the proof
    me = fresh.get_user_id()
    resp = httpx.post(f"{server.url}/identity/v3/users/{me}/password", json={"user": {
        "original_password": "n3w-pass-word", "password": "third-pass-word"}})
    assert resp.status_code == 204
    assert member_session(server, user, "third-pass-word").get_token()


def test_password_rules_are_enforced_and_readable(make_server: object) -> None:
    """Keystone's security_compliance password_regex: new passwords must match; any token
    reads the rules from the domain config."""
    srv: Server = make_server(extra_args=(  # type: ignore[operator]
        "--password-regex", r"^(?=.*\d).{10,}$",
        "--password-regex-description", "at least 10 characters, one of them a digit"))
    user = make_user(srv)
    sess = member_session(srv, user)
    ks = ks_client.Client(session=sess)
    config = sess.get(f"{srv.url}/identity/v3/domains/default/config/security_compliance"
                      ).json()["config"]
    assert config == {"password_regex": r"^(?=.*\d).{10,}$",
                      "password_regex_description": "at least 10 characters, one of them a "
                                                    "digit"}
    one = sess.get(f"{srv.url}/identity/v3/domains/default/config/security_compliance/"
                   "password_regex_description").json()
    assert one == {"config": {"password_regex_description": config[
        "password_regex_description"]}}
    with pytest.raises(ks_exc.BadRequest) as refused:
        ks.users.update_password(user.password, "short1")
    assert "at least 10 characters" in str(refused.value)
    ks.users.update_password(user.password, "long-enough-9")
    assert member_session(srv, user, "long-enough-9").get_token()
