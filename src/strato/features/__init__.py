"""Swift middleware equivalents, one module each, in pipeline order (outermost first).

To add a feature: write `strato/features/<name>.py` with one `Feature` subclass and list it
in `FEATURES` at its place in the order Swift's proxy pipeline uses.
"""

from __future__ import annotations

from strato.api.swift.pipeline import Feature
from strato.features.bulk import BulkDelete, BulkUpload
from strato.features.dlo import DynamicLargeObject
from strato.features.gatekeeper import Gatekeeper
from strato.features.slo import StaticLargeObject

FEATURES: list[type[Feature]] = [
    Gatekeeper,
    BulkDelete,
    BulkUpload,
    StaticLargeObject,
    DynamicLargeObject,
]
