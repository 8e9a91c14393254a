"""Swift middleware equivalents, one module each, in pipeline order (outermost first).

To add a feature: write `strato/features/<name>.py` with one `Feature` subclass and list it
in `FEATURES` at its place in the order Swift's proxy pipeline uses.
"""

from __future__ import annotations

from strato.api.swift.pipeline import Feature
from strato.features.bulk import BulkDelete, BulkUpload
from strato.features.cors import CORS
from strato.features.dlo import DynamicLargeObject
from strato.features.formpost import FormPost
from strato.features.gatekeeper import Gatekeeper
from strato.features.object_versioning import ObjectVersioning
from strato.features.quotas import AccountQuotas, Quotas
from strato.features.ratelimit import RateLimit
from strato.features.slo import StaticLargeObject
from strato.features.staticweb import StaticWeb
from strato.features.symlink import Symlink
from strato.features.tempurl import TempURL
from strato.features.versioned_writes import VersionedWrites

# Swift's proxy order: gatekeeper bulk tempurl ratelimit formpost (auth) staticweb copy
# container-quotas account-quotas slo dlo versioned_writes (legacy, then object versioning)
# symlink
FEATURES: list[type[Feature]] = [
    CORS,  # Swift's proxy adds CORS headers to every controller response: outermost here
    Gatekeeper,
    BulkDelete,
    BulkUpload,
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
