"""Swift middleware equivalents, one module each, in pipeline order (outermost first).

To add a feature: write `strato/features/<name>.py` with one `Feature` subclass and list it
in `FEATURES` at its place in the order Swift's proxy pipeline uses.
"""

from __future__ import annotations

from strato.api.swift.pipeline import Feature
from strato.features.object_versioning import ObjectVersioning
from strato.features.symlink import Symlink
from strato.features.versioned_writes import VersionedWrites

# Swift's order: ... slo dlo versioned_writes (legacy, then object versioning) symlink
FEATURES: list[type[Feature]] = [VersionedWrites, ObjectVersioning, Symlink]
