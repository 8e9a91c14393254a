"""The Glance v2 API: create, upload (PUT, or stage + import by glance-direct or
web-download), download with its checksum checked, update, delete, and wait for `active`
with, on failure, the reason the server gave rather than a bare status."""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from strato.client.errors import ChecksumMismatch, ClientError, ImageFailed
from strato.client.session import Session
from strato.client.transfers import MiB, NoProgress, Progress

FAILED = frozenset({"killed", "deleted", "pending_delete"})
PATCH_JSON = "application/openstack-images-v2.1-json-patch"


def _patch(changes: Mapping[str, Any], current: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch: None removes a property, anything else adds or replaces it."""
    ops: list[dict[str, Any]] = []
    for key, value in changes.items():
        if value is None:
            if key in current:
                ops.append({"op": "remove", "path": f"/{key}"})
        else:
            ops.append({"op": "replace" if key in current else "add", "path": f"/{key}",
                        "value": value})
    return ops


class Images:
    """Images of the cloud's image service (the catalog's `image` endpoint)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def _url(self, path: str) -> str:
        base = await self.session.endpoint("image")
        base = base if base.rstrip("/").endswith("/v2") else base.rstrip("/") + "/v2"
        return base + path

    async def _json(self, method: str, path: str, doc: Any = None, *,
                    content_type: str = "application/json",
                    params: Mapping[str, str] | None = None) -> Any:
        body = json.dumps(doc).encode() if doc is not None else None
        headers = {"Content-Type": content_type} if body is not None else {}
        response = await self.session.request(method, await self._url(path), headers=headers,
                                              params=params, body=body)
        return response.json()

    async def list(self, **filters: str) -> AsyncIterator[dict[str, Any]]:
        """Every image visible to the project, following the server's `next` links."""
        params = {k: str(v) for k, v in filters.items()}
        url = await self._url("/images")
        while True:
            doc = (await self.session.request("GET", url, params=params)).json()
            for image in doc.get("images", []):
                yield image
            following = doc.get("next")
            if not following or not doc.get("images"):
                return
            base = url.split("/v2/", 1)[0]
            url, params = base + following, {}

    async def get(self, image_id: str) -> dict[str, Any]:
        return dict(await self._json("GET", f"/images/{image_id}"))

    async def create(self, name: str, *, disk_format: str | None = None,
                     container_format: str | None = None, **properties: Any) -> dict[str, Any]:
        doc = {"name": name, **properties}
        if disk_format:
            doc["disk_format"] = disk_format
        if container_format:
            doc["container_format"] = container_format
        return dict(await self._json("POST", "/images", doc))

    async def update(self, image_id: str, **changes: Any) -> dict[str, Any]:
        current = await self.get(image_id)
        return dict(await self._json("PATCH", f"/images/{image_id}", _patch(changes, current),
                                     content_type=PATCH_JSON))

    async def delete(self, image_id: str) -> None:
        await self.session.request("DELETE", await self._url(f"/images/{image_id}"))

    async def _send(self, method: str, path: str, source: str | Path, progress: Progress,
                    label: str) -> None:
        source = Path(source)
        size = source.stat().st_size
        progress.start(label, size)

        def body() -> AsyncIterator[bytes]:
            return _file_chunks(source, lambda n: progress.advance(label, n))

        try:
            await self.session.request(method, await self._url(path), body=body, headers={
                "Content-Type": "application/octet-stream", "Content-Length": str(size)})
        finally:
            progress.finish(label)

    async def upload(self, image_id: str, source: str | Path, *,
                     progress: Progress | None = None) -> None:
        """`PUT /images/{id}/file`: the classic upload (queued → saving → active)."""
        await self._send("PUT", f"/images/{image_id}/file", source, progress or NoProgress(),
                         image_id)

    async def stage(self, image_id: str, source: str | Path, *,
                    progress: Progress | None = None) -> None:
        """`PUT /images/{id}/stage`: the first half of a glance-direct import."""
        await self._send("PUT", f"/images/{image_id}/stage", source, progress or NoProgress(),
                         image_id)

    async def import_(self, image_id: str, method: str = "glance-direct", *,
                      uri: str | None = None, stores: builtins.list[str] | None = None) -> None:
        """Start an import: `glance-direct` (after `stage`) or `web-download` of `uri`."""
        doc: dict[str, Any] = {"method": {"name": method}}
        if uri:
            doc["method"]["uri"] = uri
        if stores:
            doc["stores"] = stores
        await self._json("POST", f"/images/{image_id}/import", doc)

    async def download(self, image_id: str, path: str | Path, *,
                       progress: Progress | None = None) -> Path:
        """Stream the image data to `path`, checking `os_hash_value` (or `checksum`)."""
        progress = progress or NoProgress()
        image = await self.get(image_id)
        algo, expected = image.get("os_hash_algo"), image.get("os_hash_value")
        if not (algo and expected and algo in hashlib.algorithms_available):
            algo, expected = "md5", image.get("checksum")
        digest = hashlib.new(algo or "md5")
        path = Path(path)
        part = path.with_name(path.name + ".part")
        progress.start(image_id, image.get("size"))
        try:
            async with self.session.stream("GET", await self._url(
                    f"/images/{image_id}/file")) as response:
                with open(part, "wb") as out:
                    async for data in response.content.iter_chunked(MiB):
                        digest.update(data)
                        out.write(data)
                        progress.advance(image_id, len(data))
                    out.flush()
                    os.fsync(out.fileno())
        finally:
            progress.finish(image_id)
        if expected and digest.hexdigest() != expected:
            part.unlink(missing_ok=True)
            raise ChecksumMismatch(f"image {image_id}: {algo} {digest.hexdigest()}, the "
                                   f"image service says {expected}")
        os.replace(part, path)
        return path

    async def tasks(self, image_id: str) -> builtins.list[dict[str, Any]]:
        """The image's import tasks, newest first (Glance 2.12's `/images/{id}/tasks`)."""
        doc = await self._json("GET", f"/images/{image_id}/tasks")
        return sorted(doc.get("tasks", []), key=lambda t: t.get("created_at", ""),
                      reverse=True)

    async def failure_reason(self, image: Mapping[str, Any]) -> str:
        """Why an image did not become active, as specifically as the server tells."""
        reasons = []
        failed_stores = image.get("os_glance_failed_import")
        if failed_stores:
            reasons.append(f"import failed for store(s) {failed_stores}")
        try:
            tasks = await self.tasks(str(image["id"]))
        except ClientError:
            tasks = []
        for task in tasks[:1]:
            if task.get("status") == "failure" or task.get("message"):
                reasons.append(f"task {task.get('id')} {task.get('status')}: "
                               f"{task.get('message') or 'no message'}")
        return "; ".join(reasons) or f"status {image.get('status')}"

    async def wait(self, image_id: str, status: str = "active", *, timeout: float = 3600,
                   interval: float = 1.0,
                   on_status: Callable[[dict[str, Any]], None] | None = None,
                   ) -> dict[str, Any]:
        """Poll until the image is `status`; report each change; raise `ImageFailed` with the
        server's reason when it fails, is deleted, or the time runs out."""
        deadline = time.monotonic() + timeout
        seen = None
        while True:
            image = await self.get(image_id)
            current = image.get("status")
            if current != seen:
                seen = current
                if on_status:
                    on_status(image)
            if current == status:
                return image
            import_done = (image.get("os_glance_importing_to_stores") in ("", None)
                           and image.get("os_glance_failed_import"))
            if current in FAILED or import_done:
                raise ImageFailed(image_id, str(current), await self.failure_reason(image))
            if time.monotonic() > deadline:
                raise ImageFailed(image_id, str(current),
                                  f"still {current} after {timeout:.0f} s; "
                                  + await self.failure_reason(image))
            await asyncio.sleep(interval)


async def _file_chunks(path: Path, on_bytes: Callable[[int], None]) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:
        while True:
            data = await asyncio.to_thread(f.read, MiB)
            if not data:
                return
            on_bytes(len(data))
            yield data
