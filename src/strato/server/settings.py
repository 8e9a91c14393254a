"""Settings: defaults, then a TOML file, then `STRATO_*` environment variables, then CLI flags.

Secrets may also come from files (`*_file` settings) so they stay out of the environment.
"""

from __future__ import annotations

import json
import os
import re
import string
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from strato.domain.passwords import HashParams

CONFIG_ENV = "STRATO_CONFIG"


class _EnvSource(EnvSettingsSource):
    """`STRATO_*` variables, where a list of plain values may also be written as the flags
    take it, comma-separated (`STRATO_TRUSTED_PROXIES=10.0.0.1,10.0.0.2`); JSON still works
    (`'["10.0.0.1"]'`), and is what `Settings.to_env` writes."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        if isinstance(value, str) and not value.lstrip().startswith(("[", "{")) and \
                _plain_list(field.annotation):
            return [item.strip() for item in value.split(",") if item.strip()]
        return super().decode_complex_value(field_name, field, value)


def _plain_list(annotation: Any) -> bool:
    args = get_args(annotation)
    return str(annotation).startswith("list") and bool(args) and args[0] in (str, int, float)
POLICY_NAME_CHARS = frozenset("-" + string.ascii_letters + string.digits)
"""Policy names appear in header names (`X-Account-Storage-Policy-<name>-...`)."""
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class StoragePolicySettings(BaseModel):
    """One storage policy: a name clients pick with `X-Storage-Policy`, and a blob directory."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="What clients name in X-Storage-Policy and what /info and "
                      "the metrics show (letters, digits and '-').")
    aliases: list[str] = Field([], description="Other names that select this policy.")
    default: bool = Field(False, description="Containers created without X-Storage-Policy "
                          "get this policy.")
    deprecated: bool = Field(False, description="No new containers; existing ones stay "
                             "readable and writable. Hidden from /info.")
    directory: Path | None = Field(
        None, description="Blob root (relative paths are under the data directory). "
        "Default: the data directory itself for the default policy, so data written before "
        "policies existed stays valid; DATA_DIR/policies/NAME for the others.")

    @property
    def names(self) -> list[str]:
        return [self.name, *self.aliases]


def _default_policies() -> list[StoragePolicySettings]:
    return [StoragePolicySettings(name="Policy-0", default=True)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRATO_", extra="forbid")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=1, le=65535, description="Port to listen on.")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1,
                         description="Worker processes (default: one per core).")
    data_dir: Path = Field(Path("./strato-data"),
                           description="Directory holding metadata, objects and state.")
    metadata: str = Field(
        "", description="Where the metadata lives: empty for the embedded SQLite database in "
        "the data directory, or a PostgreSQL URL (postgresql://USER[:PASSWORD]@HOST[:PORT]/"
        "DATABASE; a password may also come from ~/.pgpass or PGPASSWORD) shared by every "
        "node of a scaled-out cloud (docs/scale-out.md).")
    public_url: str | None = Field(
        None, description="External base URL for storage URLs and the service catalog "
        "(default: http://HOST:PORT, https with tls_cert).")
    tls_cert: Path | None = Field(
        None, description="PEM certificate chain (leaf first): serve HTTPS only on the main "
        "port, TLS 1.2 and 1.3 with forward-secret AEAD ciphers (docs/security.md).")
    tls_key: Path | None = Field(
        None, description="PEM private key of tls_cert, unencrypted (unset: the key follows "
        "the chain in tls_cert). Readable by the server's user only.")
    credential_key_repository: Path | None = Field(
        None, description="Directory of the keys that encrypt access-key (EC2) secrets in "
        "the metadata (`strato credential-key`; default: DATA_DIR/credential-keys). Every "
        "node sharing a PostgreSQL metadata database needs a copy; back it up apart from the "
        "database.")
    region: str = Field("RegionOne", description="Region name in the service catalog.")
    token_ttl: int = Field(3600, description="Token lifetime in seconds.")
    fsync: bool = Field(True, description="fsync object data and metadata before "
                        "acknowledging writes. Leave on: off trades durability for speed.")
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text, or as JSON: one object per line with time, "
        "level, logger and message (access lines add client, method, path, status, bytes, "
        "seconds and trans_id).")
    access_log: bool = Field(True, description="Write one access-log line per request.")
    metrics_port: int = Field(0, ge=0, le=65535, description="Port of a listener of its own "
                              "that serves the Prometheus metrics without authentication, "
                              "in the strato serve process (0: none; /metrics on the main "
                              "port always needs a token with the admin role).")
    metrics_host: str = Field("127.0.0.1", description="Address of the metrics listener "
                              "(metrics_port); anyone who reaches it reads the metrics.")
    ready_disk_full_percent: float = Field(
        95.0, gt=0, le=100, description="/ready answers 503 when a filesystem holding the "
        "metadata store or a storage policy's directory is fuller than this (percent of its "
        "size used, the space reserved for root counted as used).")
    operator_roles: list[str] = Field(["admin", "member"],
                                      description="Roles that own their project's account.")
    reseller_admin_role: str = Field("ResellerAdmin",
                                     description="Role that reaches every account.")
    reseller_prefixes: list[str] = Field(["AUTH_", "SERVICE_"], description="Account name "
                                         "prefixes: a project owns <prefix><project_id> for "
                                         "each; the first is the one in storage URLs.")
    service_roles: list[str] = Field(["SERVICE_:service"], description="PREFIX:ROLE pairs: "
                                     "owning an account under PREFIX also needs an "
                                     "X-Service-Token holding ROLE (any listed for it).")
    login_max_failures: int = Field(5, description="Failed logins of one user from one "
                                    "client before further attempts are refused.")
    login_lockout_seconds: int = Field(60, description="How long (seconds) a user+client "
                                       "stays refused after too many failed logins.")
    # Connections: what one client may hold, and whom to believe about its address
    # (docs/reliability.md, docs/security.md)
    header_timeout: float = Field(60.0, gt=0, description="Seconds a client has to send a "
                                  "request's line and headers, counted from the connection's "
                                  "start or the request's first byte; then 408 and the "
                                  "connection closes.")
    body_timeout: float = Field(60.0, gt=0, description="Seconds a request body may stall "
                                "with nothing received (Swift's client_timeout); then 408 if "
                                "no answer has started, and the connection closes.")
    keepalive_timeout: int = Field(30, gt=0, description="Seconds an idle keep-alive "
                                   "connection stays open between requests.")
    max_connections: int = Field(1024, ge=1, description="Connections one worker serves at "
                                 "once (Swift's max_clients); a request on a connection "
                                 "beyond it gets 503 and the connection closes.")
    sandbox_stored_pages: bool = Field(
        True, description="Serve objects a browser would run as a page (HTML, XHTML, SVG, "
        "XML) with `Content-Security-Policy: sandbox allow-scripts ...`: they render and run "
        "their scripts, but in an origin of their own, so a stored page cannot read the web "
        "console's session (the console shares the origin) nor act with it. Off: as Swift "
        "(a static website's scripts keep same-origin access), for clouds whose console is "
        "not reachable where stored pages are opened.")
    trusted_proxies: list[str] = Field([], description="Addresses or CIDR networks of reverse "
                                       "proxies whose X-Forwarded-For (and X-Forwarded-Proto) "
                                       "are believed; from any other client they are ignored. "
                                       "Empty: none, the peer address is the client.")
    login_max_failures_per_client: int = Field(
        100, ge=0, description="Failed logins from one client address, whatever the users, "
        "before further attempts from it are refused for login_lockout_seconds (0: no limit).")
    login_max_failures_per_user: int = Field(
        0, ge=0, description="Failed logins of one user from all addresses before the user "
        "is refused for login_lockout_seconds (0: no limit; a limit lets anyone who knows a "
        "user name lock that user out).")
    login_refused_delay: float = Field(
        1.0, ge=0, le=60, description="Seconds a login refused by a lockout waits before its "
        "429, so a script hammering a lock slows to one attempt per connection per delay.")
    login_hash_memory_kib: int = Field(
        19456, description="Argon2id memory per password hash, KiB. With login_hash_time_cost "
        "at or above one of OWASP's minimums (19456x2, 47104x1, 12288x3, 9216x4, 7168x5); "
        "stored hashes are re-hashed at the next login when these change.")
    login_hash_time_cost: int = Field(2, description="Argon2id passes per password hash.")
    login_hash_parallelism: int = Field(1, ge=1, description="Argon2id lanes per hash.")
    login_hash_threads: int = Field(0, ge=0, description="Threads per worker that check "
                                    "password hashes (0: cores / workers, at least 1).")
    login_hash_queue: int = Field(32, ge=0, description="Password checks a worker queues "
                                  "behind busy hash threads before it answers 429.")
    login_verified_seconds: float = Field(
        300.0, ge=0, description="A worker remembers a password or application credential "
        "secret it verified for this long (a keyed hash of it, bound to the stored hash), so "
        "repeated logins skip Argon2; a password change, disable or delete counts at once "
        "(0: always hash).")
    password_regex: str = Field(
        "", description="New passwords set through the identity API must match this "
        "regular expression in full (Keystone's security_compliance password_regex; empty: "
        "any).")
    password_regex_description: str = Field(
        "", description="What password_regex asks for, in words: shown in the error and in "
        "GET /v3/domains/{id}/config/security_compliance.")
    password_expires_days: int = Field(
        0, ge=0, description="A password set from now on expires this many days after it is "
        "set; a login with it then answers 401 until the user changes it with "
        "POST /v3/users/{id}/password (Keystone's password_expires_days; 0: never).")
    minimum_password_age: int = Field(
        0, ge=0, description="Days a user must keep a password before changing it "
        "itself (an administrator's reset is not limited; 0: no minimum).")
    unique_last_password_count: int = Field(
        0, ge=0, le=100, description="A new password must differ from this many minus one "
        "of the user's latest passwords, the current one included (Keystone's count "
        "includes the new password; 0 or 1: no history).")
    change_password_upon_first_use: bool = Field(
        False, description="A password an administrator sets through the identity API "
        "(user create or update) is expired at once, so the user must change it before "
        "anything else; host-side `strato user` commands are not affected.")
    max_file_size: int = Field(5 * 1024**3 + 2, description="Largest single object in bytes.")
    inline_bytes: int = Field(
        64 * 1024, ge=0, le=1024 * 1024,
        description="Objects up to this size keep their bytes in the metadata database, "
        "committed with their row: one disk flush per write instead of two. 0: none do.")
    expirer_interval: float = Field(30.0, description="Seconds between expirer passes.")
    expirer_delay_reaping: float = Field(
        0.0, ge=0, description="The expirer reclaims an object only this many seconds after "
        "its delete-at time (Swift's delay_reaping), so `X-Open-Expired` can still reach it "
        "meanwhile; a container read or DELETE reclaims its expired objects at once anyway.")
    allow_open_expired: bool = Field(
        False, description="GET, HEAD and POST with `X-Open-Expired: true` reach an object "
        "past its delete-at time that is not yet reclaimed (a POST with a new X-Delete-At "
        "restores it), as Swift's allow_open_expired.")
    etag_quoter: bool = Field(
        False, description="Offer Swift's etag_quoter: `X-Account-Rfc-Compliant-Etags` or "
        "`X-Container-Rfc-Compliant-Etags: true` quote object ETags (RFC 7232). Off by "
        "default, as in Swift's pipeline: it costs an account read per object request.")
    etag_quoter_by_default: bool = Field(
        False, description="Quote object ETags where no account or container says otherwise "
        "(etag_quoter's enable_by_default).")
    storage_domain: list[str] = Field(
        [], description="Domains under which <account>.<domain> and "
        "<container>.<account>.<domain> host names are served as that account or container "
        "(Swift's domain_remap; empty: off).")
    domain_remap_default_reseller_prefix: str = Field(
        "", description="Reseller prefix given to a remapped account label that has none "
        "(domain_remap's default_reseller_prefix; empty: such hosts are not remapped).")
    crossdomain_policy: str = Field(
        "", description="Serve /crossdomain.xml with these <allow-access-from .../> lines "
        "for Flash and Silverlight clients (Swift's crossdomain; empty: not served).")
    container_sync_realms: Path | None = Field(
        None, description="Container sync realms and clusters: a file in Swift's "
        "container-sync-realms.conf format ([realm] sections with key, key2 and "
        "cluster_<name> = <endpoint URL ending in /v1/>). Unset: no realm is known, so no "
        "container can sync (X-Container-Sync-To is refused).")
    container_sync_current: str = Field(
        "", description="This cluster's place in the realms, as //REALM/CLUSTER: `/info` "
        "marks it `current`, as Swift's container_sync `current` option (empty: none).")
    container_sync_interval: float = Field(
        30.0, gt=0, description="Seconds between container sync passes (each pushes what "
        "changed in syncing containers since the last).")
    container_sync_batch: int = Field(
        1000, ge=1, description="Most changes one container sync pass pushes per container, "
        "so one busy container cannot hold up the others.")
    sweep_interval: float = Field(3600.0,
                                  description="Seconds between orphan-blob sweeps.")
    sweep_min_age: float = Field(3600.0, description="An unreferenced blob or temp file must "
                                 "be at least this old (seconds) before the sweep removes it.")
    auditor_bytes_per_second: int = Field(
        10_000_000, ge=0, description="The auditor re-reads stored blobs at most this fast "
        "and quarantines any whose bytes no longer match their MD5 (bit rot); the object "
        "then answers 404 and the log says it is lost. 0: no auditor.")
    auditor_interval: float = Field(
        3600.0, gt=0, description="Seconds from the end of one auditor pass over every blob "
        "to the start of the next.")
    usage_interval: float = Field(
        300.0, ge=0, description="Seconds between samples of every account's and "
        "container's bytes and object count, for the console's Usage page (read from the "
        "counters the containers keep; only those that changed are written). 0: no sampling.")
    usage_retention: float = Field(
        30 * 86400.0, gt=0, description="Seconds of usage history kept; samples older than a "
        "day are thinned to one an hour, and a deleted container's samples go with it.")
    tempurl_methods: list[str] = Field(["GET", "HEAD", "PUT", "POST", "DELETE"],
                                       description="HTTP methods temp URLs may be signed for.")
    tempurl_allowed_digests: list[str] = Field(["sha1", "sha256", "sha512"],
                                               description="HMAC digests accepted in temp URL "
                                               "and form POST signatures.")
    cors_allow_origin: list[str] = Field([], description="Origins allowed for CORS on every "
                                         "container, besides each container's own list.")
    cors_expose_headers: list[str] = Field([], description="Extra response headers exposed "
                                           "to CORS requests.")
    ratelimit_account: float = Field(0.0, description="Container PUT/DELETE per second per "
                                     "account (0: no limit).")
    ratelimit_container: list[str] = Field([], description="Object writes per second per "
                                           "container as SIZE:RATE points, e.g. 100:50,1000:20 "
                                           "(empty: no limit).")
    ratelimit_container_listing: list[str] = Field([], description="Container listings per "
                                                   "second as SIZE:RATE points (empty: none).")
    ratelimit_max_sleep: float = Field(60.0, description="Longest a rate-limited request waits "
                                       "before it gets 498 instead.")
    ratelimit_whitelist: list[str] = Field([], description="Accounts never rate-limited.")
    ratelimit_blacklist: list[str] = Field([], description="Accounts refused every container "
                                           "and object request (497).")
    image_size_cap: int = Field(1 << 40, ge=0, description="Largest image in bytes.")
    image_hash_algo: str = Field(
        "sha512", description="os_hash_algo of new images (Glance's hashing_algorithm): "
        "sha512, sha384, sha256, sha3_512, sha3_256 or blake2b. sha512 costs about 1 s of CPU "
        "per GiB uploaded; sha256 about 0.7 s where the CPU has SHA extensions.")
    image_disk_formats: list[str] = Field(
        ["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"],
        description="disk_format values images may have.")
    image_container_formats: list[str] = Field(
        ["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"],
        description="container_format values images may have.")
    image_additional_properties: bool = Field(
        True, description="Accept custom image properties (string values) besides those the "
        "image schema names; off: Glance's strict schema, any other property is a 400.")
    image_delayed_delete: bool = Field(False, description="Deleting an image leaves its data "
                                       "(status pending_delete, restorable) until the "
                                       "scrubber reclaims it after image_scrub_time.")
    image_scrub_time: float = Field(3600.0, ge=0, description="Seconds a deleted image's "
                                    "data is kept when delayed delete is on.")
    image_scrub_interval: float = Field(60.0, gt=0, description="Seconds between scrubber "
                                        "passes.")
    image_import_methods: list[str] = Field(
        ["glance-direct", "web-download", "copy-image"],
        description="Enabled interoperable import methods.")
    image_import_allowed_hosts: list[str] = Field(
        [], description="Hosts (names, IPs or CIDRs) web-download may fetch from even when "
        "they are private or loopback addresses (others must be public).")
    image_import_allowed_ports: list[int] = Field(
        [80, 443], description="Ports web-download may connect to (empty: any).")
    image_conversion_format: str | None = Field(
        None, description="Convert imported images to this disk format with qemu-img "
        "(e.g. raw); unset: no conversion.")
    image_inject_properties: list[str] = Field(
        [], description="KEY=VALUE properties added to every imported image (Glance's "
        "inject_image_metadata plugin).")
    image_task_ttl: float = Field(48 * 3600.0, gt=0, description="Seconds a finished task "
                                  "is kept before it is purged.")
    image_import_wait: float = Field(60.0, ge=0, description="Seconds POST /import waits "
                                     "for the import to finish before answering 202.")
    image_tasks_for_everyone: bool = Field(True, description="Let every user use the tasks "
                                           "API within their project (Glance: admin only).")
    image_quota_count: int = Field(-1, ge=-1, description="Images per project (-1: no "
                                   "limit).")
    image_quota_bytes: int = Field(-1, ge=-1, description="Bytes of image data per project "
                                   "(-1: no limit).")
    image_quota_stage_bytes: int = Field(-1, ge=-1, description="Bytes staged for import per "
                                         "project (-1: no limit).")
    image_quota_uploading: int = Field(-1, ge=-1, description="Images uploading or importing "
                                       "at once per project (-1: no limit).")
    storage_policies: list[StoragePolicySettings] = Field(
        default_factory=_default_policies,
        description="Storage policies as a JSON list of {name, aliases, default, deprecated, "
        "directory}; in TOML, [[storage_policies]] tables.")

    @model_validator(mode="after")
    def _check_policies(self) -> Settings:
        """Refuse a policy set Swift would refuse, before anything is written with it."""
        policies = self.storage_policies
        if not policies:
            raise ValueError("storage_policies: at least one policy is needed")
        if len(policies) == 1 and not policies[0].deprecated:
            policies[0].default = True  # a lone policy is the default, as in Swift
        seen: set[str] = set()
        for policy in policies:
            for name in policy.names:
                if not name or not set(name) <= POLICY_NAME_CHARS:
                    raise ValueError(f"storage_policies: invalid name {name!r} (letters, "
                                     "digits and '-' only: names appear in header names)")
                if name.lower() in seen:
                    raise ValueError(f"storage_policies: duplicate name {name!r}")
                seen.add(name.lower())
            if policy.default and policy.deprecated:
                raise ValueError(f"storage_policies: deprecated policy {policy.name!r} "
                                 "cannot be the default")
        defaults = [p.name for p in policies if p.default]
        if len(defaults) != 1:
            raise ValueError("storage_policies: exactly one policy must be the default, "
                             f"found {len(defaults)} ({', '.join(defaults) or 'none'})")
        roots: dict[Path, str] = {}
        for policy in policies:
            root = self.policy_root(policy)
            if root in roots:
                raise ValueError(f"storage_policies: {policy.name!r} and {roots[root]!r} "
                                 f"share the blob directory {root}")
            roots[root] = policy.name
        return self

    def policy_root(self, policy: StoragePolicySettings) -> Path:
        """Where a policy's blobs live (see `StoragePolicySettings.directory`)."""
        if policy.directory is not None:
            root = self.data_dir / policy.directory  # an absolute directory wins the join
        elif policy.default:
            root = self.data_dir
        else:
            root = self.data_dir / "policies" / policy.name
        return Path(os.path.normpath(root))

    @field_validator("data_dir")
    @classmethod
    def _not_a_file(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a directory: choose another data "
                             "directory")
        return value

    @model_validator(mode="after")
    def _key_needs_cert(self) -> Settings:
        if self.tls_key is not None and self.tls_cert is None:
            raise ValueError("tls_key is set without tls_cert: set both (--tls-cert, "
                             "--tls-key) or neither")
        return self

    @field_validator("metadata")
    @classmethod
    def _metadata_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("not a postgresql:// URL (leave empty for the embedded SQLite "
                             "database)")
        return value

    @field_validator("container_sync_realms")
    @classmethod
    def _realms_file(cls, value: Path | None) -> Path | None:
        from strato.domain.container_sync import Realms

        Realms.load(value)  # a bad file stops the server at start, not at the first push
        return value

    @model_validator(mode="after")
    def _current_cluster(self) -> Settings:
        if self.container_sync_current:
            from strato.domain.container_sync import Realms

            Realms.load(self.container_sync_realms).check_current(self.container_sync_current)
        return self

    @field_validator("password_regex")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not one of {', '.join(LOG_LEVELS)}")
        return value.lower()

    @field_validator("image_hash_algo")
    @classmethod
    def _known_hash(cls, value: str) -> str:
        from strato.domain.images.data import HASH_ALGOS

        if value not in HASH_ALGOS:
            raise ValueError(f"image_hash_algo: {value!r} is not one of {', '.join(HASH_ALGOS)}")
        return value
    @model_validator(mode="after")
    def _check_password_hashing(self) -> Settings:
        """Refuse parameters that would store weaker hashes than OWASP's minimum."""
        self.password_hash_params().check()
        return self

    def password_hash_params(self) -> HashParams:
        return HashParams(self.login_hash_memory_kib, self.login_hash_time_cost,
                          self.login_hash_parallelism)

    @field_validator("image_inject_properties")
    @classmethod
    def _key_value_pairs(cls, value: list[str]) -> list[str]:
        for pair in value:
            key, sep, _ = pair.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"image_inject_properties: {pair!r} is not KEY=VALUE")
        return value

    @field_validator("service_roles")
    @classmethod
    def _prefix_role_pairs(cls, value: list[str]) -> list[str]:
        for pair in value:
            _, sep, role = pair.partition(":")
            if not sep or not role.strip():
                raise ValueError(f"service role {pair!r} is not PREFIX:ROLE")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _EnvSource(settings_cls)]
        config = os.environ.get(CONFIG_ENV)
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)

    @property
    def credential_keys_path(self) -> Path:
        return self.credential_key_repository or self.data_dir / "credential-keys"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # nosec B104  # compares, binds nothing
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{host}:{self.port}"

    def to_env(self) -> dict[str, str]:
        """The settings as `STRATO_*` variables, so worker processes rebuild the same object."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(mode="json").items():
            if value is None:
                continue
            env[f"STRATO_{name.upper()}"] = (
                value if isinstance(value, str) else json.dumps(value))
        return env


def load_settings(**overrides: Any) -> Settings:
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
