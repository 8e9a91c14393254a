"""How images, members and tasks look on the wire (Glance v2's JSON shapes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from strato.stores.metadata.records import ImageMemberRecord, ImageRecord, TaskRecord

BASE_FIELDS = ("name", "disk_format", "container_format", "visibility", "size",
               "virtual_size", "status", "checksum", "protected", "min_ram", "min_disk",
               "owner", "os_hidden", "os_hash_algo", "os_hash_value", "id")


def iso(ts: float | None) -> str | None:
    """Glance's timestamps: whole seconds, `Z` (glanceclient's schema wants date-time)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_view(image: ImageRecord) -> dict[str, Any]:
    """Base properties always (null when unset), custom ones only when they have a value."""
    doc: dict[str, Any] = {name: getattr(image, name) for name in BASE_FIELDS}
    doc.update(image.properties)
    doc["tags"] = list(image.tags)
    doc["created_at"] = iso(image.created_at)
    doc["updated_at"] = iso(image.updated_at)
    doc["self"] = f"/v2/images/{image.id}"
    doc["file"] = f"/v2/images/{image.id}/file"
    doc["schema"] = "/v2/schemas/image"
    if image.stores:
        doc["stores"] = ",".join(image.stores)
    return doc


def member_view(member: ImageMemberRecord) -> dict[str, Any]:
    return {"created_at": iso(member.created_at), "updated_at": iso(member.updated_at),
            "image_id": member.image_id, "member_id": member.member,
            "status": member.status, "schema": "/v2/schemas/member"}


def task_view(task: TaskRecord, *, full: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
        "expires_at": iso(task.expires_at), "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at), "self": f"/v2/tasks/{task.id}",
        "schema": "/v2/schemas/task",
    }
    if task.image_id:
        doc["image_id"] = task.image_id
    if task.user_id:
        doc["user_id"] = task.user_id
    if task.request_id:
        doc["request_id"] = task.request_id
    if full:
        doc["input"] = task.input
        doc["result"] = task.result
        doc["message"] = task.message or ""
    return doc
