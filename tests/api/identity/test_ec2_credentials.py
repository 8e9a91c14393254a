"""EC2-style credentials through python-keystoneclient: the OS-EC2 API and `/v3/credentials`
of type ec2 share one record with `strato access-key`."""

from __future__ import annotations

import hashlib
import json

import pytest
from keystoneauth1 import exceptions as ks_exc
from keystoneclient.v3 import client as ks_client

from tests.api.identity.conftest import make_user
from tests.api.identity.test_member_reads import member_session
from tests.harness import Server


def test_a_user_manages_its_own_ec2_credentials(server: Server) -> None:
    user = make_user(server)
    sess = member_session(server, user)
    ks = ks_client.Client(session=sess)
    me = sess.get_user_id()
    made = ks.ec2.create(me, user.project_id)
    assert (made.user_id, made.tenant_id) == (me, user.project_id)
    assert len(made.access) == 32 and len(made.secret) == 32
    assert [c.access for c in ks.ec2.list(me)] == [made.access]
    assert ks.ec2.get(me, made.access).secret == made.secret
    # the same pair through the generic credentials API, under Keystone's id for it
    listed = ks.credentials.list()
    assert [(c.type, c.id) for c in listed] == [
        ("ec2", hashlib.sha256(made.access.encode()).hexdigest())]
    assert json.loads(listed[0].blob)["secret"] == made.secret
    # and the same key as `strato access-key` lists it
    assert made.access in server.cli("access-key", "list", "--user", user.name).stdout
    # a pair of the client's choosing
    blob = json.dumps({"access": "my-access-key", "secret": "my-secret"})
    chosen = ks.credentials.create(me, "ec2", blob, project=user.project_id)
    assert chosen.id == hashlib.sha256(b"my-access-key").hexdigest()
    assert ks.ec2.get(me, "my-access-key").secret == "my-secret"
    ks.credentials.delete(chosen.id)
    with pytest.raises(ks_exc.Unauthorized):  # Keystone: "EC2 access key not found."
        ks.ec2.get(me, "my-access-key")
    ks.ec2.delete(me, made.access)
    assert ks.ec2.list(me) == [] and ks.credentials.list() == []
    with pytest.raises(ks_exc.BadRequest):
        ks.credentials.create(me, "totp", "secret")
    with pytest.raises(ks_exc.NotFound):
        ks.ec2.create(me, "no-such-project")


def test_others_credentials_are_out_of_reach(server: Server) -> None:
    owner, other = make_user(server), make_user(server)
    owner_sess = member_session(server, owner)
    made = ks_client.Client(session=owner_sess).ec2.create(owner_sess.get_user_id(),
                                                           owner.project_id)
    ks = ks_client.Client(session=member_session(server, other))
    for call in (lambda: ks.ec2.list(owner_sess.get_user_id()),
                 lambda: ks.ec2.get(owner_sess.get_user_id(), made.access),
                 lambda: ks.ec2.create(owner_sess.get_user_id(), owner.project_id)):
        with pytest.raises(ks_exc.Forbidden):
            call()
    with pytest.raises(ks_exc.NotFound):
        ks.credentials.get(hashlib.sha256(made.access.encode()).hexdigest())
