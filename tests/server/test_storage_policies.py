"""Storage policies as an operator meets them: declaring them (flag, env, TOML) and the
checks at start, data from before policies, changing the set later, and the background
jobs (orphan sweep, expirer) in every policy's directory."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from strato.server.settings import Settings
from tests import stored
from tests.harness import Server, strato

GOLD_SILVER = [{"name": "gold", "default": True}, {"name": "silver"}]


def blobs(root: Path) -> set[str]:
    return {p.name for p in (root / "objects").rglob("*") if p.is_file()}


def settings(policies: list[dict[str, object]], **kwargs: object) -> Settings:
    return Settings(storage_policies=policies, data_dir=Path("/srv/strato"), **kwargs)


# ---- declaring policies -------------------------------------------------------------------

def test_default_is_one_policy_in_the_data_directory() -> None:
    s = Settings(data_dir=Path("/srv/strato"))
    [policy] = s.storage_policies
    assert (policy.name, policy.default) == ("Policy-0", True)
    assert s.policy_root(policy) == Path("/srv/strato")


def test_directories_default_per_policy() -> None:
    s = settings([{"name": "gold", "default": True}, {"name": "silver"},
                  {"name": "tape", "directory": "/mnt/tape"}, {"name": "ssd", "directory": "ssd"}])
    roots = [str(s.policy_root(p)) for p in s.storage_policies]
    assert roots == ["/srv/strato", "/srv/strato/policies/silver", "/mnt/tape", "/srv/strato/ssd"]


def test_a_lone_policy_is_the_default() -> None:
    assert settings([{"name": "only"}]).storage_policies[0].default


@pytest.mark.parametrize(("policies", "message"), [
    ([], "at least one policy"),
    ([{"name": "a"}, {"name": "b"}], "exactly one policy must be the default, found 0"),
    ([{"name": "a", "default": True}, {"name": "b", "default": True}],
     "exactly one policy must be the default, found 2 (a, b)"),
    ([{"name": "gold", "default": True}, {"name": "GOLD"}], "duplicate name 'GOLD'"),
    ([{"name": "gold", "default": True, "aliases": ["y"]}, {"name": "s", "aliases": ["Y"]}],
     "duplicate name 'Y'"),
    ([{"name": "gold medal", "default": True}], "invalid name 'gold medal'"),
    ([{"name": "gold", "default": True, "aliases": [""]}], "invalid name ''"),
    ([{"name": "old", "default": True, "deprecated": True}, {"name": "new"}],
     "deprecated policy 'old' cannot be the default"),
    ([{"name": "a", "default": True}, {"name": "b", "directory": "/srv/strato"}],
     "'b' and 'a' share the blob directory /srv/strato"),
    ([{"name": "a", "default": True, "colour": "red"}], "colour"),
])
def test_invalid_policy_sets_are_refused(policies: list[dict[str, object]],
                                         message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        settings(policies)
    assert message in str(exc.value)


def test_policies_from_env_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "strato.toml"
    config.write_text('[[storage_policies]]\nname = "gold"\naliases = ["yellow"]\n'
                      'default = true\n\n[[storage_policies]]\nname = "silver"\n'
                      'directory = "/mnt/silver"\n')
    monkeypatch.setenv("STRATO_CONFIG", str(config))
    from_toml = Settings()
    assert [(p.name, p.aliases, p.default) for p in from_toml.storage_policies] == [
        ("gold", ["yellow"], True), ("silver", [], False)]
    assert from_toml.policy_root(from_toml.storage_policies[1]) == Path("/mnt/silver")
    monkeypatch.setenv("STRATO_STORAGE_POLICIES", json.dumps([{"name": "env", "default": True}]))
    assert [p.name for p in Settings().storage_policies] == ["env"]  # env beats the file
    # and the workers rebuild the same set from the environment the CLI hands them
    for key, value in from_toml.to_env().items():
        monkeypatch.setenv(key, value)
    assert Settings().storage_policies == from_toml.storage_policies


def test_serve_refuses_an_invalid_set(tmp_path: Path) -> None:
    result = strato("serve", "--storage-policies", json.dumps([{"name": "a"}, {"name": "b"}]),
                    data_dir=tmp_path / "data", check=False)
    assert result.returncode == 1
    assert "exactly one policy must be the default" in result.stderr
    result = strato("serve", "--storage-policies", "[{name: gold}]",
                    data_dir=tmp_path / "data", check=False)
    assert result.returncode == 2 and "not JSON" in result.stderr


# ---- changing the set over the life of a data directory --------------------------------

def start(make_server: object, data_dir: Path | None, policies: list[dict[str, object]],
          *extra: str) -> Server:
    args = ("--storage-policies", json.dumps(policies), *extra)
    if data_dir is None:
        return make_server(extra_args=args)  # type: ignore[operator,no-any-return]
    return Server(data_dir, extra_args=args).start()


def test_data_from_before_policies_joins_the_default(make_server: object) -> None:
    srv: Server = make_server()  # type: ignore[operator]
    srv.add_user("old", "u", "pw", role="admin")
    url, token = srv.auth_v1("old:u", "pw")
    hdr = {"X-Auth-Token": token}
    httpx.put(f"{url}/legacy", headers=hdr)
    httpx.put(f"{url}/legacy/o", headers=hdr, content=b"written long ago")
    srv.stop()
    # what the schema migration leaves for a container written before policies existed
    stored.execute(srv.data_dir, "UPDATE containers SET policy = ''",
                   "DELETE FROM account_policies")
    (srv.data_dir / "storage-policy").unlink()
    srv.extra_args = ("--storage-policies", json.dumps(GOLD_SILVER))
    srv.start()
    assert "1 containers created before storage policies now belong to the default " \
           "policy 'gold'" in srv.log_path.read_text()
    _, token = srv.auth_v1("old:u", "pw")
    hdr = {"X-Auth-Token": token}
    resp = httpx.get(f"{url}/legacy/o", headers=hdr)
    assert resp.content == b"written long ago"
    assert resp.status_code == 200
    assert httpx.head(f"{url}/legacy", headers=hdr).headers["X-Storage-Policy"] == "gold"
    # the account reports it under its new policy, and keeps doing so once it is gone
    assert httpx.delete(f"{url}/legacy/o", headers=hdr).status_code == 204
    assert httpx.delete(f"{url}/legacy", headers=hdr).status_code == 204
    head = httpx.head(url, headers=hdr).headers
    assert head["X-Account-Storage-Policy-Gold-Container-Count"] == "0"
    assert not [h for h in head if "policy-0" in h.lower()]


def test_a_policy_in_use_must_stay_declared(make_server: object, tmp_path: Path) -> None:
    srv = start(make_server, None, GOLD_SILVER)
    srv.add_user("p", "u", "pw", role="admin")
    url, token = srv.auth_v1("p:u", "pw")
    hdr = {"X-Auth-Token": token}
    httpx.put(f"{url}/s", headers={**hdr, "X-Storage-Policy": "silver"})
    httpx.put(f"{url}/s/o", headers=hdr, content=b"silver bytes")
    srv.stop()
    # dropping silver would orphan its containers: refused with a way out
    result = strato("serve", "--storage-policies", json.dumps([{"name": "gold"}]),
                    data_dir=srv.data_dir, check=False)
    assert result.returncode == 1
    assert "containers use storage policy 'silver', which is not configured" in result.stderr
    # making another policy the default moves no blobs: the labelled directories say so
    swapped = [{"name": "gold"}, {"name": "silver", "default": True}]
    result = strato("serve", "--storage-policies", json.dumps(swapped),
                    data_dir=srv.data_dir, check=False)
    assert result.returncode == 1
    assert "holds the blobs of 'gold', not of 'silver'" in result.stderr
    # deprecated: no new containers, the existing ones keep working; renamed with the old
    # name as an alias and the old directory: the same containers under the new name
    kept = [{"name": "gold", "default": True},
            {"name": "argent", "aliases": ["silver"], "deprecated": True,
             "directory": "policies/silver"}]
    srv.extra_args = ("--storage-policies", json.dumps(kept))
    srv.start()
    _, token = srv.auth_v1("p:u", "pw")
    hdr = {"X-Auth-Token": token}
    assert httpx.get(f"{url}/s/o", headers=hdr).content == b"silver bytes"
    assert httpx.put(f"{url}/s/o2", headers=hdr, content=b"more").status_code == 201
    assert httpx.head(f"{url}/s", headers=hdr).headers["X-Storage-Policy"] == "argent"
    resp = httpx.put(f"{url}/new", headers={**hdr, "X-Storage-Policy": "argent"})
    assert resp.status_code == 400 and resp.text == "Storage Policy 'argent' is deprecated"
    resp = httpx.post(f"{url}/s", headers={**hdr, "X-Versions-Enabled": "true"})
    assert resp.status_code == 400 and "deprecated storage policy" in resp.text
    info = httpx.get(f"{srv.url}/info").json()
    assert [p["name"] for p in info["swift"]["policies"]] == ["gold"]
    head = httpx.head(url, headers=hdr).headers
    assert head["X-Account-Storage-Policy-Argent-Object-Count"] == "2"


def test_sweep_and_expirer_cover_every_policy(make_server: object) -> None:
    srv = start(make_server, None, GOLD_SILVER, "--sweep-min-age", "1",
                "--sweep-interval", "1", "--inline-bytes", "0")  # every object has a file
    silver = srv.data_dir / "policies" / "silver"
    srv.add_user("p", "u", "pw", role="admin")
    url, token = srv.auth_v1("p:u", "pw")
    hdr = {"X-Auth-Token": token}
    httpx.put(f"{url}/g", headers=hdr)
    httpx.put(f"{url}/s", headers={**hdr, "X-Storage-Policy": "silver"})
    httpx.put(f"{url}/g/keep", headers=hdr, content=b"gold")
    httpx.put(f"{url}/s/keep", headers=hdr, content=b"silver")
    live = blobs(srv.data_dir) | blobs(silver)
    httpx.put(f"{url}/s/brief", headers={**hdr, "X-Delete-After": "1"}, content=b"brief")
    brief = blobs(silver) - live
    assert len(brief) == 1
    # what a crash between "blob renamed into place" and "row committed" leaves, and a
    # temp file of an upload cut short, in each policy's directory
    leftovers = []
    for root in (srv.data_dir, silver):
        orphan = root / "objects" / "ab" / "cd" / ("abcd" + "0" * 28)
        orphan.parent.mkdir(parents=True, exist_ok=True)
        orphan.write_bytes(b"orphan")
        temp = root / "tmp" / ("f" * 32 + ".tmp")
        temp.write_bytes(b"half")
        leftovers += [orphan, temp]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
            any(p.exists() for p in leftovers) or brief & blobs(silver)):
        time.sleep(0.2)
    assert not [p for p in leftovers if p.exists()]
    assert not brief & blobs(silver), "the expired silver blob stayed"
    assert blobs(srv.data_dir) | blobs(silver) == live
    assert httpx.get(f"{url}/g/keep", headers=hdr).content == b"gold"
    assert httpx.get(f"{url}/s/keep", headers=hdr).content == b"silver"
