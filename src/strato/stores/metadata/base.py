"""The metadata store interface every backend (SQLite, PostgreSQL) implements.

One database holds the object catalogue (accounts, containers, objects), identity
(domains, projects, users, roles, tokens) and the image catalogue (images, members, tasks).
All methods are async so that a network-backed engine fits the same shape; the SQLite
backend answers reads inline.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from strato.stores.metadata.records import (
    AccessKeyRecord,
    AccountRecord,
    AccountStats,
    AppCredentialRecord,
    AssignmentRecord,
    ContainerRecord,
    DomainRecord,
    GroupRecord,
    ImageMemberRecord,
    ImageQuery,
    ImageRecord,
    ImageUsage,
    ListingQuery,
    LoginFailures,
    Lookup,
    ObjectRecord,
    ProjectRecord,
    RoleRecord,
    Subdir,
    SyncChange,
    TaskRecord,
    TokenRecord,
    TokenView,
    UsageSample,
    UserRecord,
)
from strato.stores.metadata.secretbox import PREFIX, CredentialKeyError, SecretBox


class MetadataError(Exception):
    """Base of the errors a metadata store raises."""


class NotFound(MetadataError):
    pass


class Conflict(MetadataError):
    """The write contradicts existing state (non-empty container, duplicate name)."""


class Superseded(MetadataError):
    """An object write (PUT, POST, DELETE) whose timestamp is not newer than what the store
    holds for the name (its row, or the tombstone of its last delete): nothing changed.
    The newest timestamp wins whatever the commit order, Swift's object server rule (409
    there for an older or equal X-Timestamp); `stored` is the timestamp that won."""

    def __init__(self, name: str, stored: float) -> None:
        super().__init__(name)
        self.stored = stored


class ObjectStore(abc.ABC):
    """Accounts, containers and objects."""

    # accounts -------------------------------------------------------------------------
    @abc.abstractmethod
    async def get_account(self, account: str) -> AccountRecord | None: ...

    @abc.abstractmethod
    async def update_account_meta(
        self, account: str, set_meta: dict[str, str], remove: Sequence[str], now: float
    ) -> AccountRecord:
        """Create the account row on first use; merge metadata (an empty value removes)."""

    @abc.abstractmethod
    async def account_stats(self, account: str) -> AccountStats: ...

    @abc.abstractmethod
    async def list_containers(
        self, account: str, query: ListingQuery
    ) -> list[ContainerRecord | Subdir]: ...

    # containers -----------------------------------------------------------------------
    @abc.abstractmethod
    async def get_container(self, account: str, name: str) -> ContainerRecord | None: ...

    @abc.abstractmethod
    async def create_container(
        self, account: str, name: str, meta: dict[str, str], now: float, policy: str, *,
        require_policy: bool = False,
    ) -> tuple[ContainerRecord, bool]:
        """Create in `policy`, or merge metadata into an existing container (whose policy
        stays). Returns (record, created). With `require_policy`, an existing container of
        another policy raises Conflict and nothing changes."""

    @abc.abstractmethod
    async def container_policy(self, container_id: int) -> str | None:
        """The policy a container was created in, or None when it does not exist."""

    @abc.abstractmethod
    async def container_policies(self) -> set[str]:
        """Every policy name some container records (checked against the configuration)."""

    @abc.abstractmethod
    async def policy_stats(self) -> dict[str, AccountStats]:
        """Containers, objects and bytes per stored policy name, over every account (the
        containers' own counters summed: no object row is read). For metrics."""

    @abc.abstractmethod
    async def assign_legacy_policy(self, policy: str) -> int:
        """Give containers created before policies existed `policy`; returns how many."""

    @abc.abstractmethod
    async def update_container_meta(
        self, account: str, name: str, set_meta: dict[str, str], remove: Sequence[str],
        now: float | None = None,
    ) -> ContainerRecord:
        """Raises NotFound. With `now`, also moves the put timestamp (Swift's POST does)."""

    @abc.abstractmethod
    async def delete_container(self, account: str, name: str) -> None:
        """Raises NotFound, or Conflict when it still holds objects. Its sync queue and
        usage samples go in the same transaction."""

    # objects --------------------------------------------------------------------------
    @abc.abstractmethod
    async def get_object(self, container_id: int, name: str) -> ObjectRecord | None:
        """The current row, expired or not: callers decide what expiry means to them."""

    @abc.abstractmethod
    async def lookup(self, account: str, container: str, obj: str | None = None, *,
                     data: bool = False, counts: bool = True) -> Lookup:
        """The account's and the container's rows and, given `obj`, the object's (with its
        inline bytes if `data`), in one statement: what an object request reads before it
        acts (one round trip on PostgreSQL where separate reads took three). `counts=False`
        may leave the container's counters unread (`ContainerRecord.counted`): summing
        PostgreSQL's counter shards was a fifth of a GET's statement."""

    @abc.abstractmethod
    async def put_object(self, record: ObjectRecord, data: bytes | None = None
                         ) -> ObjectRecord | None:
        """Insert or replace; counters move in the same transaction. Returns the replaced row.

        A row is replaced only by a strictly newer `record.timestamp`, and a name whose last
        delete left a tombstone (a syncing container) is written again only after it: else
        Superseded, and nothing changed (counters, inline bytes; the caller drops its blob).
        `data`: the bytes of an inline blob (`record.blob_id` is_inline), stored in the same
        transaction. The replaced row's inline bytes, like a removed row's, go with it.
        Raises NotFound when the container was deleted meanwhile.
        """

    @abc.abstractmethod
    async def update_object(
        self, container_id: int, name: str, meta: dict[str, str], content_type: str | None,
        delete_at: int | None, now: float | None = None,
    ) -> ObjectRecord:
        """Replace the metadata of an existing object (Swift POST). Raises NotFound.

        With `now`, the object's timestamp moves too (a Swift POST changes Last-Modified),
        and only forward: Superseded when the row is as new as `now` or newer.
        """

    @abc.abstractmethod
    async def delete_object(self, container_id: int, name: str, when: float | None = None,
                            *, older_than: float | None = None) -> ObjectRecord | None:
        """Remove the row; returns it (so the caller can free its blob) or None. In a
        syncing container the delete is queued and leaves a tombstone, both stamped `when`
        (a sync push's own X-Timestamp) or now. The delete's timestamp (`when`, else
        `older_than`, the deleting node's clock) must be newer than the row's: else
        Superseded and the row stays, as a newer PUT wins over an older delete."""

    @abc.abstractmethod
    async def list_objects(
        self, container_id: int, query: ListingQuery, now: float
    ) -> list[ObjectRecord | Subdir]:
        """Keyset page in byte order; rows past their delete-at time are left out."""

    @abc.abstractmethod
    async def expired_objects(self, now: float, limit: int, *, account: str | None = None,
                              container_id: int | None = None) -> list[ObjectRecord]:
        """Rows whose delete-at has passed, oldest first, from the delete-at index (never a
        scan of a container), optionally only those of `account` or of one container."""

    @abc.abstractmethod
    async def delete_object_if(self, record: ObjectRecord) -> bool:
        """Delete the row only if it still refers to `record.blob_id` with `record.delete_at`
        (the expirer's race guard: an overwrite, or a POST that moved the expiry, wins)."""

    @abc.abstractmethod
    async def blob_referenced(self, blob_id: str) -> bool: ...

    @abc.abstractmethod
    async def object_by_blob(self, blob_id: str) -> tuple[str, str, ObjectRecord] | None:
        """(account, container name, row) of the object whose row names `blob_id`, or None
        (the auditor's look-up from a file on disk to what it should hold)."""

    @abc.abstractmethod
    async def inline_data(self, blob_id: str) -> bytes | None:
        """The bytes of an inline blob; None once its row is gone."""

    # container sync: a change log per syncing container, written in the transaction of
    # each object write, read and trimmed by the sync job
    @abc.abstractmethod
    async def set_container_sync(self, container_id: int, enabled: bool, now: float) -> None:
        """Start syncing a container (every object it holds is queued) or stop (its queue
        goes)."""

    @abc.abstractmethod
    async def syncing_containers(self) -> list[tuple[int, str, str]]:
        """(id, account, name) of every container that syncs."""

    @abc.abstractmethod
    async def sync_changes(self, container_id: int, limit: int) -> list[SyncChange]:
        """The oldest queued changes of a container, oldest first."""

    @abc.abstractmethod
    async def drop_sync_changes(self, container_id: int, ids: Sequence[int]) -> None:
        """Forget changes once pushed (this is the persisted sync point)."""

    @abc.abstractmethod
    async def tombstone(self, container_id: int, name: str) -> float | None:
        """When `name` was last deleted in a syncing container (every removal of a row
        there leaves one, in its transaction) or by a sync push (`delete_object`'s `when`,
        also in a container that only receives), while kept: a sync push older than that is
        refused, so a delete is not undone by an echo of what it deleted."""

    @abc.abstractmethod
    async def purge_tombstones(self, before: float) -> int:
        """Forget tombstones older than `before` (Swift's reclaim age); how many went."""

    # usage history: the sampler copies the counters into `usage_samples` (account totals
    # under the container name ''), the console charts them
    @abc.abstractmethod
    async def record_usage(self, now: float) -> int:
        """One sample at `now` for every container, and for every account (its totals),
        whose counters differ from its latest sample or that has none; returns how many.
        Reads the counters only (no object row) and writes nothing for idle ones."""

    @abc.abstractmethod
    async def usage_series(self, account: str, container: str | None, since: float
                           ) -> list[UsageSample]:
        """The samples of a container (None: the account's totals), oldest first, from
        `since` on, led by the latest one before `since` (the value the series had then)."""

    @abc.abstractmethod
    async def trim_usage(self, drop_before: float, thin_from: float, thin_before: float,
                         bucket: float) -> int:
        """Bound the history; returns how many samples went. A sample older than
        `drop_before` goes unless it is its series' latest (the value that still holds); of
        the samples taken in [`thin_from`, `thin_before`) only the last of each `bucket`
        seconds stays. A deleted container's samples go with it (`delete_container`)."""

    async def delete_objects_if(self, records: Sequence[ObjectRecord]) -> list[ObjectRecord]:
        """`delete_object_if` for many rows; returns those removed. Backends batch it."""
        return [record for record in records if await self.delete_object_if(record)]


class IdentityStore(abc.ABC):
    """Domains, projects, users, roles, assignments and tokens."""

    @abc.abstractmethod
    async def get_domain(self, *, id: str | None = None, name: str | None = None
                         ) -> DomainRecord | None: ...

    @abc.abstractmethod
    async def create_domain(self, record: DomainRecord) -> DomainRecord: ...

    @abc.abstractmethod
    async def list_domains(self) -> list[DomainRecord]: ...

    @abc.abstractmethod
    async def get_project(self, *, id: str | None = None, name: str | None = None,
                          domain_id: str | None = None) -> ProjectRecord | None: ...

    @abc.abstractmethod
    async def create_project(self, record: ProjectRecord) -> ProjectRecord:
        """Raises Conflict on a duplicate name in the domain."""

    @abc.abstractmethod
    async def list_projects(self, domain_id: str | None = None) -> list[ProjectRecord]: ...

    @abc.abstractmethod
    async def delete_project(self, project_id: str) -> None: ...

    @abc.abstractmethod
    async def get_user(self, *, id: str | None = None, name: str | None = None,
                       domain_id: str | None = None) -> UserRecord | None: ...

    @abc.abstractmethod
    async def create_user(self, record: UserRecord) -> UserRecord: ...

    @abc.abstractmethod
    async def update_user(self, record: UserRecord) -> UserRecord: ...

    @abc.abstractmethod
    async def list_users(self, domain_id: str | None = None) -> list[UserRecord]: ...

    @abc.abstractmethod
    async def delete_user(self, user_id: str) -> None:
        """Also removes the user's role assignments and tokens."""

    @abc.abstractmethod
    async def get_role(self, *, id: str | None = None, name: str | None = None
                       ) -> RoleRecord | None: ...

    @abc.abstractmethod
    async def create_role(self, record: RoleRecord) -> RoleRecord: ...

    @abc.abstractmethod
    async def list_roles(self) -> list[RoleRecord]: ...

    @abc.abstractmethod
    async def assign_role(self, role_id: str, user_id: str, *, project_id: str | None = None,
                          domain_id: str | None = None) -> None: ...

    @abc.abstractmethod
    async def unassign_role(self, role_id: str, user_id: str, *, project_id: str | None = None,
                            domain_id: str | None = None) -> None: ...

    @abc.abstractmethod
    async def user_roles(self, user_id: str, *, project_id: str | None = None,
                         domain_id: str | None = None) -> list[RoleRecord]:
        """Direct roles and those of the user's groups."""

    @abc.abstractmethod
    async def user_projects(self, user_id: str) -> list[ProjectRecord]:
        """Projects where the user holds at least one role."""

    @abc.abstractmethod
    async def save_token(self, token: TokenRecord) -> None: ...

    @abc.abstractmethod
    async def get_token(self, token_hash: str) -> TokenRecord | None: ...

    @abc.abstractmethod
    async def token_view(self, token_hash: str) -> TokenView | None:
        """The token with its user, project and the user's roles (direct and through
        groups, sorted by name) on the token's project or domain, in one read; None if the
        token or its user is unknown. Expiry and enabled flags are the caller's to check."""

    @abc.abstractmethod
    async def revoke_token(self, token_hash: str) -> bool: ...

    def change_mark(self) -> bytes | None:
        """A value that differs, in every process of this host, from any read before a
        write that could change a `token_view` was acknowledged (in processes of other
        hosts sharing the store: within the backend's stated bound); None if the backend
        cannot tell now (then nothing may reuse a token it validated earlier)."""
        return None

    @abc.abstractmethod
    async def purge_tokens(self, now: float) -> int:
        """Drop tokens that expired; returns how many."""

    # Keystone administration (domains, projects, roles, assignments) --------------------
    @abc.abstractmethod
    async def update_domain(self, record: DomainRecord) -> DomainRecord: ...

    @abc.abstractmethod
    async def delete_domain(self, domain_id: str) -> None:
        """Raises Conflict while the domain still holds projects or users."""

    @abc.abstractmethod
    async def update_project(self, record: ProjectRecord) -> ProjectRecord:
        """Raises Conflict on a duplicate name in the domain."""

    @abc.abstractmethod
    async def update_role(self, record: RoleRecord) -> RoleRecord: ...

    @abc.abstractmethod
    async def delete_role(self, role_id: str) -> None:
        """Also removes every assignment of the role."""

    @abc.abstractmethod
    async def list_assignments(self, *, user_id: str | None = None,
                               group_id: str | None = None, project_id: str | None = None,
                               domain_id: str | None = None, role_id: str | None = None
                               ) -> list[AssignmentRecord]:
        """Direct user assignments and group assignments (filtered by user or group)."""

    # groups -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_group(self, record: GroupRecord) -> GroupRecord:
        """Raises Conflict on a duplicate name in the domain."""

    @abc.abstractmethod
    async def get_group(self, *, id: str | None = None, name: str | None = None,
                        domain_id: str | None = None) -> GroupRecord | None: ...

    @abc.abstractmethod
    async def list_groups(self, domain_id: str | None = None) -> list[GroupRecord]: ...

    @abc.abstractmethod
    async def update_group(self, record: GroupRecord) -> GroupRecord: ...

    @abc.abstractmethod
    async def delete_group(self, group_id: str) -> None:
        """Also removes its memberships and role assignments."""

    @abc.abstractmethod
    async def add_group_member(self, group_id: str, user_id: str) -> None: ...

    @abc.abstractmethod
    async def remove_group_member(self, group_id: str, user_id: str) -> bool: ...

    @abc.abstractmethod
    async def group_members(self, group_id: str) -> list[UserRecord]: ...

    @abc.abstractmethod
    async def user_groups(self, user_id: str) -> list[GroupRecord]: ...

    @abc.abstractmethod
    async def assign_group_role(self, role_id: str, group_id: str, *,
                                project_id: str | None = None,
                                domain_id: str | None = None) -> None: ...

    @abc.abstractmethod
    async def unassign_group_role(self, role_id: str, group_id: str, *,
                                  project_id: str | None = None,
                                  domain_id: str | None = None) -> None: ...

    @abc.abstractmethod
    async def group_roles(self, group_id: str, *, project_id: str | None = None,
                          domain_id: str | None = None) -> list[RoleRecord]: ...

    # application credentials ------------------------------------------------------------
    @abc.abstractmethod
    async def create_app_credential(self, record: AppCredentialRecord) -> AppCredentialRecord:
        """Raises Conflict on a duplicate name for the user."""

    @abc.abstractmethod
    async def get_app_credential(self, *, id: str | None = None, name: str | None = None,
                                 user_id: str | None = None) -> AppCredentialRecord | None: ...

    @abc.abstractmethod
    async def list_app_credentials(self, user_id: str) -> list[AppCredentialRecord]: ...

    @abc.abstractmethod
    async def delete_app_credential(self, app_cred_id: str) -> bool:
        """Also revokes the tokens issued through it."""

    @abc.abstractmethod
    async def replace_secret_hash(self, *, old: str, new: str, user_id: str | None = None,
                                  app_cred_id: str | None = None) -> bool:
        """Re-hash a user's password or an application credential's secret: stores `new`
        only while the stored hash is still `old` (a password changed meanwhile wins);
        whether it did. Changes no token, so it leaves the change mark alone."""

    # failed-login rate limiting ---------------------------------------------------------
    @abc.abstractmethod
    async def get_login_failures(self, key: str) -> LoginFailures | None: ...

    @abc.abstractmethod
    async def count_login_failure(self, limits: dict[str, int], now: float, window: float
                                  ) -> None:
        """One more failed login under each key of `limits`, atomically (concurrent failures
        in any process all count), in one write: a counter whose first failure is older than
        `window` seconds starts again at 1; a key whose count reaches its limit is locked
        until `now + window`."""

    @abc.abstractmethod
    async def clear_login_failures(self, key: str) -> None: ...


SYNC_KEY = "x-container-sync-key"
"""The container metadata that holds a container sync key: stored sealed, like access-key
secrets (the domain seals it on write and opens it where a signature needs it)."""


class AccessKeyStore(abc.ABC):
    """Per-user access keys (id + secret) for HP Cloud style temp URL signatures, and the
    sealing of every secret kept at rest (those and container sync keys).

    Records carry the secret in clear; the backends store it sealed by `secret_box`
    (`secretbox.py`), which whoever opens the store sets (`server/app.py: open_metadata`)."""

    secret_box: SecretBox | None = None

    def seal_secret(self, secret: str) -> str:
        return self._box().seal(secret)

    def open_secret(self, stored: str) -> str:
        return self._box().open(stored) if stored.startswith(PREFIX) else stored

    def _box(self) -> SecretBox:
        if self.secret_box is None:
            raise CredentialKeyError("this metadata store has no credential key repository "
                                     "to seal access-key secrets with")
        return self.secret_box

    async def reseal_secrets(self) -> int:
        """Encrypt with the primary key every secret (access-key secrets, container sync
        keys) that is in clear (written before encryption) or sealed with an older key;
        returns how many were rewritten. Each row is replaced only if it still holds what
        was read, so a concurrent change wins."""
        box = self._box()
        tables: list[str] = []
        done = 0
        for key_id, stored in await self.stored_access_key_secrets():
            if not box.is_current(stored) and await self.replace_access_key_secret(
                    key_id, stored, box.seal(box.open(stored))):
                done += 1
                tables.append("access_keys")
        for container_id, stored in await self.stored_sync_keys():
            if not box.is_current(stored) and await self.replace_sync_key(
                    container_id, stored, box.seal(box.open(stored))):
                done += 1
                tables.append("containers")
        if done:
            await self.drop_old_row_versions(sorted(set(tables)))
        return done

    async def sealed_secrets(self) -> int:
        """How many stored secrets are sealed (so need the key repository)."""
        stored = [s for _, s in await self.stored_access_key_secrets()]
        stored += [s for _, s in await self.stored_sync_keys()]
        return sum(1 for s in stored if s.startswith(PREFIX))

    @abc.abstractmethod
    async def drop_old_row_versions(self, tables: Sequence[str]) -> None:
        """Rid the storage of the versions of the rows just replaced in `tables`, where the
        backend keeps them (SQLite's write-ahead log, PostgreSQL's dead tuples)."""

    @abc.abstractmethod
    async def stored_access_key_secrets(self) -> list[tuple[str, str]]:
        """(key id, secret as stored) of every access key."""

    @abc.abstractmethod
    async def replace_access_key_secret(self, key_id: str, old: str, new: str) -> bool:
        """Store `new` as the key's secret if it still holds `old`."""

    @abc.abstractmethod
    async def stored_sync_keys(self) -> list[tuple[int, str]]:
        """(container id, `SYNC_KEY` as stored) of every container that has one."""

    @abc.abstractmethod
    async def replace_sync_key(self, container_id: int, old: str, new: str) -> bool:
        """Store `new` as the container's sync key if it still holds `old`."""

    @abc.abstractmethod
    async def create_access_key(self, record: AccessKeyRecord) -> AccessKeyRecord: ...

    @abc.abstractmethod
    async def get_access_key(self, key_id: str) -> AccessKeyRecord | None: ...

    @abc.abstractmethod
    async def list_access_keys(self, user_id: str) -> list[AccessKeyRecord]: ...

    @abc.abstractmethod
    async def delete_access_key(self, key_id: str) -> bool: ...


class ImageStore(abc.ABC):
    """Glance images, their members and tasks. Status changes are compare-and-set
    (`expect_status`), so two workers racing on one image cannot both win a transition."""

    @abc.abstractmethod
    async def create_image(self, record: ImageRecord) -> ImageRecord:
        """Raises Conflict when the id is taken (also by a deleted image)."""

    @abc.abstractmethod
    async def get_image(self, image_id: str) -> ImageRecord | None:
        """The image in any status, deleted included: callers decide who may see it."""

    @abc.abstractmethod
    async def update_image(self, record: ImageRecord, *,
                           expect_status: tuple[str, ...] | None = None,
                           expect_updated_at: float | None = None) -> ImageRecord:
        """Replace the stored image with `record`. With `expect_status`, only while the stored
        status is one of them; with `expect_updated_at`, only if nothing changed the image
        since it was read (no lost update); else Conflict. Raises NotFound."""

    @abc.abstractmethod
    async def list_images(self, query: ImageQuery) -> list[ImageRecord]:
        """A keyset page of the images `query.viewer` may see; never deleted or
        pending-delete ones. Raises ValueError for an unknown sort key or filter."""

    @abc.abstractmethod
    async def images_in_status(self, status: str, *, changed_before: float | None = None,
                               limit: int = 100) -> list[ImageRecord]:
        """Images in `status` (oldest change first), for the scrubber and recovery."""

    @abc.abstractmethod
    async def image_usage(self, owner: str) -> ImageUsage: ...

    @abc.abstractmethod
    async def purge_image(self, image_id: str) -> None:
        """Drop the row of a deleted image and its members (its id stays unusable: Glance
        refuses to reuse a deleted image's id, so the row is kept until purged)."""

    # members ------------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_member(self, record: ImageMemberRecord) -> ImageMemberRecord:
        """Raises Conflict when the project is already a member."""

    @abc.abstractmethod
    async def get_member(self, image_id: str, member: str) -> ImageMemberRecord | None: ...

    @abc.abstractmethod
    async def update_member(self, record: ImageMemberRecord) -> ImageMemberRecord:
        """Raises NotFound."""

    @abc.abstractmethod
    async def list_members(self, image_id: str) -> list[ImageMemberRecord]: ...

    @abc.abstractmethod
    async def delete_member(self, image_id: str, member: str) -> bool: ...

    # tasks --------------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_task(self, record: TaskRecord) -> TaskRecord: ...

    @abc.abstractmethod
    async def get_task(self, task_id: str) -> TaskRecord | None: ...

    @abc.abstractmethod
    async def update_task(self, record: TaskRecord, *,
                          expect_status: tuple[str, ...] | None = None) -> TaskRecord:
        """As update_image: compare-and-set on the status. Raises NotFound or Conflict."""

    @abc.abstractmethod
    async def claim_task(self, task_id: str, seen_heartbeat: float | None,
                         heartbeat: float) -> bool:
        """Mark a pending or processing task as run by the caller (status processing,
        `heartbeat`), only if its heartbeat is still `seen_heartbeat`: one claimer wins, and a
        runner whose beat fails knows another took the task over."""

    @abc.abstractmethod
    async def list_tasks(self, *, owner: str | None, status: str | None = None,
                         type: str | None = None, image_id: str | None = None,
                         sort_key: str = "created_at", sort_dir: str = "desc",
                         marker: TaskRecord | None = None, limit: int = 20
                         ) -> list[TaskRecord]:
        """A keyset page of tasks (all owners when `owner` is None)."""

    @abc.abstractmethod
    async def stalled_tasks(self, heartbeat_before: float, limit: int = 20
                            ) -> list[TaskRecord]:
        """Pending or processing tasks whose runner has not been heard of since then."""

    @abc.abstractmethod
    async def purge_tasks(self, now: float) -> int:
        """Drop tasks whose `expires_at` has passed; returns how many."""


class RateStore(abc.ABC):
    """Request rates shared by every worker and node on the store (Swift's `ratelimit`
    keeps them in memcache). Rate state is scratch: losing it (a crash) only forgets who
    was recently busy, so backends may keep it without a durable commit."""

    @abc.abstractmethod
    async def rate_wait(self, key: str, interval: float, max_wait: float, burst: float
                        ) -> float | None:
        """Take the next slot of `key`, one every `interval` seconds, and return how long
        to wait for it (0: go now); None, taking nothing, when that wait would reach
        `max_wait` (within 10 ms, as Swift rounds). A key idle for a while may run up to
        `burst` seconds' worth of slots at once. Swift's running-time algorithm, in one
        atomic statement on the database's clock, so processes and nodes with skewed clocks
        count alike."""

    @abc.abstractmethod
    async def purge_rates(self) -> int:
        """Forget keys idle long enough that they mean nothing any more (their next use
        would start afresh anyway); returns how many went."""


class MetadataStore(ObjectStore, IdentityStore, AccessKeyStore, ImageStore, RateStore,
                    abc.ABC):
    """One backend serves both halves; opened once per worker process."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and migrate the schema to the current version."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Also gives up the lead (`try_lead`) if this process holds it."""

    def out_of_space(self, exc: BaseException) -> bool:
        """Whether `exc`, raised by a write, means the database had no room to store it (the
        write did not happen); each backend knows its own error."""
        return False

    @abc.abstractmethod
    async def try_lead(self) -> bool:
        """Become, or stay, the one process of every process and node sharing this store
        that runs the background jobs: True while this process holds the lead, which the
        store gives to another within seconds of this process dying. Call it again before
        each round of jobs: False means the lead was lost (stop, and try again later)."""

    @abc.abstractmethod
    async def schema_version(self) -> tuple[int, int]:
        """(the stored schema's version, 0 if none; the version this release migrates to),
        read without migrating."""

    @abc.abstractmethod
    async def upgrade(self) -> int:
        """Migrate the schema to this release's version (as `open` does); returns the
        version it was at."""

    def unavailable(self, exc: BaseException) -> bool:
        """Whether `exc` means the database cannot be reached now (restarting, or the
        network to it is down), so the request may succeed when tried again: a node answers
        503, not 500. An embedded database is never away."""
        return False

    @abc.abstractmethod
    async def check_writable(self, timeout: float) -> None:
        """Raise MetadataError (saying why, for an operator) unless a write could commit
        now: the readiness check. Must not change any data."""
