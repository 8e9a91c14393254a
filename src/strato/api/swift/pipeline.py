"""Swift middleware equivalents as a typed chain around the core handlers.

Each feature (tempurl, slo, bulk, ...) lives in its own module under `strato.api.swift.features`,
is one `Feature` subclass, and may register an `/info` section. A feature handles what it
recognises and passes everything else to `call_next`; per-request state goes in
`SwiftRequest.state`, never on the feature object.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from strato.api.http import Response
from strato.api.swift.context import SwiftRequest, SwiftServices

Handler = Callable[[SwiftRequest], Awaitable[Response]]
PIPELINE = "pipeline"
"""`sr.state` key: the whole pipeline, for a feature that must re-enter it from the top for
another path (symlink targets that are large objects, as Swift's response path allows)."""


class Feature(abc.ABC):
    name: str = ""

    def __init__(self, services: SwiftServices) -> None:
        self.services = services

    def capabilities(self) -> dict[str, Any] | None:
        """The feature's `/info` section, or None to stay unlisted."""
        return None

    @abc.abstractmethod
    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response: ...


def build_pipeline(features: Sequence[Feature], endpoint: Handler) -> Handler:
    """Each feature's `handle` bound to the next handler: a partial rather than a wrapping
    coroutine, as every request passes every feature (one coroutine fewer per feature)."""
    handler = endpoint
    for feature in reversed(features):
        handler = functools.partial(feature.handle, call_next=handler)
    return handler
