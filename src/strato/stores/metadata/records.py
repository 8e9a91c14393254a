"""Records the metadata store hands out: immutable, so no layer changes shared state by accident."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class AccountRecord:
    name: str
    created_at: float
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccountStats:
    container_count: int
    object_count: int
    bytes_used: int
    per_policy: dict[str, AccountStats] = field(default_factory=dict)
    """The same counts for each policy that has containers in the account."""


@dataclass(frozen=True, slots=True)
class ContainerRecord:
    id: int
    account: str
    name: str
    created_at: float
    put_timestamp: float
    object_count: int
    bytes_used: int
    meta: dict[str, str] = field(default_factory=dict)
    """User metadata (`meta-*` keys), ACLs (`read`, `write`) and sysmeta (`sys-*`), lower-case."""
    policy: str = ""
    """The storage policy's name when the container was created; fixed for life."""
    counted: bool = True
    """False: `object_count` and `bytes_used` were not read (0), as an object GET or HEAD
    reads its container without them (`ObjectStore.lookup(counts=False)`); whatever uses
    them asks for them."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """What an object request reads before it acts, from one consistent view: the account's
    row, the container's (with or without its counters) and, when asked, the object's with
    its inline bytes."""

    account: AccountRecord | None
    container: ContainerRecord | None
    object: ObjectRecord | None = None
    """The row, expired or not (None: no such object, or not asked for)."""
    data: bytes | None = None
    """The object's bytes when they are kept inline and were asked for."""


UNCOUNTED = "x-object-sysmeta-uncounted"
"""Object meta key (any value): the object's bytes are left out of its container's bytes used,
because another container already counts the same data (a versioned object's current copy
shares the newest version's data; Swift keeps a zero-byte link there)."""


INLINE = "inline:"
"""Blob id prefix of an object whose bytes are kept in the metadata store, with its row (a
small object: one transaction, so one disk flush, makes both durable)."""


def is_inline(blob_id: str) -> bool:
    return blob_id.startswith(INLINE)


def counted_size(record: ObjectRecord) -> int:
    """The bytes `record` adds to its container's (and so its account's) bytes used."""
    return 0 if UNCOUNTED in record.meta else record.size


class ObjectRecord(NamedTuple):
    """Immutable like the other records, but a named tuple: a listing page builds up to
    10,000 of them, and a frozen dataclass's `__init__` costs three times as much."""

    container_id: int
    name: str
    blob_id: str
    size: int
    etag: str
    content_type: str
    timestamp: float
    meta: dict[str, str]
    """Lower-case header names without prefix rules: `meta-*`, `content-disposition`, ..."""
    delete_at: int | None = None


class UsageSample(NamedTuple):
    """An account's or a container's counters as the usage sampler read them at `at`."""

    at: float
    object_count: int
    bytes_used: int


class SyncChange(NamedTuple):
    """An object name that changed in a syncing container; `timestamp` is when (for a
    delete, the time the remote DELETE carries)."""

    id: int
    name: str
    timestamp: float


@dataclass(frozen=True, slots=True)
class Subdir:
    """A rolled-up common prefix in a delimiter listing."""

    name: str


@dataclass(frozen=True, slots=True)
class ListingQuery:
    prefix: str = ""
    marker: str = ""
    end_marker: str = ""
    delimiter: str = ""
    limit: int = 10000
    reverse: bool = False
    path: str | None = None


# ---- identity ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DomainRecord:
    id: str
    name: str
    enabled: bool = True
    description: str = ""


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    id: str
    name: str
    domain_id: str
    enabled: bool = True
    description: str = ""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    name: str
    domain_id: str
    password_hash: str
    enabled: bool = True
    default_project_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoleRecord:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A persisted token. The store keeps only a hash of the token's secret id."""

    token_hash: str
    user_id: str
    project_id: str | None
    domain_id: str | None
    issued_at: float
    expires_at: float
    methods: tuple[str, ...] = ("password",)
    audit_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TokenView:
    """A token with what validating it needs: its user, its project (None if unscoped,
    domain-scoped or the project is gone) and the user's roles on its scope, read at once so
    a request pays one metadata query for its token."""

    token: TokenRecord
    user: UserRecord
    project: ProjectRecord | None
    roles: tuple[RoleRecord, ...]


@dataclass(frozen=True, slots=True)
class AccessKeyRecord:
    """A per-user access key (HP Cloud style temp URLs): the secret verifies HMACs."""

    id: str
    secret: str
    user_id: str
    project_id: str
    created_at: float


@dataclass(frozen=True, slots=True)
class AssignmentRecord:
    """One role of one user (or one group) on one target: a project or a domain."""

    role_id: str
    user_id: str | None
    project_id: str | None
    domain_id: str | None
    group_id: str | None = None


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """A set of users; roles given to the group hold for every member."""

    id: str
    name: str
    domain_id: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class AppCredentialRecord:
    """An application credential: a named secret that logs in as its user, on one project,
    with at most the roles it was given. Only a hash of the secret is kept."""

    id: str
    name: str
    user_id: str
    project_id: str
    secret_hash: str
    role_ids: tuple[str, ...]
    created_at: float
    expires_at: float | None = None
    description: str = ""
    unrestricted: bool = False
    access_rules: tuple[AccessRuleRecord, ...] | None = None
    """The only requests its tokens may make (None: any the roles allow), as Keystone's."""


@dataclass(frozen=True, slots=True)
class AccessRuleRecord:
    """One request an application credential's tokens may make: a service type, an HTTP
    method and a path template (`*` one segment, `**` any, `{name}` one segment)."""

    id: str
    service: str
    method: str
    path: str


@dataclass(frozen=True, slots=True)
class LoginFailures:
    """Failed logins of one user from one client, for rate limiting."""

    key: str
    failures: int
    first_at: float
    locked_until: float = 0.0


# ---- images -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """A Glance image. `properties` holds the custom (string) properties and the server's own
    `os_glance_*` notes; `stores` names the storage policies holding the image's data (each
    an object in that policy's image container); `staged_size` the bytes staged for import."""

    id: str
    status: str
    visibility: str
    owner: str | None
    created_at: float
    updated_at: float
    name: str | None = None
    protected: bool = False
    os_hidden: bool = False
    disk_format: str | None = None
    container_format: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    min_disk: int = 0
    min_ram: int = 0
    properties: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()
    deleted_at: float | None = None
    staged_size: int | None = None


@dataclass(frozen=True, slots=True)
class ImageFilter:
    """One condition of an image listing: a base attribute (or `properties.<name>` for a
    custom property) compared with `op` (eq, neq, gt, gte, lt, lte, in)."""

    attribute: str
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ImageQuery:
    """What an image listing asks: who looks (their project; `admin` sees every image), which
    visibility (None: Glance's default view), filters, tags (all must match), sort keys with
    directions (an id tie-break is added by the store), the marker image and a page size."""

    viewer: str | None
    admin: bool = False
    visibility: str | None = None
    member_status: str = "accepted"
    filters: tuple[ImageFilter, ...] = ()
    tags: tuple[str, ...] = ()
    sort: tuple[tuple[str, str], ...] = (("created_at", "desc"),)
    marker: ImageRecord | None = None
    limit: int = 25


@dataclass(frozen=True, slots=True)
class ImageUsage:
    """What a project holds, for quotas: images (not deleted), their bytes, staged bytes and
    images with an upload or import in progress."""

    count: int
    bytes: int
    staging_bytes: int
    uploading: int


@dataclass(frozen=True, slots=True)
class ImageMemberRecord:
    image_id: str
    member: str
    """The project the image is shared with."""
    status: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A Glance task (an import run in the background). `heartbeat` is the last time the
    worker running it said it was alive; a stale one lets the background runner take over."""

    id: str
    type: str
    status: str
    owner: str | None
    created_at: float
    updated_at: float
    input: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    message: str = ""
    image_id: str | None = None
    user_id: str | None = None
    request_id: str | None = None
    expires_at: float | None = None
    heartbeat: float | None = None
