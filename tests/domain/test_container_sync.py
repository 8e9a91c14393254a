"""Container sync realms and signatures, without a server."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from strato.domain.container_sync import Realms, RealmsError, signature, verify

REALMS = """\
# as Swift's container-sync-realms.conf
[DEFAULT]
mtime_check_interval = 300

[realm1]
key = k1
key2 = k1-next
cluster_Alpha = https://alpha.example.com/v1/
cluster_beta = http://127.0.0.1:8081/v1

[keysonly]
key = k2
"""


@pytest.fixture
def realms(tmp_path: Path) -> Realms:
    path = tmp_path / "container-sync-realms.conf"
    path.write_text(REALMS)
    return Realms.load(path)


def test_info_lists_realms_with_clusters_upper_case(realms: Realms) -> None:
    assert realms.info() == {"REALM1": {"clusters": {"ALPHA": {}, "BETA": {}}}}
    assert Realms.load(None).info() == {}
    assert realms.info("//realm1/beta")["REALM1"]["clusters"] == {
        "ALPHA": {}, "BETA": {"current": True}}
    realms.check_current("//Realm1/Alpha")
    for wrong in ("//realm1/gamma", "//keysonly/x", "realm1", "//realm1/beta/x"):
        with pytest.raises(RealmsError):
            realms.check_current(wrong)


def test_validate_resolves_a_target_or_gives_swifts_message(realms: Realms) -> None:
    target = realms.validate("//Realm1/beta/AUTH_a/c/")
    assert target is not None
    assert target.url == "http://127.0.0.1:8081/v1/AUTH_a/c"
    assert (target.realm, target.realm_key) == ("REALM1", "k1")
    assert realms.validate("") is None
    for value, message in (("//nope/beta/AUTH_a/c", "No realm key for 'nope'"),
                           ("//realm1/gamma/AUTH_a/c",
                            "No cluster endpoint for 'realm1' 'gamma'"),
                           ("//realm1/beta/AUTH_a", "Invalid X-Container-Sync-To format "
                                                    "'//realm1/beta/AUTH_a'")):
        with pytest.raises(ValueError) as caught:
            realms.validate(value)
        assert str(caught.value) == message
    with pytest.raises(ValueError, match="only //realm/cluster/account/container"):
        realms.validate("http://127.0.0.1/v1/AUTH_a/c")


def test_signature_is_swifts_hmac_and_either_realm_key_verifies(realms: Realms) -> None:
    expected = hmac.new(b"k1", b"PUT\n/v1/AUTH_a/c/o%20x\n1700000000.00000\nn0nce\nuser",
                        hashlib.sha1).hexdigest()
    assert signature("PUT", "/v1/AUTH_a/c/o%20x", "1700000000.00000", "n0nce", "k1",
                     "user") == expected
    args = ("PUT", "/v1/AUTH_a/c/o%20x", "1700000000.00000")
    assert verify(realms, f"realm1 n0nce {expected}", *args, "user")
    rotated = signature("PUT", args[1], args[2], "n2", "k1-next", "user")
    assert verify(realms, f"REALM1 n2 {rotated}", *args, "user")
    assert not verify(realms, f"realm1 n0nce {expected}", *args, "other-user-key")
    assert not verify(realms, f"realm1 n0nce {expected}", "DELETE", *args[1:], "user")
    assert not verify(realms, f"keysonly n0nce {expected}", *args, "user")
    assert not verify(realms, f"realm1 {expected}", *args, "user")
    assert not verify(realms, f"realm1 n0nce {expected}", *args, "")


def test_a_realm_without_a_key_or_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "realms.conf"
    path.write_text("[r]\ncluster_a = http://x/v1/\n")
    with pytest.raises(RealmsError, match="realm 'r' has no key"):
        Realms.load(path)
    with pytest.raises(RealmsError):
        Realms.load(tmp_path / "missing.conf")
