"""Swift middleware equivalents, one module each, in pipeline order (outermost first).

They belong to the Swift front-end (the image and identity front-ends have their own
shapes). To add a feature: write `strato/api/swift/features/<name>.py` with one `Feature`
subclass and list it in `FEATURES` at its place in the order Swift's proxy pipeline uses.
"""

from __future__ import annotations

from strato.api.swift.features.archive import ArchiveDownload
from strato.api.swift.features.bulk import BulkDelete, BulkUpload
from strato.api.swift.features.container_sync import ContainerSync
from strato.api.swift.features.cors import CORS
from strato.api.swift.features.dlo import DynamicLargeObject
from strato.api.swift.features.etag_quoter import EtagQuoter
from strato.api.swift.features.formpost import FormPost
from strato.api.swift.features.gatekeeper import Gatekeeper
from strato.api.swift.features.object_versioning import ObjectVersioning
from strato.api.swift.features.quotas import AccountQuotas, Quotas
from strato.api.swift.features.ratelimit import RateLimit
from strato.api.swift.features.slo import StaticLargeObject
from strato.api.swift.features.staticweb import StaticWeb
from strato.api.swift.features.symlink import Symlink
from strato.api.swift.features.tempurl import TempURL
from strato.api.swift.features.versioned_writes import VersionedWrites
from strato.api.swift.pipeline import Feature

# Swift's proxy order: gatekeeper etag-quoter container_sync bulk tempurl ratelimit formpost
# (auth) staticweb copy container-quotas account-quotas slo dlo versioned_writes (legacy, then
# object versioning) symlink
FEATURES: list[type[Feature]] = [
    CORS,  # Swift's proxy adds CORS headers to every controller response: outermost here
    Gatekeeper,
    EtagQuoter,  # right after gatekeeper, as Swift's pipeline places it
    ContainerSync,
    BulkDelete,
    BulkUpload,
    ArchiveDownload,  # Strato's own: GET <container>?archive=tar
    TempURL,
    RateLimit,
    FormPost,
    StaticWeb,
    Quotas,
    AccountQuotas,
    StaticLargeObject,
    DynamicLargeObject,
    VersionedWrites,
    ObjectVersioning,
    Symlink,
]
