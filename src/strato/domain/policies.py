"""Storage policies: named places for blobs, picked per container when it is created.

This is Swift's model: a client names a policy (or one of its aliases, in any case) with
`X-Storage-Policy` on container PUT, a container without one gets the default policy, and a
container keeps its policy for life. A deprecated policy takes no new containers, but its
containers stay readable and writable.

Every object's blob lives in the blob store of its container's policy. Container ids are
never reused and a container's policy never changes, so the store holding a blob follows
from the object's container id once and for all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from strato.stores.blob.base import BlobStore


class UnknownPolicy(Exception):
    """A container names a policy the configuration no longer has."""


@dataclass(frozen=True, slots=True)
class StoragePolicy:
    name: str
    aliases: tuple[str, ...]
    default: bool
    deprecated: bool
    blobs: BlobStore

    @property
    def names(self) -> tuple[str, ...]:
        """The name first, then the aliases (Swift's alias list)."""
        return (self.name, *self.aliases)


class PolicySet:
    """The configured policies (already validated: unique names, exactly one default)."""

    def __init__(self, policies: Sequence[StoragePolicy]) -> None:
        self._all = tuple(policies)
        self._by_name = {name.lower(): p for p in self._all for name in p.names}
        self.default = next(p for p in self._all if p.default)

    def __iter__(self) -> Iterator[StoragePolicy]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)

    def find(self, name: str) -> StoragePolicy | None:
        """The policy a client named (name or alias, case-insensitive), or None."""
        return self._by_name.get(name.lower())

    def stored(self, name: str) -> StoragePolicy:
        """The policy of a container that recorded `name` (a renamed policy keeps its old
        name as an alias). Raises UnknownPolicy."""
        policy = self._by_name.get(name.lower())
        if policy is None:
            raise UnknownPolicy(name)
        return policy
