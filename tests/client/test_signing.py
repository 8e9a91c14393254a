"""Temp URLs and form POST pages the SDK signs, used by plain HTTP against a real Strato:
every digest in hex and base64, prefix scope, IP ranges, ISO 8601 expiry, HP access keys."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest

import strato.client as sc
from tests.client.conftest import arun
from tests.harness import Server

KEY = "sdk-temp-url-key"


@pytest.fixture(scope="module")
def shared(keystone: dict[str, str]) -> tuple[str, str]:
    """(storage URL, container) holding `photos/cat.jpg` and `notes.txt`, key set."""
    name = f"share-{uuid.uuid4().hex[:8]}"

    async def work() -> str:
        async with sc.connect(**keystone) as cloud:
            await cloud.objects.create_container(name, {"X-Container-Meta-Temp-URL-Key": KEY})
            await cloud.objects.put(name, "photos/cat.jpg", b"meow")
            await cloud.objects.put(name, "notes.txt", b"hello")
            return await cloud.objects.storage_url()

    return arun(work()), name


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("base64url", [False, True])
def test_object_temp_url_every_digest(shared: tuple[str, str], digest: str,
                                      base64url: bool) -> None:
    storage, container = shared
    url = sc.temp_url(f"{storage}/{container}/notes.txt", KEY, digest=digest,
                      base64url=base64url, seconds=60)
    assert httpx.get(url).content == b"hello"
    assert httpx.put(url, content=b"x").status_code == 401   # signed for GET only
    wrong = sc.temp_url(f"{storage}/{container}/notes.txt", "not-the-key", digest=digest)
    assert httpx.get(wrong).status_code == 401


def test_prefix_ip_range_iso8601_and_filename(shared: tuple[str, str]) -> None:
    storage, container = shared
    prefix = sc.temp_url(f"{storage}/{container}/photos/", KEY, prefix=True, iso8601=True)
    assert re.search(r"temp_url_expires=\d{4}-\d\d-\d\dT", prefix)
    assert httpx.get(prefix.replace("/photos/?", "/photos/cat.jpg?")).content == b"meow"
    assert httpx.get(prefix.replace("/photos/?", "/notes.txt?")).status_code == 401
    here = sc.temp_url(f"{storage}/{container}/notes.txt", KEY, ip_range="127.0.0.0/8")
    assert httpx.get(here).status_code == 200
    elsewhere = sc.temp_url(f"{storage}/{container}/notes.txt", KEY, ip_range="10.0.0.1")
    assert httpx.get(elsewhere).status_code == 401
    named = sc.temp_url(f"{storage}/{container}/notes.txt", KEY, filename="n.txt")
    assert 'filename="n.txt"' in httpx.get(named).headers["Content-Disposition"]
    expired = sc.temp_url(f"{storage}/{container}/notes.txt", KEY, seconds=1_000_000_000,
                          absolute=True)
    assert httpx.get(expired).status_code == 401


def test_cloud_temp_url_finds_the_key(keystone: dict[str, str], shared: tuple[str, str]) -> None:
    _, container = shared

    async def work() -> str:
        async with sc.connect(**keystone) as cloud:
            return await cloud.temp_url(container, "photos/cat.jpg", seconds=30)

    assert httpx.get(arun(work())).content == b"meow"


def test_hp_access_key_variant(server: Server, shared: tuple[str, str]) -> None:
    storage, container = shared
    made = json.loads(server.cli("access-key", "create", "--user", "tester", "--json").stdout)
    url = sc.temp_url(f"{storage}/{container}/notes.txt", made["secret"],
                      hp_access_key=(made["project_id"], made["id"]))
    assert httpx.get(url).content == b"hello"


def test_form_post_page_uploads(shared: tuple[str, str]) -> None:
    storage, container = shared
    form = sc.form_post(f"{storage}/{container}/inbox/", KEY, max_file_count=2,
                        max_file_size=1024, redirect="")
    assert 'name="signature"' in form.html() and 'type="file"' in form.html()
    posted = httpx.post(form.action, data=form.fields(),
                        files=[("file1", ("a.txt", b"first")), ("file2", ("b.txt", b"second"))])
    assert posted.status_code in (201, 303), posted.text
    check = sc.temp_url(f"{storage}/{container}/inbox/b.txt", KEY)
    assert httpx.get(check).content == b"second"


def test_bad_paths_are_refused() -> None:
    with pytest.raises(ValueError, match="/v1/<account>/<container>/<object>"):
        sc.temp_url("/v1/AUTH_x/c", KEY)
    with pytest.raises(ValueError, match="digest must be one of"):
        sc.temp_url("/v1/AUTH_x/c/o", KEY, digest="md5")
    with pytest.raises(ValueError, match="must not be negative"):
        sc.temp_url("/v1/AUTH_x/c/o", KEY, seconds=-5)
