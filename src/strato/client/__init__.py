"""Strato's client: an asyncio SDK for any Swift-API object store and Glance image service
(Strato, OpenStack Swift, Ceph RGW), with parallel, resumable, verified transfers.

    import strato.client

    async with strato.client.connect("mycloud") as cloud:     # clouds.yaml, OS_*, ST_*
        await cloud.objects.create_container("backups")
        await cloud.upload("backups", "disk.img", "disk.img")  # parallel SLO segments
        async for entry in cloud.objects.objects("backups", prefix="disk"):
            print(entry.name, entry.bytes)

`strato.client.blocking.connect` gives the same API without `await`. This package never
imports the server: `pip install strato` installs only what it needs.
"""

from strato.client.auth import KeystoneAuth, PreAuth, SwiftV1Auth, Token
from strato.client.cloud import Cloud, connect
from strato.client.config import CloudConfig, load_cloud
from strato.client.errors import (
    BadRequest,
    ChecksumMismatch,
    ClientError,
    ConfigError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    HTTPError,
    ImageFailed,
    InsufficientStorage,
    NotFound,
    PreconditionFailed,
    RangeNotSatisfiable,
    RequestEntityTooLarge,
    ServerError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
)
from strato.client.images import Images
from strato.client.objects import BulkResult, Entry, ObjectStore
from strato.client.session import Session
from strato.client.signing import FormPost, form_post, temp_url
from strato.client.transfers import (
    DownloadResult,
    NoProgress,
    Progress,
    TransferOptions,
    UploadResult,
)
from strato.client.transport import RetryPolicy, Transport

__all__ = [
    "BadRequest", "BulkResult", "ChecksumMismatch", "ClientError", "Cloud", "CloudConfig",
    "ConfigError", "Conflict", "ConnectionFailed", "DownloadResult", "Entry", "Forbidden",
    "FormPost", "HTTPError", "ImageFailed", "Images", "InsufficientStorage", "KeystoneAuth",
    "NoProgress", "NotFound", "ObjectStore", "PreAuth", "PreconditionFailed", "Progress",
    "RangeNotSatisfiable", "RequestEntityTooLarge", "RetryPolicy", "ServerError",
    "ServiceUnavailable", "Session", "SwiftV1Auth", "Token", "TooManyRequests",
    "TransferOptions", "Transport", "Unauthorized", "UnprocessableEntity", "UploadResult",
    "connect", "form_post", "load_cloud", "temp_url",
]
