"""Image statuses, the transitions Glance allows between them, and the domain's errors.

The status machine is Glance's (`glance.domain.Image.valid_state_targets`); every change of
status goes through `check_transition`, and the store applies it compare-and-set, so two
workers can never both move one image out of the same status.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

QUEUED, SAVING, ACTIVE, KILLED = "queued", "saving", "active", "killed"
UPLOADING, IMPORTING = "uploading", "importing"
PENDING_DELETE, DELETED, DEACTIVATED = "pending_delete", "deleted", "deactivated"

TRANSITIONS: dict[str, tuple[str, ...]] = {
    QUEUED: (SAVING, UPLOADING, IMPORTING, ACTIVE, DELETED),
    SAVING: (ACTIVE, KILLED, DELETED, QUEUED),
    UPLOADING: (IMPORTING, QUEUED, DELETED),
    IMPORTING: (ACTIVE, DELETED, QUEUED),
    ACTIVE: (PENDING_DELETE, DELETED, DEACTIVATED),
    KILLED: (DELETED,),
    PENDING_DELETE: (DELETED, ACTIVE),
    DEACTIVATED: (ACTIVE, DELETED),
    DELETED: (),
}
"""status -> the statuses it may move to (pending_delete -> active is the restore)."""

TASK_PENDING, TASK_PROCESSING = "pending", "processing"
TASK_SUCCESS, TASK_FAILURE = "success", "failure"
MEMBER_STATUSES = ("pending", "accepted", "rejected")


def sources_of(target: str) -> tuple[str, ...]:
    """The statuses from which an image may move to `target`."""
    return tuple(s for s, targets in TRANSITIONS.items() if target in targets)


class ImageError(Exception):
    """Base of the image service's errors; `status` is the HTTP status Glance answers with,
    `str(exc)` the message a user reads."""

    status = 400


class BadRequest(ImageError):
    status = 400


class Forbidden(ImageError):
    status = 403


class NotFound(ImageError):
    status = 404


class Conflict(ImageError):
    status = 409


class Gone(ImageError):
    """The image was deleted while its data was being written."""

    status = 410


class QuotaExceeded(ImageError):
    status = 413


class StorageFull(ImageError):
    """Glance answers a store with no room 413, `Image storage media is full: ...`."""

    status = 413


class RangeNotSatisfiable(ImageError):
    status = 416


class InvalidTransition(Conflict):
    def __init__(self, image_id: str, current: str, target: str) -> None:
        super().__init__(f"Image status transition from {current} to {target} is not allowed"
                         f" (image {image_id})")
        self.current = current


def check_transition(image_id: str, current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, ()):
        raise InvalidTransition(image_id, current, target)


@dataclass(frozen=True, slots=True)
class ImageCaller:
    """Who asks: the project of their token, their user, and whether Glance's default policy
    treats them as an administrator (the `admin` role)."""

    project_id: str | None
    user_id: str | None
    admin: bool = False
    request_id: str | None = None


UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""Characters no metadata backend can keep in text: PostgreSQL's text type holds no NUL
character, and a lone surrogate (which JSON's `\\ud800` escape can spell) has no UTF-8
form. Refused on both backends alike, so a client sees one answer whichever is in use."""


def check_storable(values: Mapping[str, Any], *, names: bool = False) -> None:
    """400 for a string (or a list's string) in `values` holding a character the metadata
    store cannot keep; `names`: the keys are client-chosen too (custom properties). Glance
    refuses what its database cannot hold the same way (its no_4byte_params, a 400 naming
    the attribute)."""
    for key, value in values.items():
        if names and UNSTORABLE.search(key):
            raise BadRequest("Property names can't contain NUL or unpaired surrogate "
                             "characters.")
        texts: Iterable[Any] = value if isinstance(value, list | tuple) else (value,)
        if any(isinstance(text, str) and UNSTORABLE.search(text) for text in texts):
            raise BadRequest(f"{key.title()} can't contain NUL or unpaired surrogate "
                             "characters.")
