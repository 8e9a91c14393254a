"""apache-libcloud's OpenStack Swift driver with Keystone `3.x_password` and `2.0_password`.

libcloud appends `/v3/auth/tokens` or `/v2.0/tokens` itself, so it gets the versionless
`/identity` URL, and it picks the catalog entry named `swift`.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from libcloud.storage.providers import get_driver
from libcloud.storage.types import Provider

from tests.api.identity.conftest import KeystoneUser
from tests.harness import Server


@pytest.mark.parametrize("version", ["3.x_password", "2.0_password"])
def test_libcloud_round_trip(server: Server, ks_user: KeystoneUser, tmp_path: Path,
                             version: str) -> None:
    cls = get_driver(Provider.OPENSTACK_SWIFT)
    driver = cls(ks_user.name, ks_user.password, ex_force_auth_url=f"{server.url}/identity",
                 ex_force_auth_version=version, ex_tenant_name=ks_user.project,
                 ex_domain_name="Default", ex_tenant_domain_id="default",
                 ex_force_service_region="RegionOne")
    name = f"lc-{uuid.uuid4().hex[:8]}"
    container = driver.create_container(name)
    assert driver.get_container(name).name == name
    source = tmp_path / "data.bin"
    source.write_bytes(bytes(range(256)) * 8)
    obj = driver.upload_object(str(source), container, "data.bin",
                               extra={"meta_data": {"color": "blue"}})
    assert obj.hash == hashlib.md5(source.read_bytes()).hexdigest()
    fetched = driver.get_object(name, "data.bin")
    assert fetched.meta_data == {"color": "blue"} and fetched.size == 2048
    part = b"".join(driver.download_object_range_as_stream(fetched, 10, 20))
    assert part == (bytes(range(256)) * 8)[10:20]
    assert driver.delete_object(fetched)
    assert driver.delete_container(container)
