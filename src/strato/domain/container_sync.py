"""Container sync realms: who may sync with whom, and the signature on every pushed write.

The realms file has Swift's `container-sync-realms.conf` format (an INI file), so one file
serves Strato and Swift clusters alike::

    [realm1]
    key = realm-secret
    key2 = next-realm-secret        # optional, for rotating the realm key
    cluster_east = https://east.example.com/v1/
    cluster_west = http://127.0.0.1:8081/v1/

Realm and cluster names are case-insensitive (kept upper-case, as Swift shows them in
`/info`). A container syncs to `X-Container-Sync-To: //realm1/west/AUTH_acct/cont` with an
`X-Container-Sync-Key` that the destination container holds too. Each pushed request
carries `X-Container-Sync-Auth: <realm> <nonce> <signature>`: the hex HMAC-SHA1, keyed
with the realm key, of the method, the quoted path, the X-Timestamp, the nonce and the
container's sync key, one per line.
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path


class RealmsError(ValueError):
    """The realms file cannot be read."""


@dataclass(frozen=True, slots=True)
class Realm:
    key: str
    key2: str = ""
    clusters: dict[str, str] = field(default_factory=dict)
    """Upper-case cluster name -> endpoint URL (the `/v1/` URL of that cluster)."""


@dataclass(frozen=True, slots=True)
class SyncTarget:
    """A validated `//realm/cluster/account/container`."""

    realm: str
    cluster: str
    account: str
    container: str
    endpoint: str
    realm_key: str

    @property
    def url(self) -> str:
        """The destination container's URL."""
        return f"{self.endpoint.rstrip('/')}/{self.account}/{self.container}"


class Realms:
    def __init__(self, realms: dict[str, Realm] | None = None) -> None:
        self.realms = realms or {}

    @classmethod
    def load(cls, path: Path | None) -> Realms:
        """The realms of a Swift-style realms file; none if `path` is None."""
        if path is None:
            return cls()
        parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#",))
        try:
            with path.open(encoding="utf-8") as handle:
                parser.read_file(handle)
        except (OSError, configparser.Error, UnicodeDecodeError) as exc:
            raise RealmsError(f"container sync realms file {path}: {exc}") from None
        realms = {}
        for section in parser.sections():
            options = parser[section]
            clusters = {name[len("cluster_"):].upper(): value.strip()
                        for name, value in options.items() if name.startswith("cluster_")}
            key = options.get("key", "").strip()
            if not key:
                raise RealmsError(f"container sync realms file {path}: realm {section!r} "
                                  "has no key")
            realms[section.upper()] = Realm(key, options.get("key2", "").strip(), clusters)
        return cls(realms)

    def info(self, current: str = "") -> dict[str, dict[str, dict[str, dict[str, object]]]]:
        """`/info` `container_sync.realms`: each realm with clusters, as Swift lists them;
        `current` (`//realm/cluster`) marks this cluster with `"current": true`."""
        listed: dict[str, dict[str, dict[str, dict[str, object]]]] = {
            name: {"clusters": {cluster: {} for cluster in realm.clusters}}
            for name, realm in self.realms.items() if realm.clusters}
        realm, _, cluster = current.strip("/").upper().partition("/")
        if cluster and cluster in listed.get(realm, {}).get("clusters", {}):
            listed[realm]["clusters"][cluster]["current"] = True
        return listed

    def check_current(self, current: str) -> None:
        """Refuse a `//realm/cluster` for this cluster that the realms do not list."""
        realm, _, cluster = current.strip("/").upper().partition("/")
        if not cluster or "/" in cluster or cluster not in self.realms.get(
                realm, Realm("")).clusters:
            raise RealmsError(f"container_sync_current {current!r} is not a //REALM/CLUSTER "
                              "of the container sync realms file")

    def keys(self, realm: str) -> list[str]:
        """The realm's key and key2 (either signs), none for an unknown realm."""
        found = self.realms.get(realm.upper())
        if found is None:
            return []
        return [k for k in (found.key, found.key2) if k]

    def validate(self, value: str) -> SyncTarget | None:
        """The target of an `X-Container-Sync-To` value (None for an empty one); raises
        ValueError with Swift's message for one it cannot sync to."""
        trimmed = value.rstrip("/")
        if not trimmed:
            return None
        if not trimmed.startswith("//"):
            raise ValueError(f"Invalid X-Container-Sync-To format {value!r}: only "
                             "//realm/cluster/account/container is supported")
        parts = trimmed[2:].split("/")
        if len(parts) != 4 or not all(parts):
            raise ValueError(f"Invalid X-Container-Sync-To format {value!r}")
        realm_name, cluster, account, container = parts
        realm = self.realms.get(realm_name.upper())
        if realm is None:
            raise ValueError(f"No realm key for {realm_name!r}")
        endpoint = realm.clusters.get(cluster.upper())
        if not endpoint:
            raise ValueError(f"No cluster endpoint for {realm_name!r} {cluster!r}")
        return SyncTarget(realm_name.upper(), cluster.upper(), account, container, endpoint,
                          realm.key)


def signature(method: str, path: str, x_timestamp: str, nonce: str, realm_key: str,
              user_key: str) -> str:
    """The hex HMAC-SHA1 a synced request carries (Swift's container sync signature)."""
    message = "\n".join((method, path, x_timestamp, nonce, user_key)).encode("utf-8")
    return hmac.new(realm_key.encode("utf-8"), message, hashlib.sha1).hexdigest()


def verify(realms: Realms, header: str, method: str, path: str, x_timestamp: str,
           user_key: str) -> bool:
    """Whether `X-Container-Sync-Auth: <realm> <nonce> <sig>` signs this request with the
    realm's key (or key2) and the container's sync key; compared in constant time."""
    parts = header.split()
    if len(parts) != 3 or not user_key:
        return False
    realm, nonce, given = parts
    ok = False
    for key in realms.keys(realm):
        expected = signature(method, path, x_timestamp, nonce, key, user_key)
        ok |= hmac.compare_digest(expected.encode(), given.encode())
    return ok
