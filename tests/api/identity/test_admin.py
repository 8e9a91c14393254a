"""Administrative CRUD through python-keystoneclient, and Keystone's policy defaults."""

from __future__ import annotations

import uuid

import httpx
import pytest
import swiftclient
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client

from tests.api.identity.conftest import KeystoneUser
from tests.harness import Server


def keystone(server: Server, user: str, password: str, project: str) -> client.Client:
    auth = v3.Password(auth_url=f"{server.url}/identity/v3", username=user, password=password,
                       project_name=project, user_domain_id="default",
                       project_domain_id="default")
    return client.Client(session=session.Session(auth=auth))


@pytest.fixture(scope="module")
def admin(server: Server) -> client.Client:
    return keystone(server, "admin", server.passwords["admin"], "admin")


def test_project_user_role_lifecycle(server: Server, admin: client.Client) -> None:
    suffix = uuid.uuid4().hex[:8]
    project = admin.projects.create(name=f"crud-{suffix}", domain="default")
    assert project.id in [p.id for p in admin.projects.list()]
    user = admin.users.create(name=f"crud-{suffix}", domain="default", password="pw-crud-1",
                              default_project=project)
    member = admin.roles.find(name="member")
    admin.roles.grant(member, user=user, project=project)
    assignments = admin.role_assignments.list(user=user, project=project, include_names=True)
    assert [(a.role["name"], a.scope["project"]["name"]) for a in assignments] == [
        ("member", project.name)]
    # the new user logs in and owns the project's account
    own = keystone(server, user.name, "pw-crud-1", project.name)
    storage = own.session.get_endpoint(service_type="object-store", interface="public")
    assert storage == f"{server.url}/v1/AUTH_{project.id}"
    conn = swiftclient.Connection(session=own.session, retries=0)
    conn.put_container("made-by-crud-user")
    # a member is not an admin: Keystone's policy refuses administrative calls
    with pytest.raises(ks_exc.Forbidden):
        own.projects.list()
    assert own.users.get(user.id).name == user.name  # but may read itself
    admin.users.update(user, enabled=False)
    with pytest.raises(ks_exc.Unauthorized):
        keystone(server, user.name, "pw-crud-1", project.name).session.get_token()
    admin.users.delete(user)
    admin.projects.delete(project)
    with pytest.raises(ks_exc.NotFound):
        admin.projects.get(project.id)


def test_roles_and_domains(admin: client.Client) -> None:
    suffix = uuid.uuid4().hex[:8]
    role = admin.roles.create(name=f"role-{suffix}")
    assert admin.roles.get(role.id).name == role.name
    with pytest.raises(ks_exc.Conflict):
        admin.roles.create(name=role.name)
    admin.roles.delete(role)
    domain = admin.domains.create(name=f"dom-{suffix}")
    with pytest.raises(ks_exc.Forbidden):  # Keystone: disable before deleting
        admin.domains.delete(domain)
    admin.domains.update(domain, enabled=False)
    admin.domains.delete(domain)
    assert domain.id not in [d.id for d in admin.domains.list()]


def test_application_credentials(server: Server, ks_user: KeystoneUser) -> None:
    own = keystone(server, ks_user.name, ks_user.password, ks_user.project)
    user_id = own.session.get_user_id()
    created = own.application_credentials.create(name=f"ci-{uuid.uuid4().hex[:6]}",
                                                 user=user_id)
    assert created.secret and [r["name"] for r in created.roles] == ["member"]
    auth = v3.ApplicationCredential(auth_url=f"{server.url}/identity/v3",
                                    application_credential_id=created.id,
                                    application_credential_secret=created.secret)
    sess = session.Session(auth=auth)
    conn = swiftclient.Connection(session=sess, retries=0)
    conn.put_container("via-app-credential")
    assert "via-app-credential" in [c["name"] for c in conn.get_account()[1]]
    listed = own.application_credentials.list(user=user_id)
    assert created.id in [c.id for c in listed]
    assert not hasattr(listed[0], "secret")
    by_name = v3.ApplicationCredential(auth_url=f"{server.url}/identity/v3",
                                       application_credential_name=created.name,
                                       application_credential_secret=created.secret,
                                       user_id=user_id)
    assert session.Session(auth=by_name).get_token()
    token, storage = sess.get_token(), sess.get_endpoint(service_type="object-store")
    assert httpx.head(storage, headers={"X-Auth-Token": token}).status_code == 204
    own.application_credentials.delete(created.id)  # revokes its tokens at once
    assert httpx.head(storage, headers={"X-Auth-Token": token}).status_code == 401
    wrong = v3.ApplicationCredential(auth_url=f"{server.url}/identity/v3",
                                     application_credential_id=created.id,
                                     application_credential_secret="nope")
    with pytest.raises(ks_exc.Unauthorized):
        session.Session(auth=wrong).get_token()


def test_catalog_inspection_for_admins(server: Server, admin: client.Client) -> None:
    services = {s.type: s for s in admin.services.list()}
    assert services["object-store"].name == "swift"
    endpoints = admin.endpoints.list(service=services["object-store"], interface="public")
    assert [e.url for e in endpoints] == [f"{server.url}/v1/AUTH_$(project_id)s"]
    assert [r.id for r in admin.regions.list()] == ["RegionOne"]


def test_group_roles_hold_for_members_until_removed(server: Server,
                                                    admin: client.Client) -> None:
    suffix = uuid.uuid4().hex[:8]
    project = admin.projects.create(name=f"grp-{suffix}", domain="default")
    user = admin.users.create(name=f"grp-{suffix}", domain="default", password="pw-grp-1")
    group = admin.groups.create(name=f"team-{suffix}", domain="default")
    admin.users.add_to_group(user, group)
    assert [u.id for u in admin.users.list(group=group)] == [user.id]
    admin.roles.grant(admin.roles.find(name="member"), group=group, project=project)
    listed = admin.role_assignments.list(group=group)
    assert [(a.group["id"], a.scope["project"]["id"]) for a in listed] == [(group.id,
                                                                            project.id)]
    own = keystone(server, user.name, "pw-grp-1", project.name)
    token = own.session.get_token()
    storage = f"{server.url}/v1/AUTH_{project.id}"
    assert httpx.head(storage, headers={"X-Auth-Token": token}).status_code == 204
    assert [g.id for g in admin.groups.list(user=user)] == [group.id]
    admin.users.remove_from_group(user, group)
    assert httpx.head(storage, headers={"X-Auth-Token": token}).status_code == 401
    with pytest.raises(ks_exc.Unauthorized):
        keystone(server, user.name, "pw-grp-1", project.name).session.get_token()
    admin.groups.delete(group)
