"""The image half of the metadata store contract, run against every backend (see
test_contract.BACKENDS): records round-trip, status changes are compare-and-set, listings
apply Glance's visibility rules and page by keyset without gaps or repeats."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace

import pytest

from strato.stores.metadata.base import Conflict, NotFound
from strato.stores.metadata.records import (
    ImageFilter,
    ImageMemberRecord,
    ImageQuery,
    ImageRecord,
    TaskRecord,
)
from tests.stores.metadata.conftest import Env

_clock = itertools.count(1)


def image(owner: str, **fields: object) -> ImageRecord:
    stamp = float(next(_clock))
    values: dict[str, object] = {"id": str(uuid.uuid4()), "status": "queued",
                                 "visibility": "shared", "owner": owner, "created_at": stamp,
                                 "updated_at": stamp}
    values.update(fields)
    return ImageRecord(**values)  # type: ignore[arg-type]


def project() -> str:
    return uuid.uuid4().hex


def ids(records: list[ImageRecord]) -> list[str]:
    return [r.id for r in records]


def test_image_round_trip_and_unique_ids(env: Env) -> None:
    s = env.store
    rec = image(project(), name="n", properties={"a": "1", "os_glance_x": "y"},
                tags=("t1", "t2"), stores=("gold",), size=10, protected=True, min_ram=5,
                staged_size=3, deleted_at=None)
    env.run(s.create_image(rec))
    assert env.run(s.get_image(rec.id)) == rec
    with pytest.raises(Conflict):
        env.run(s.create_image(replace(rec, name="other")))
    assert env.run(s.get_image(str(uuid.uuid4()))) is None


def test_update_is_compare_and_set(env: Env) -> None:
    s = env.store
    rec = env.run(s.create_image(image(project())))
    saving = env.run(s.update_image(replace(rec, status="saving"), expect_status=("queued",)))
    with pytest.raises(Conflict):  # a second writer that also read `queued` loses
        env.run(s.update_image(replace(rec, status="saving"), expect_status=("queued",)))
    assert env.run(s.get_image(rec.id)) == saving
    with pytest.raises(NotFound):
        env.run(s.update_image(image(project())))
    env.run(s.update_image(replace(saving, name="any status")))
    assert env.run(s.get_image(rec.id)).name == "any status"  # type: ignore[union-attr]
    current = env.run(s.get_image(rec.id))
    assert current is not None
    mine = env.run(s.update_image(replace(current, name="first", updated_at=50.0),
                                  expect_updated_at=current.updated_at))
    with pytest.raises(Conflict):  # read before `mine` was written: its update would be lost
        env.run(s.update_image(replace(current, name="second", updated_at=51.0),
                               expect_updated_at=current.updated_at))
    assert env.run(s.get_image(rec.id)) == mine


def test_visibility_rules(env: Env) -> None:
    s = env.store
    me, other, third = project(), project(), project()
    mine = env.run(s.create_image(image(me, visibility="private", status="active")))
    public = env.run(s.create_image(image(other, visibility="public", status="active")))
    community = env.run(s.create_image(image(other, visibility="community", status="active")))
    shared_ok = env.run(s.create_image(image(other, status="active")))
    shared_pending = env.run(s.create_image(image(other, status="active")))
    theirs = env.run(s.create_image(image(other, visibility="private", status="active")))
    deleted = env.run(s.create_image(image(me, status="deleted")))
    pending_delete = env.run(s.create_image(image(me, status="pending_delete")))
    for rec, status in ((shared_ok, "accepted"), (shared_pending, "pending")):
        env.run(s.create_member(ImageMemberRecord(rec.id, me, status, 1.0, 1.0)))
    env.run(s.create_member(ImageMemberRecord(shared_ok.id, third, "rejected", 1.0, 1.0)))

    def view(viewer: str, **q: object) -> set[str]:
        return set(ids(env.run(s.list_images(ImageQuery(viewer=viewer, limit=1000, **q)))))

    ours = {mine.id, public.id, community.id, shared_ok.id, shared_pending.id, theirs.id,
            deleted.id, pending_delete.id}
    assert view(me) & ours == {mine.id, public.id, shared_ok.id}
    assert view(me, visibility="shared") & ours == {shared_ok.id}
    assert view(me, visibility="shared", member_status="pending") & ours == \
        {shared_pending.id}
    assert view(me, visibility="shared", member_status="all") & ours == \
        {shared_ok.id, shared_pending.id}
    assert view(me, visibility="community") & ours == {community.id}
    assert view(me, visibility="private") & ours == {mine.id}
    assert view(me, visibility="all") & ours == {mine.id, public.id, community.id,
                                                 shared_ok.id}
    assert view(third) & ours == {public.id}  # a rejected share is not listed
    assert view(other, visibility="shared") & ours == {shared_ok.id, shared_pending.id}
    admin = set(ids(env.run(s.list_images(ImageQuery(viewer=None, admin=True, limit=1000)))))
    assert admin & ours == ours - {deleted.id, pending_delete.id}


def test_filters_and_tags(env: Env) -> None:
    s, me = env.store, project()
    a = env.run(s.create_image(image(me, name="a", size=10, tags=("x", "y"),
                                     properties={"os_distro": "debian"})))
    b = env.run(s.create_image(image(me, name="b", size=20, tags=("x",), status="active",
                                     os_hidden=True)))
    c = env.run(s.create_image(image(me, name="c", properties={"os_distro": "fedora"})))

    def find(*filters: ImageFilter, tags: tuple[str, ...] = ()) -> list[str]:
        found = env.run(s.list_images(ImageQuery(viewer=me, filters=filters, tags=tags,
                                                 sort=(("name", "asc"),), limit=100)))
        return [r.name for r in found if r.owner == me]  # type: ignore[misc]

    assert find(ImageFilter("size", "gte", (15,))) == ["b"]
    assert find(ImageFilter("size", "eq", (None,))) == ["c"]
    assert find(ImageFilter("status", "in", ("queued", "active"))) == ["a", "b", "c"]
    assert find(ImageFilter("name", "neq", ("a",))) == ["b", "c"]
    assert find(ImageFilter("properties.os_distro", "eq", ("debian",))) == ["a"]
    assert find(ImageFilter("properties.os_distro", "in", ("debian", "fedora"))) == ["a", "c"]
    assert find(ImageFilter("os_hidden", "eq", (0,))) == ["a", "c"]
    assert find(tags=("x",)) == ["a", "b"]
    assert find(tags=("x", "y")) == ["a"]
    assert find(ImageFilter("created_at", "gt", (b.created_at,))) == ["c"]
    assert a.id and c.id
    with pytest.raises(ValueError):
        env.run(s.list_images(ImageQuery(viewer=me, filters=(ImageFilter("bogus", "eq",
                                                                          ("x",)),))))
    with pytest.raises(ValueError):
        env.run(s.list_images(ImageQuery(viewer=me, sort=(("size; DROP", "asc"),))))


@pytest.mark.parametrize("sort", [
    (("created_at", "desc"),),
    (("name", "asc"), ("created_at", "asc")),
    (("size", "desc"), ("name", "asc")),
    (("status", "asc"), ("size", "asc")),
])
def test_keyset_pages_cover_everything_once(env: Env, sort: tuple[tuple[str, str], ...]
                                            ) -> None:
    s, me = env.store, project()
    made = [env.run(s.create_image(image(
        me, visibility="private", name=None if i % 5 == 0 else f"n{i % 3}",
        size=None if i % 4 == 0 else i % 3, status=("queued", "active")[i % 2])))
        for i in range(23)]
    seen: list[str] = []
    marker = None
    while True:
        page = env.run(s.list_images(ImageQuery(viewer=me, visibility="private", sort=sort,
                                                marker=marker, limit=4)))
        seen.extend(ids(page))
        if len(page) < 4:
            break
        marker = page[-1]
    assert sorted(seen) == sorted(ids(made)) and len(seen) == len(set(seen))
    whole = ids(env.run(s.list_images(ImageQuery(viewer=me, visibility="private", sort=sort,
                                                 limit=100))))
    assert seen == whole  # paging gives the same order as one big page


def test_status_queries_and_usage(env: Env) -> None:
    s, me = env.store, project()
    env.run(s.create_image(image(me, status="active", size=100)))
    env.run(s.create_image(image(me, status="uploading", staged_size=7)))
    env.run(s.create_image(image(me, status="saving", size=None)))
    old = env.run(s.create_image(image(me, status="pending_delete", size=50, updated_at=1.0)))
    env.run(s.create_image(image(me, status="deleted", size=50)))
    usage = env.run(s.image_usage(me))
    assert (usage.count, usage.bytes, usage.staging_bytes, usage.uploading) == (3, 100, 7, 2)
    waiting = env.run(s.images_in_status("pending_delete", changed_before=1.5))
    assert old.id in ids(waiting)
    assert old.id not in ids(env.run(s.images_in_status("pending_delete",
                                                        changed_before=0.5)))
    env.run(s.purge_image(old.id))
    assert env.run(s.get_image(old.id)) is None


def test_members(env: Env) -> None:
    s = env.store
    rec = env.run(s.create_image(image(project())))
    member = ImageMemberRecord(rec.id, "p1", "pending", 1.0, 1.0)
    env.run(s.create_member(member))
    with pytest.raises(Conflict):
        env.run(s.create_member(member))
    env.run(s.update_member(replace(member, status="accepted", updated_at=2.0)))
    assert env.run(s.get_member(rec.id, "p1")) == replace(member, status="accepted",
                                                          updated_at=2.0)
    with pytest.raises(NotFound):
        env.run(s.update_member(replace(member, member="nobody")))
    assert env.run(s.get_member(rec.id, "nobody")) is None
    env.run(s.create_member(ImageMemberRecord(rec.id, "p2", "pending", 3.0, 3.0)))
    assert [m.member for m in env.run(s.list_members(rec.id))] == ["p1", "p2"]
    assert env.run(s.delete_member(rec.id, "p1"))
    assert not env.run(s.delete_member(rec.id, "p1"))
    assert [m.member for m in env.run(s.list_members(rec.id))] == ["p2"]


def test_tasks(env: Env) -> None:
    s, me = env.store, project()
    tasks = [env.run(s.create_task(TaskRecord(
        str(uuid.uuid4()), "import", "pending", me, float(i), float(i),
        input={"import_from": f"c/{i}"}, heartbeat=float(i)))) for i in range(5)]
    assert env.run(s.get_task(tasks[0].id)) == tasks[0]
    processing = env.run(s.update_task(replace(tasks[0], status="processing"),
                                       expect_status=("pending",)))
    with pytest.raises(Conflict):
        env.run(s.update_task(replace(tasks[0], status="processing"),
                              expect_status=("pending",)))
    done = env.run(s.update_task(replace(processing, status="success",
                                         result={"image_id": "x"}, expires_at=10.0)))
    assert env.run(s.get_task(done.id)) == done
    first = env.run(s.list_tasks(owner=me, limit=2))
    rest = env.run(s.list_tasks(owner=me, marker=first[-1], limit=10))
    assert [t.id for t in first + rest] == [t.id for t in reversed(tasks)]
    assert [t.id for t in env.run(s.list_tasks(owner=me, status="success"))] == [done.id]
    stalled = {t.id for t in env.run(s.stalled_tasks(2.5))}
    assert stalled >= {tasks[1].id, tasks[2].id} and done.id not in stalled
    assert tasks[3].id not in stalled
    assert env.run(s.purge_tasks(11.0)) >= 1
    assert env.run(s.get_task(done.id)) is None
    assert env.run(s.get_task(tasks[1].id)) is not None


def test_claim_task_has_one_winner(env: Env) -> None:
    s = env.store
    task = env.run(s.create_task(TaskRecord(str(uuid.uuid4()), "import", "pending", "p",
                                            1.0, 1.0, heartbeat=1.0)))
    assert env.run(s.claim_task(task.id, 1.0, 2.0))
    assert not env.run(s.claim_task(task.id, 1.0, 3.0))  # a second claimer read 1.0 too
    claimed = env.run(s.get_task(task.id))
    assert claimed is not None and (claimed.status, claimed.heartbeat) == ("processing", 2.0)
    assert env.run(s.claim_task(task.id, 2.0, 4.0))  # the owner's next beat
    done = env.run(s.update_task(replace(claimed, status="success", heartbeat=4.0)))
    assert not env.run(s.claim_task(done.id, 4.0, 5.0))  # finished tasks stay finished
    fresh = env.run(s.create_task(TaskRecord(str(uuid.uuid4()), "import", "pending", "p",
                                             1.0, 1.0)))
    assert env.run(s.claim_task(fresh.id, None, 2.0))


def test_every_field_round_trips(env: Env) -> None:
    """Each column read back into its own field (values all distinct, so a swapped or
    dropped column shows)."""
    s, me = env.store, project()
    full = image(me, name="n", protected=True, os_hidden=True, disk_format="qcow2",
                 container_format="bare", size=11, virtual_size=22, checksum="c" * 32,
                 os_hash_algo="sha512", os_hash_value="h" * 128, min_disk=3, min_ram=4,
                 properties={"k": "v"}, tags=("t1", "t2"), stores=("gold",),
                 deleted_at=None, staged_size=33)
    env.run(s.create_image(full))
    assert env.run(s.get_image(full.id)) == full
    task = TaskRecord(str(uuid.uuid4()), "import", "pending", me, 1.0, 2.0,
                      input={"a": 1}, result={"b": 2}, message="m", image_id=full.id,
                      user_id="u", request_id="req", expires_at=3.0, heartbeat=4.0)
    env.run(s.create_task(task))
    assert env.run(s.get_task(task.id)) == task
    bare = TaskRecord(str(uuid.uuid4()), "import", "pending", me, 5.0, 6.0)
    env.run(s.create_task(bare))
    assert env.run(s.get_task(bare.id)) == bare  # result None stays None, not null JSON


def test_task_listing_filters_sorts_and_pages_both_ways(env: Env) -> None:
    s, me = env.store, project()
    made = [env.run(s.create_task(TaskRecord(
        f"{i}-{uuid.uuid4()}", "import" if i % 2 else "copy", "pending", me, float(i),
        float(10 - i), image_id="img" if i < 2 else None))) for i in range(4)]
    assert [t.id for t in env.run(s.list_tasks(owner=me, type="copy"))] == [
        made[2].id, made[0].id]
    assert [t.id for t in env.run(s.list_tasks(owner=me, image_id="img"))] == [
        made[1].id, made[0].id]
    ascending = env.run(s.list_tasks(owner=me, sort_dir="asc", limit=2))
    ascending += env.run(s.list_tasks(owner=me, sort_dir="asc", marker=ascending[-1]))
    assert ascending == made
    by_update = env.run(s.list_tasks(owner=me, sort_key="updated_at", sort_dir="asc"))
    assert by_update == made[::-1]
    for key in ("status", "type", "id", "owner"):
        assert len(env.run(s.list_tasks(owner=me, sort_key=key))) == 4
    for key, direction in (("name", "asc"), ("id", "up"), ("id; DROP", "desc")):
        with pytest.raises(ValueError):
            env.run(s.list_tasks(owner=me, sort_key=key, sort_dir=direction))


def test_status_queries_stop_at_their_limit(env: Env) -> None:
    """The background jobs take their work in bounded batches, oldest first."""
    s, me = env.store, project()
    old = [env.run(s.create_image(image(me, status="pending_delete", updated_at=float(i))))
           for i in (3, 1, 2)]
    assert ids(env.run(s.images_in_status("pending_delete", limit=2))) == [old[1].id,
                                                                           old[2].id]
    tasks = [env.run(s.create_task(TaskRecord(str(uuid.uuid4()), "import", "pending", me,
                                              float(i), float(i), heartbeat=float(i))))
             for i in (3, 1, 2)]
    assert [t.id for t in env.run(s.stalled_tasks(10.0, limit=2))] == [tasks[1].id,
                                                                      tasks[2].id]


def test_task_pages_go_on_past_ties_and_tasks_without_owner(env: Env) -> None:
    """Paging one task at a time gives every task once, in the order of one big page, when
    tasks share their sort value (the id breaks the tie) and when the marker's sort value
    is NULL (a task without owner sorts as '')."""
    s = env.store
    made = [env.run(s.create_task(TaskRecord(
        f"{i}-{uuid.uuid4()}", "import", "pending", None if i % 2 else "p", 5.0, 5.0)))
        for i in range(5)]
    for key in ("created_at", "owner", "id"):
        for direction in ("asc", "desc"):
            whole = env.run(s.list_tasks(owner=None, sort_key=key, sort_dir=direction))
            assert sorted(t.id for t in whole) == sorted(t.id for t in made)
            paged: list[TaskRecord] = []
            marker = None
            while page := env.run(s.list_tasks(owner=None, sort_key=key, sort_dir=direction,
                                               marker=marker, limit=1)):
                assert len(page) == 1
                paged += page
                marker = page[-1]
            assert [t.id for t in paged] == [t.id for t in whole], (key, direction)
