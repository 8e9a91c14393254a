"""The usage sampler, end to end: a server sampling every second records what uploads do to
the counters, and `GET /console/usage` shows it only to those Swift lets see it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.harness import Server


def console(server: Server, user: str, password: str, project: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    resp = client.post("/console/session",
                       json={"user": user, "password": password, "project": project})
    assert resp.status_code == 200, resp.text
    client.account = resp.json()["account"]  # type: ignore[attr-defined]
    return client


def wait_for(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool],
             seconds: float = 20.0) -> dict[str, Any]:
    """What `read` gives once `done` holds; fails the test if it does not within `seconds`
    (two callers wait without asserting on the result themselves)."""
    deadline = time.monotonic() + seconds
    while True:
        found = read()
        if done(found):
            return found
        assert time.monotonic() < deadline, f"not within {seconds} s: {found}"
        time.sleep(0.2)


def test_samples_grow_with_uploads_and_stay_with_those_swift_lets_see_them(
        make_server: Callable[..., Server]) -> None:
    server = make_server(extra_args=("--usage-interval", "1"))
    server.add_user("usage-owner", "owner", "owner-secret")
    server.add_user("usage-other", "stranger", "stranger-secret")
    url, token = server.auth_v1("usage-owner:owner", "owner-secret")
    swift = httpx.Client(base_url=url + "/", headers={"X-Auth-Token": token}, timeout=30)
    owner = console(server, "owner", "owner-secret", "usage-owner")
    account = owner.account  # type: ignore[attr-defined]

    def usage(client: httpx.Client = owner, **query: str) -> dict[str, Any]:
        resp = client.get("/console/usage", params=query)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    assert swift.put("photos").status_code == 201
    assert swift.put("photos/a", content=b"a" * 1000).status_code == 201
    assert swift.put("photos/b", content=b"b" * 2000).status_code == 201

    def has(objects: int, nbytes: int) -> Callable[[dict[str, Any]], bool]:
        return lambda found: bool(found["samples"]) and found["samples"][-1] == {
            **found["samples"][-1], "objects": objects, "bytes": nbytes}

    first = wait_for(lambda: usage(container="photos"), has(2, 3000))
    assert first["samples"][-1]["objects"] == 2 and first["samples"][-1]["bytes"] == 3000
    assert first["now"]["objects"] == 2 and first["now"]["bytes"] == 3000
    assert first["interval"] == 1.0 and first["container"] == "photos"
    totals = wait_for(lambda: usage(), has(2, 3000))
    assert totals["samples"][-1]["bytes"] == 3000 and totals["now"]["containers"] == 1
    assert totals["account"] == account

    # more uploads: a later sample with the new counters; idle seconds add none
    time.sleep(2.5)
    assert len(usage(container="photos")["samples"]) == len(first["samples"])
    assert swift.put("photos/c", content=b"c" * 500).status_code == 201
    later = wait_for(lambda: usage(container="photos"), has(3, 3500))
    samples = later["samples"]
    assert samples[-1]["objects"] == 3 and samples[-1]["bytes"] == 3500
    assert len(samples) == len(first["samples"]) + 1
    assert [s["time"] for s in samples] == sorted(s["time"] for s in samples)
    # a short window: the value that held at its start, then what changed within it
    recent = usage(container="photos", days="0.00001")["samples"]
    assert recent[-1] == samples[-1] and recent[0] in samples[-2:]
    wait_for(lambda: usage(), has(3, 3500))

    # another project's user: its own account is its own, this one is refused (Swift's 403)
    stranger = console(server, "stranger", "stranger-secret", "usage-other")
    assert usage(stranger)["now"]["objects"] == 0
    for query in ({"account": account}, {"account": account, "container": "photos"}):
        resp = stranger.get("/console/usage", params=query)
        assert resp.status_code == 403, resp.text
        assert "samples" not in resp.json()
    # signed out: 401; bad input: 400; a write method: 405
    assert httpx.get(f"{server.url}/console/usage").status_code == 401
    assert owner.get("/console/usage", params={"days": "400"}).status_code == 400
    assert owner.get("/console/usage", params={"container": "a/b"}).status_code == 400
    assert owner.post("/console/usage").status_code == 405

    # a deleted container's history goes with it (Swift's 404 for the container itself)
    for name in ("a", "b", "c"):
        assert swift.delete(f"photos/{name}").status_code == 204
    assert swift.delete("photos").status_code == 204
    assert owner.get("/console/usage", params={"container": "photos"}).status_code == 404
    assert swift.put("photos").status_code == 201
    fresh = wait_for(lambda: usage(container="photos"), lambda f: bool(f["samples"]))
    assert [(s["objects"], s["bytes"]) for s in fresh["samples"]] == [(0, 0)]
    wait_for(lambda: usage(), has(0, 0))
    swift.close()
    owner.close()
    stranger.close()


def test_no_sampling_no_history(make_server: Callable[..., Server]) -> None:
    server = make_server(extra_args=("--usage-interval", "0"))
    server.add_user("quiet", "quiet", "quiet-secret")
    client = console(server, "quiet", "quiet-secret", "quiet")
    url, token = server.auth_v1("quiet:quiet", "quiet-secret")
    assert httpx.put(f"{url}/c", headers={"X-Auth-Token": token}).status_code == 201
    time.sleep(1.5)
    found = client.get("/console/usage").json()
    assert found["interval"] == 0 and found["samples"] == []
    assert found["now"]["containers"] == 1
    client.close()
