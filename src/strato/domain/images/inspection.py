"""What an uploaded disk image really is, found while its bytes stream through.

The parsers and safety checks are oslo.utils' format inspectors, the ones Glance runs. The
verdict follows Glance's ``ImageProxy.set_data`` (``glance/location.py``) with
``[image_format] require_image_format_match = True``:

- The content is identified by every inspector at once. No match means ``raw``; more than one
  is refused, except ``{iso, gpt}``, which counts as ``iso`` (a bootable ISO has a GPT in front).
- Content of the declared ``disk_format``: accepted, ``virtual_size`` from the header.
- Declared ``raw`` but the content is a rich format (qcow2, vmdk...): Glance accepts it and only
  logs a warning ("Image claims 'raw' disk_format but is actually ..."); ``virtual_size`` is then
  the byte count, as if the format had not been recognised. The rich format's safety checks
  still run, so a qcow2 with a backing file is refused even when declared ``raw``.
- Declared formats without an inspector (``ami``, ``ari``, ``aki``, ``ploop``, None): raw content
  is accepted ("Things like AMI are not inspectable"), and Glance leaves ``virtual_size`` unset
  (None here). Rich content under them is refused like any other mismatch.
- Anything else is refused ("Image disk_format %s does not match stream data %s"), and so is
  content an inspector cannot decide on (Glance's catch-all "Image format inspection failed").
- Glance inspects only images whose container_format is ``bare``; whether to call this for
  other containers is the caller's choice.
- Safety checks run on the detected format; a failure refuses the image, except a ``gpt`` whose
  failures Glance's ``gpt_safety_checks_nonfatal`` (a list of check names there; a bool here,
  ``mbr`` being oslo's only gpt check) lets through. ``qed`` is always refused by oslo.
- ``vmdk_allowed_types`` is checked by Glance only when converting
  (``glance/async_/flows/plugins/image_conversion.py``); it is applied here to every vmdk.
  oslo itself accepts only monolithicSparse and streamOptimized, so the option can only narrow.

Cost: inspectors see the stream in fixed 64 KiB pieces (so the verdict does not depend on how
the caller chunks it) until each has what it needs, a few hundred KiB for most images. After
that, ``feed`` only counts bytes, plus keeps the last 1.5 KiB when an inspector waits for the
end of the stream (streamOptimized vmdk's footer), which it is given at ``finish``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Final

from oslo_utils.imageutils import format_inspector as fi

log = logging.getLogger("strato.images")

_PIECE: Final = 64 * 1024
_TAIL_MAX: Final = 64 * 1024  # an inspector wanting a longer end of stream is fed throughout
_SIZED_BY_STREAM: Final = frozenset({"gpt", "luks"})  # oslo counts their size from bytes read
_VMDK_TYPES: Final = (  # to show oslo's lower-cased createType as users write it
    "monolithicSparse", "streamOptimized", "monolithicFlat", "twoGbMaxExtentSparse",
    "twoGbMaxExtentFlat", "vmfs", "vmfsSparse",
)
_CHECK_WORDS: Final = {  # oslo's safety check name -> what a user reads
    "backing_file": "has a backing file",
    "data_file": "has an external data file",
    "unknown_features": "uses unknown incompatible features",
    "descriptor": "has a descriptor that is not accepted",
    "footer": "has an invalid footer",
    "banned": "is a format that is never accepted",
    "mbr": "has an invalid partition table (protective MBR)",
    "version": "has an unsupported version",
    "passphrase": "cannot be opened with the passphrase",  # nosec B105  # an error message
}
_SELF_EXPLAINED: Final = frozenset({"backing_file", "data_file", "banned"})


class InvalidImageData(Exception):
    """The bytes are not an acceptable image of the declared format; str() says why."""


@dataclass(frozen=True, slots=True)
class Inspection:
    """What the bytes are. ``format`` can differ from the declared disk_format only when
    that is ``raw`` (rich content accepted as raw) or has no inspector (``ami``...: raw)."""

    format: str
    virtual_size: int | None


class StreamInspector:
    """Feed it every chunk of an upload, then ``finish()`` for the verdict."""

    def __init__(
        self,
        disk_format: str | None,
        *,
        vmdk_allowed_types: tuple[str, ...] = ("monolithicSparse", "streamOptimized"),
        gpt_safety_checks_nonfatal: bool = False,
    ) -> None:
        self._declared = disk_format
        self._vmdk_allowed = vmdk_allowed_types
        self._gpt_nonfatal = gpt_safety_checks_nonfatal
        self._all = [cls() for name, cls in fi.ALL_FORMATS.items() if name != "raw"]
        self._live: dict[fi.FileInspector, str] = dict.fromkeys(self._all, "busy")
        self._parked: list[tuple[fi.FileInspector, int]] = []  # waiting for the end, from pos
        self._pending = bytearray()  # start of the next piece
        self._eaten = 0  # bytes cut into pieces
        self._total = 0
        self._tail = b""  # last _tail_len bytes, once an inspector is parked
        self._tail_len = 0
        self._finished = False

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk; copies only what inspectors still need, never raises."""
        size = len(chunk)
        if not size:
            return
        self._total += size
        if not self._live:
            if self._tail_len:
                self._keep_tail(chunk)
            return
        view = memoryview(chunk)
        start = 0
        if self._pending:
            start = min(size, _PIECE - len(self._pending))
            self._pending += view[:start]
            if len(self._pending) < _PIECE:
                return
            piece = bytes(self._pending)
            self._pending.clear()
            self._eat(piece)
        while self._live and size - start >= _PIECE:
            self._eat(view[start : start + _PIECE].tobytes())
            start += _PIECE
        if start < size:
            if self._live:
                self._pending += view[start:]
            elif self._tail_len:
                self._keep_tail(view[start:])

    def finish(self) -> Inspection:
        """End of stream: the format, or InvalidImageData saying why the image is refused."""
        if self._finished:
            raise RuntimeError("finish() was already called")
        self._finished = True
        if self._pending:
            self._eat(bytes(self._pending))
            self._pending.clear()
        for inspector, pos in self._parked:
            missing = min(self._total - pos, len(self._tail))
            if missing:
                self._try(inspector, self._tail[-missing:])
        for inspector in self._all:
            inspector.finish()
        return self._verdict()

    def _eat(self, piece: bytes) -> None:
        """One piece to every live inspector; retire those that have what they need.

        An inspector is retired only when it says so after two pieces in a row: its
        post-processing may define a new region one piece after the previous ones filled
        (oslo's vhdx inspector finds its size record that way)."""
        self._eaten += len(piece)
        for inspector, before in list(self._live.items()):
            now = self._try(inspector, piece)
            if now == "failed" or now == before == "done":
                del self._live[inspector]  # a failed one still counts if its header matched
            elif now == before == "tail":
                del self._live[inspector]
                self._parked.append((inspector, self._eaten))
                self._tail_len = max(self._tail_len, _end_length(inspector))
            else:
                self._live[inspector] = now
        if self._tail_len:
            self._keep_tail(piece)

    @staticmethod
    def _try(inspector: fi.FileInspector, data: bytes) -> str:
        """Feed one inspector; like oslo's InspectWrapper, one that throws is dropped."""
        try:
            inspector.eat_chunk(data)
            if inspector.complete:
                return "done"
            regions = [inspector.region(name) for name in inspector.context_info]
            waits_for_end = all(
                r.complete or (isinstance(r, fi.EndCaptureRegion) and r.length <= _TAIL_MAX)
                for r in regions
            )
            return "tail" if waits_for_end else "busy"
        except Exception as exc:
            log.debug("%s inspector gave up: %s", inspector, exc)
            return "failed"

    def _wanted_tail(self) -> int | None:
        """How many final bytes are still needed, or None while inspectors read everything."""
        return None if self._live else self._tail_len

    def _skip(self, n: int) -> None:
        """Count bytes nobody needs (inspect_file seeks over them)."""
        self._total += n

    def _keep_tail(self, data: bytes | memoryview) -> None:
        n = self._tail_len
        self._tail = bytes(data[-n:]) if len(data) >= n else (self._tail + data)[-n:]

    def _verdict(self) -> Inspection:
        matches = [i for i in self._all if _matches(i)]  # failed ones too, as in oslo
        names = sorted(str(i) for i in matches)
        if names == ["gpt", "iso"]:
            matches = [i for i in matches if str(i) == "iso"]
        elif len(matches) > 1:
            raise InvalidImageData(
                f"Image content is ambiguous, multiple formats detected ({', '.join(names)})"
            )
        found = matches[0] if matches else None
        fmt = str(found) if found else "raw"
        declared = self._declared
        size: int | None
        if fmt == declared:
            size = self._virtual_size(found)
        elif fmt == "raw" and declared not in fi.ALL_FORMATS:
            size = None  # ami, aki, ari, ploop...: nothing to inspect, size unknown
        elif declared == "raw":
            size = self._total  # sized as if the format had not been recognised
        elif self._total == 0:
            raise InvalidImageData(f"Image data is empty, which is not a valid {declared} image")
        else:
            raise InvalidImageData(
                f"Image content is {fmt}, which does not match disk_format {declared}"
            )
        if found is not None:
            self._check_safety(found)
        if fmt != declared and declared == "raw":
            log.warning("image declared raw is actually %s; accepted as raw", fmt)
        return Inspection(fmt, size)

    def _virtual_size(self, found: fi.FileInspector | None) -> int | None:
        if found is None:
            return self._total
        try:
            if str(found) in _SIZED_BY_STREAM:  # they stopped counting when retired
                return self._total + found.virtual_size - found.actual_size
            return found.virtual_size or None  # oslo's 0 means unknown
        except Exception as exc:  # Glance: "Image format inspection failed"
            log.warning("%s virtual size unreadable: %r", found, exc)
            raise InvalidImageData(f"{found} image header cannot be read") from None

    def _check_safety(self, found: fi.FileInspector) -> None:
        fmt = str(found)
        if fmt == "vmdk":
            self._check_vmdk_type(found)
        try:
            found.safety_check()
        except fi.SafetyCheckFailed as exc:
            if fmt == "gpt" and self._gpt_nonfatal:
                log.warning("gpt image accepted despite failed safety checks: %s", exc)
                return
            raise InvalidImageData(_describe(fmt, exc.failures)) from None
        except fi.ImageFormatError as exc:
            raise InvalidImageData(f"{fmt} image is truncated or malformed ({exc})") from None
        except Exception as exc:
            log.warning("%s safety check crashed: %r", fmt, exc)
            raise InvalidImageData(f"{fmt} image could not be checked for safety") from None

    def _check_vmdk_type(self, found: fi.FileInspector) -> None:
        kind = getattr(found, "vmdktype", None)
        if kind is None or kind == "formatnotfound":
            return  # the descriptor check refuses it, with its reason
        if kind not in {t.lower() for t in self._vmdk_allowed}:
            shown = next((t for t in _VMDK_TYPES if t.lower() == kind), kind)
            allowed = ", ".join(self._vmdk_allowed) or "none"
            raise InvalidImageData(
                f"vmdk image of type {shown} is not allowed (allowed: {allowed})"
            )


def inspect_file(
    path: str | os.PathLike[str], disk_format: str | None, **options: Any
) -> Inspection:
    """The same verdict on a file; reads only what inspectors need, skips the middle."""
    inspector = StreamInspector(disk_format, **options)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        while chunk := f.read(1 << 20):
            inspector.feed(chunk)
            wanted = inspector._wanted_tail()
            if wanted is not None and (skip := size - f.tell() - wanted) > 0:
                f.seek(skip, os.SEEK_CUR)
                inspector._skip(skip)
    return inspector.finish()


def _matches(inspector: fi.FileInspector) -> bool:
    try:
        return bool(inspector.format_match)
    except Exception as exc:  # Glance refuses too ("Image format inspection failed")
        log.warning("%s inspector cannot tell: %r", inspector, exc)
        raise InvalidImageData(f"Image content could not be inspected as {inspector}") from None


def _end_length(inspector: fi.FileInspector) -> int:
    regions = (inspector.region(name) for name in inspector.context_info)
    return max(r.length for r in regions if isinstance(r, fi.EndCaptureRegion))


def _describe(fmt: str, failures: dict[str, Exception]) -> str:
    parts = []
    for name, exc in failures.items():
        check = name.removeprefix("inner_")
        words = _CHECK_WORDS.get(check, f"failed the {check.replace('_', ' ')} check")
        parts.append(words if check in _SELF_EXPLAINED else f"{words} ({exc})")
    return f"{fmt} image {'; '.join(parts)}: refused"
