"""GET /v2/images as Glance answers it: filters, who sees what (visibility and member_status
for the owner, a consumer and a stranger), sorting, and paging by `next` links that neither
repeat nor skip an image, whatever the sort and however many nulls and ties it meets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.image.support import Glance, error, running
from tests.harness import Server

N = 13


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory, users=(("alpha", "alice"), ("beta", "bob"),
                                          ("gamma", "carol"))) as srv:
        yield srv


def spec(i: int) -> dict[str, Any]:
    tags = (["even"] if i % 2 == 0 else []) + (["three"] if i % 3 == 0 else [])
    body: dict[str, Any] = {"name": f"n{i % 5}", "tags": tags, "batch": "page",
                            "disk_format": "qcow2" if i == 5 else "raw",
                            "os_hidden": i == N - 1}
    if i < 6:
        body["foo"] = "bar" if i < 4 else "baz"
    return body


@pytest.fixture(scope="module")
def batch(alice: Glance) -> dict[str, Any]:
    """N images of alice: names with ties, sizes with nulls (queued ones), tags, a custom
    property, one hidden; created in two rounds either side of `split`."""
    images: list[dict[str, Any]] = []
    split = ""
    for i in range(N):
        if i == 7:
            time.sleep(1.1 - time.time() % 1)  # to the next whole second, and a bit
            split = datetime.fromtimestamp(int(time.time()), UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        body = spec(i)
        if i % 3 == 0 or body["disk_format"] != "raw":
            images.append(alice.create(**body))
        else:
            images.append(alice.active(b"\x01" * (100 * (i % 4 + 1)), **body))
    return {"images": [alice.get(i["id"]) for i in images], "split": split}


def ids(g: Glance, **params: Any) -> list[str]:
    resp = g.http.get("/images", params={"limit": 1000, **params})
    assert resp.status_code == 200, resp.text
    assert "next" not in resp.json()
    return [i["id"] for i in resp.json()["images"]]


def page_ids(g: Glance, **params: Any) -> list[str]:
    return ids(g, batch="page", **params)


def which(batch: dict[str, Any], pred: Any) -> set[str]:
    return {i["id"] for i in batch["images"] if pred(i)}


# ---- filters -------------------------------------------------------------------------------

def test_hidden_images_are_left_out_unless_asked_for(alice: Glance, batch: dict[str, Any]
                                                     ) -> None:
    hidden = which(batch, lambda i: i["os_hidden"])
    assert len(hidden) == 1
    assert set(page_ids(alice)) == which(batch, lambda i: not i["os_hidden"])
    assert set(page_ids(alice, os_hidden="true")) == hidden
    assert set(page_ids(alice, os_hidden="false")) == which(batch,
                                                            lambda i: not i["os_hidden"])


@pytest.mark.parametrize(("params", "pred"), [
    ({"name": "n3"}, lambda i: i["name"] == "n3"),
    ({"name": "in:n1,n4"}, lambda i: i["name"] in ("n1", "n4")),
    ({"status": "active"}, lambda i: i["status"] == "active"),
    ({"status": "queued"}, lambda i: i["status"] == "queued"),
    ({"status": "in:queued,active"}, lambda i: True),
    ({"status": "in:saving,killed"}, lambda i: False),
    ({"disk_format": "qcow2"}, lambda i: i["disk_format"] == "qcow2"),
    ({"size_min": "200"}, lambda i: (i["size"] or -1) >= 200),
    ({"size_max": "200"}, lambda i: i["size"] is not None and i["size"] <= 200),
    ({"size_min": "200", "size_max": "300"},
     lambda i: i["size"] is not None and 200 <= i["size"] <= 300),
    ({"size": "gt:300"}, lambda i: (i["size"] or -1) > 300),
    ({"tag": "even"}, lambda i: "even" in i["tags"]),
    ({"tag": ["even", "three"]}, lambda i: {"even", "three"} <= set(i["tags"])),
    ({"tag": "nope"}, lambda i: False),
    ({"foo": "bar"}, lambda i: i.get("foo") == "bar"),
    ({"foo": "in:bar,baz"}, lambda i: "foo" in i),
    ({"foo": "neq:bar"}, lambda i: i.get("foo") != "bar"),
    ({"foo": "bar", "tag": "even", "status": "active"},
     lambda i: i.get("foo") == "bar" and "even" in i["tags"] and i["status"] == "active"),
])
def test_filters(alice: Glance, batch: dict[str, Any], params: dict[str, Any],
                 pred: Any) -> None:
    expected = which(batch, lambda i: not i["os_hidden"] and pred(i))
    assert set(page_ids(alice, **params)) == expected


def test_created_at_filters(alice: Glance, batch: dict[str, Any]) -> None:
    visible = [i for i in batch["images"] if not i["os_hidden"]]
    early = {i["id"] for i in visible[:7]}
    late = {i["id"] for i in visible[7:]}
    assert late and early
    split = batch["split"]
    assert set(page_ids(alice, created_at=f"gt:{split}")) == late
    assert set(page_ids(alice, created_at=f"gte:{split}")) == late
    assert set(page_ids(alice, created_at=f"lt:{split}")) == early
    assert set(page_ids(alice, created_at="lt:2000-01-01T00:00:00Z")) == set()
    assert set(page_ids(alice, created_at="gt:2000-01-01T00:00:00+00:00")) == early | late


# ---- sorting -----------------------------------------------------------------------------------

def keyed(batch: dict[str, Any], got: list[str], *keys: str) -> list[tuple[Any, ...]]:
    by_id = {i["id"]: i for i in batch["images"]}
    return [tuple(by_id[i][k] for k in keys) for i in got]


def null_low(value: Any) -> Any:
    return -1 if value is None else value


def test_sort_name_asc_size_desc(alice: Glance, batch: dict[str, Any]) -> None:
    got = keyed(batch, page_ids(alice, sort="name:asc,size:desc"), "name", "size")
    assert got == sorted(got, key=lambda k: (k[0], -null_low(k[1])))
    assert [n for n, _ in got][:1] == ["n0"]


def test_sort_key_and_dir(alice: Glance, batch: dict[str, Any]) -> None:
    got = keyed(batch, page_ids(alice, sort_key="size", sort_dir="asc"), "size")
    assert [s for (s,) in got] == sorted((s for (s,) in got), key=null_low)
    got = keyed(batch, page_ids(alice, sort_key=["name", "size"], sort_dir=["desc", "asc"]),
                "name", "size")
    assert got == sorted(got, key=lambda k: (-int(k[0][1:]), null_low(k[1])))


def test_default_sort_is_newest_first_and_a_lone_sort_dir_flips_it(
        alice: Glance, batch: dict[str, Any]) -> None:
    visible = [i["id"] for i in batch["images"] if not i["os_hidden"]]
    assert page_ids(alice) == visible[::-1]
    assert page_ids(alice, sort_dir="asc") == visible
    assert page_ids(alice, sort_key="created_at", sort_dir="asc") == visible
    assert page_ids(alice, sort="created_at:asc") == visible


# ---- paging ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sort", [
    {}, {"sort": "name:asc"}, {"sort": "name:desc,size:asc"}, {"sort_key": "size"},
    {"sort_key": "size", "sort_dir": "asc"}, {"sort": "status:desc,name:asc"},
    {"sort": "disk_format:asc"}, {"sort_dir": "asc"}, {"tag": "even", "sort": "name"},
])
@pytest.mark.parametrize("limit", [1, 4, 6])
def test_paging_by_next_links(alice: Glance, batch: dict[str, Any], sort: dict[str, Any],
                              limit: int) -> None:
    whole = page_ids(alice, **sort)
    assert len(whole) == len(set(whole))
    seen: list[str] = []
    resp = alice.http.get("/images", params={"batch": "page", "limit": limit, **sort})
    for _ in range(N + 2):
        assert resp.status_code == 200, resp.text
        doc = resp.json()
        page = [i["id"] for i in doc["images"]]
        assert len(page) <= limit
        seen.extend(page)
        if "next" not in doc:
            break
        assert doc["next"].startswith("/v2/images?")
        assert doc["first"].startswith("/v2/images")
        resp = alice.http.get(doc["next"].removeprefix("/v2"))
    else:
        raise AssertionError("the next links never ended")
    assert seen == whole, "pages must add up to the whole listing, in order"


def test_limit_is_honoured_and_capped(alice: Glance, batch: dict[str, Any]) -> None:
    resp = alice.http.get("/images", params={"batch": "page", "limit": 3})
    doc = resp.json()
    assert len(doc["images"]) == 3 and "next" in doc
    assert "limit=3" in doc["next"] and "batch=page" in doc["next"]
    assert len(alice.http.get("/images", params={"limit": 10**9}).json()["images"]) >= N - 1


# ---- who sees what -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared(adm: Glance, alice: Glance, bob: Glance) -> dict[str, str]:
    made = {
        "private": alice.create(name="private", visibility="private", batch="vis"),
        "pending": alice.create(name="pending", batch="vis"),
        "accepted": alice.create(name="accepted", batch="vis"),
        "rejected": alice.create(name="rejected", batch="vis"),
        "unshared": alice.create(name="unshared", batch="vis"),
        "community": alice.create(name="community", visibility="community", batch="vis"),
        "public": adm.create(name="public", visibility="public", batch="vis"),
    }
    for name in ("pending", "accepted", "rejected"):
        resp = alice.http.post(f"/images/{made[name]['id']}/members",
                               json={"member": bob.project_id})
        assert resp.status_code == 200, resp.text
    for name in ("accepted", "rejected"):
        resp = bob.http.put(f"/images/{made[name]['id']}/members/{bob.project_id}",
                            json={"status": name})
        assert resp.status_code == 200, resp.text
    return {name: image["id"] for name, image in made.items()}


def names(g: Glance, shared: dict[str, str], **params: Any) -> set[str]:
    by_id = {v: k for k, v in shared.items()}
    return {by_id[i] for i in ids(g, batch="vis", **params)}


ALL = {"private", "pending", "accepted", "rejected", "unshared", "community", "public"}


@pytest.mark.parametrize(("who", "params", "expected"), [
    ("alice", {}, ALL),
    ("alice", {"visibility": "private"}, {"private"}),
    ("alice", {"visibility": "shared"}, {"pending", "accepted", "rejected", "unshared"}),
    ("alice", {"visibility": "community"}, {"community"}),
    ("alice", {"visibility": "public"}, {"public"}),
    ("alice", {"visibility": "all"}, ALL),
    ("bob", {}, {"accepted", "public"}),
    ("bob", {"member_status": "pending"}, {"pending", "public"}),
    ("bob", {"member_status": "rejected"}, {"rejected", "public"}),
    ("bob", {"member_status": "all"}, {"pending", "accepted", "rejected", "public"}),
    ("bob", {"visibility": "shared"}, {"accepted"}),
    ("bob", {"visibility": "shared", "member_status": "all"},
     {"pending", "accepted", "rejected"}),
    ("bob", {"visibility": "community"}, {"community"}),
    ("bob", {"visibility": "private"}, set()),
    ("bob", {"visibility": "all"}, {"accepted", "public", "community"}),
    ("carol", {}, {"public"}),
    ("carol", {"member_status": "all"}, {"public"}),
    ("carol", {"visibility": "shared"}, set()),
    ("carol", {"visibility": "community"}, {"community"}),
    ("adm", {}, ALL),
    ("adm", {"visibility": "private"}, {"private"}),
    ("adm", {"visibility": "shared"}, {"pending", "accepted", "rejected", "unshared"}),
])
def test_visibility_views(request: pytest.FixtureRequest, shared: dict[str, str], who: str,
                          params: dict[str, str], expected: set[str]) -> None:
    g = request.getfixturevalue(who)
    assert names(g, shared, **params) == expected


def test_show_follows_the_same_rules(bob: Glance, carol: Glance, shared: dict[str, str]
                                     ) -> None:
    for name in ("pending", "accepted", "rejected", "public", "community"):
        assert bob.get(shared[name])["name"] == name  # a member sees it whatever its answer
    for name in ("private", "unshared"):
        error(bob.http.get(f"/images/{shared[name]}"), 404)
    for name in ("pending", "accepted", "rejected", "private", "unshared"):
        error(carol.http.get(f"/images/{shared[name]}"), 404)
    assert carol.get(shared["community"])["name"] == "community"


def test_members_list_as_each_side_sees_it(alice: Glance, bob: Glance, carol: Glance,
                                           shared: dict[str, str]) -> None:
    resp = alice.http.get(f"/images/{shared['accepted']}/members")
    assert [(m["member_id"], m["status"]) for m in resp.json()["members"]] == \
        [(bob.project_id, "accepted")]
    resp = bob.http.get(f"/images/{shared['rejected']}/members")
    assert [m["status"] for m in resp.json()["members"]] == ["rejected"]
    error(carol.http.get(f"/images/{shared['accepted']}/members"), 404)
