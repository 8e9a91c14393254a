"""Per-request state: the parsed target, the caller and the services, built once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from strato.api.http import POLICY, Request
from strato.api.swift.acl import Authorizer
from strato.domain.identity import AuthContext, IdentityService
from strato.domain.storage import StorageService
from strato.stores.metadata.records import AccountRecord, ContainerRecord, ObjectRecord

READ_METHODS = ("GET", "HEAD")
READS = "reads"
"""State key of the request's read memo, shared with its GET/HEAD subrequests."""
ACCOUNT_DOMAIN = "account_domain"
"""State key: the domain id of the request account's project (None: no such project), read
once for keystoneauth's rule on names in container ACLs."""
INLINE_DATA = "inline_data"
"""State key: inline bytes read with their object's row, by blob id, until the handler
takes them."""
OPEN_EXPIRED = "open_expired"
"""State key: the request may reach objects past their delete-at time (`X-Open-Expired`
with `allow_open_expired` on), large object segments included."""


@dataclass(frozen=True, slots=True)
class SwiftServices:
    storage: StorageService
    identity: IdentityService
    authorizer: Authorizer
    base_url: str
    max_file_size: int
    settings: Any = None
    """The server settings (`strato.server.settings.Settings`), for feature options."""


class AclScope(TypedDict):
    """The keyword arguments of `Authorizer.can_read`/`can_write` that name the target."""

    account: str
    account_domain: str | None


async def account_domain(services: SwiftServices, account: str) -> str | None:
    """The domain id of the project behind `<prefix><project_id>`, or None."""
    prefix = services.authorizer.account_prefix(account)
    if prefix is None:
        return None
    project = await services.identity.store.get_project(id=account[len(prefix):])
    return project.domain_id if project is not None else None


@dataclass(slots=True)
class SwiftRequest:
    request: Request
    services: SwiftServices
    account: str
    container: str | None
    obj: str | None
    auth: AuthContext | None
    state: dict[str, Any] = field(default_factory=dict)
    """Per-request notes features leave for each other (like Swift's WSGI environ keys)."""

    @property
    def headers(self) -> dict[str, str]:
        return self.request.headers

    # The read memo: a GET or HEAD (and its GET/HEAD subrequests) never writes, so the
    # container and object rows it reads cannot change under it by its own doing; the
    # features on its way (SLO/DLO, versioning, symlink) and the object handler each need
    # them, and read them here once, keyed by path so a subrequest elsewhere reads its own.
    # Nothing outlives the request; any other method reads the store every time.
    def _reads(self) -> dict[tuple[str, ...], Any] | None:
        if self.request.method not in READ_METHODS:
            return None
        return self.state.setdefault(READS, {})  # type: ignore[no-any-return]

    async def get_container(self, account: str, name: str) -> ContainerRecord | None:
        """The container's row (None if missing), read once per GET/HEAD request, and once
        per request of any method on an object in it: an object request never changes its
        container's row but for the counters, which its own write moves only after every
        check that reads them (quotas, versioning, the write itself) has run. An object
        request reads its own container with its account and, for GET/HEAD, its object
        (`StorageService.lookup`): one round trip on PostgreSQL where it took up to four.
        A GET or HEAD of an object reads no counters (`ContainerRecord.counted`)."""
        key = (account, name)
        if self.obj is not None and key == (self.account, self.container):
            reads = self.state.setdefault(READS, {})
            if key not in reads:
                await self._lookup(reads)
            return reads[key]  # type: ignore[no-any-return]
        reads = self._reads()
        if reads is not None and key in reads:
            return reads[key]  # type: ignore[no-any-return]
        record = await self.services.storage.get_container(account, name)
        self.note_policy(account, name, record)
        if reads is not None:
            reads[key] = record
        return record

    async def _lookup(self, reads: dict[tuple[str, ...], Any]) -> None:
        assert self.container is not None and self.obj is not None
        method = self.request.method
        reading = method in READ_METHODS
        found = await self.services.storage.lookup(
            self.account, self.container, self.obj if reading else None,
            data=method == "GET", counts=not reading, open_expired=self.open_expired)
        reads[(self.account,)] = found.account
        reads[(self.account, self.container)] = found.container
        if reading and found.container is not None:
            reads[(self.account, self.container, self.obj)] = found.object
        if found.object is not None and found.data is not None:
            self.state.setdefault(INLINE_DATA, {})[found.object.blob_id] = found.data
        self.note_policy(self.account, self.container, found.container)

    async def get_account(self, account: str) -> AccountRecord | None:
        """The account's row: an object request's own account is read with its container
        (an object request never changes it), any other afresh."""
        if self.obj is None or account != self.account:
            return await self.services.storage.get_account(account)
        assert self.container is not None
        await self.get_container(account, self.container)
        reads = self.state[READS]
        if (account,) not in reads:  # the container was read before, by another path
            reads[(account,)] = await self.services.storage.get_account(account)
        return reads[(account,)]  # type: ignore[no-any-return]

    def inline_data(self, record: ObjectRecord) -> bytes | None:
        """The object's inline bytes if they were read with its row (`open_object`'s
        `data`); taken once, so the request holds them no longer than it needs."""
        held: dict[str, bytes] = self.state.get(INLINE_DATA, {})
        return held.pop(record.blob_id, None)

    def note_policy(self, account: str, name: str, record: ContainerRecord | None) -> None:
        """Label the request with its container's policy for the metrics (only the
        container it addresses: a copy's source or a manifest's segments do not count)."""
        if record is not None and name == self.container and account == self.account:
            self.request.state[POLICY] = self.services.storage.policy_of(record).name

    async def get_object(self, account: str, container: str, obj: str
                         ) -> tuple[ContainerRecord | None, ObjectRecord | None]:
        """The container's and the live object's rows, read once per GET/HEAD request."""
        record = await self.get_container(account, container)
        if record is None:
            return None, None
        reads = self._reads()
        key = (account, container, obj)
        if reads is not None and key in reads:
            return record, reads[key]
        found = await self.services.storage.get_object(record, obj,
                                                       open_expired=self.open_expired)
        if reads is not None:
            reads[key] = found
        return record, found

    def acl_scope(self, account: str) -> AclScope:
        """`account` and, for the request's own account, its project's domain: what the
        authorizer needs to read a container ACL there."""
        return AclScope(account=account, account_domain=self.state.get(ACCOUNT_DOMAIN)
                        if account == self.account else None)

    @property
    def open_expired(self) -> bool:
        return bool(self.state.get(OPEN_EXPIRED))

    @property
    def is_owner(self) -> bool:
        return (self.services.authorizer.is_owner(self.auth, self.account)
                or self.state.get("account_access") == "admin")

    @property
    def account_reader(self) -> bool:
        """Granted reading the whole account by its account ACL (any level)."""
        return self.state.get("account_access") is not None

    @property
    def account_writer(self) -> bool:
        """Granted creating and deleting containers and objects by its account ACL."""
        return self.state.get("account_access") in ("admin", "read-write")

    @property
    def is_reseller(self) -> bool:
        return self.services.authorizer.is_reseller(self.auth)
