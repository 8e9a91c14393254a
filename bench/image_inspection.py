"""What image inspection adds to an upload: StreamInspector.feed over a stream of chunks.

    python -m bench.image_inspection [--gib 1] [--oslo]

Feeds GiB of random bytes in 1 MiB and 64 KiB chunks, declared raw, qcow2 and vmdk (the last
two with a real header in front, and a streamOptimized vmdk's footer at the end), and prints
the time spent in feed() and finish() per GiB and per chunk, after subtracting the bare loop.
The steady-state cost is timed by feeding the stream again to an inspector that has settled.
--oslo also times oslo's InspectWrapper on the same stream (every inspector sees every chunk:
what Glance does).
"""

from __future__ import annotations

import argparse
import random
import struct
import time
from collections.abc import Callable, Iterator

from oslo_utils.imageutils import format_inspector as fi

from strato.domain.images.inspection import InvalidImageData, StreamInspector

GiB = 1 << 30
POOL = 16 << 20  # distinct random bytes, cycled: the data's content does not matter after its start


def qcow2_header(virtual_size: int) -> bytes:
    """The 104-byte header of a version 3 qcow2, padded to one 64 KiB cluster."""
    fields = (b"QFI\xfb", 3, 0, 0, 16, virtual_size, 0, 1, 3 << 16, 1 << 16, 1, 0, 0, 0, 0, 0)
    return struct.pack(">4sIQIIQIIQQIIQQQQII", *fields, 4, 104).ljust(64 << 10, b"\0")


def vmdk_parts(virtual_size: int) -> tuple[bytes, bytes]:
    """Start and end of a streamOptimized vmdk as VMware writes it: header and descriptor,
    then (after the grains) the footer marker, the footer, the end-of-stream marker."""

    def header(gd_offset: int) -> bytes:
        fields = (b"KDMV", 3, 0x30001, virtual_size // 512, 128, 1, 20, 512, 0, gd_offset)
        return struct.pack("<4sIIQQQQIQQ", *fields).ljust(512, b"\0")

    descriptor = (
        '# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n'
        f'createType="streamOptimized"\nRW {virtual_size // 512} SPARSE "disk.vmdk"\n'
    ).encode()
    marker = struct.pack("<QII", 1, 0, 3).ljust(512, b"\0")
    head = header(2**64 - 1) + descriptor.ljust(20 * 512, b"\0")
    return head, marker + header(64) + bytes(512)


def chunks(total: int, size: int, head: bytes, tail: bytes) -> list[bytes]:
    pool = random.Random(1).randbytes(POOL)
    distinct = [pool[i : i + size] for i in range(0, POOL, size)]
    out = [head + distinct[0][len(head) :]] if head else []
    while len(out) * size < total:
        out.extend(distinct[: (total - len(out) * size) // size])
    if tail:
        out[-1] = out[-1][: -len(tail)] + tail
    return out


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def strato(data: list[bytes], declared: str) -> Callable[[], str]:
    def run() -> str:
        inspector = StreamInspector(declared)
        for chunk in data:
            inspector.feed(chunk)
        try:
            return repr(inspector.finish())
        except InvalidImageData as exc:
            return f"refused: {exc}"

    return run


def oslo(data: list[bytes]) -> Callable[[], object]:
    def run() -> None:
        wrapper = fi.InspectWrapper(iter(data))  # type: ignore[arg-type]
        for _ in wrapper:
            pass
        wrapper.close()

    return run


def bare(data: list[bytes]) -> Callable[[], object]:
    def run() -> None:
        for _ in data:
            pass

    return run


def cases(gib: float) -> Iterator[tuple[str, str, list[bytes]]]:
    total = int(gib * GiB)
    for size in (1 << 20, 64 << 10):
        for declared, (head, tail) in (
            ("raw", (b"", b"")),
            ("qcow2", (qcow2_header(total), b"")),
            ("vmdk", vmdk_parts(total)),  # its inspector waits for the end of the stream
        ):
            label = f"{size >> 10} KiB chunks, {declared}"
            yield label, declared, chunks(total, size, head, tail)


def settled(data: list[bytes], declared: str) -> Callable[[], object]:
    """Feed the stream again to an inspector that has already seen it: steady state only."""
    inspector = StreamInspector(declared)
    for chunk in data:
        inspector.feed(chunk)

    def run() -> None:
        for chunk in data:
            inspector.feed(chunk)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--oslo", action="store_true")
    args = parser.parse_args()
    for label, declared, data in cases(args.gib):
        base = min(timed(bare(data)) for _ in range(3))
        total = min(timed(strato(data, declared)) for _ in range(3)) - base
        steady = (min(timed(settled(data, declared)) for _ in range(3)) - base) / len(data)
        line = (
            f"{label:30} {total / args.gib * 1e3:6.2f} ms/GiB"
            f" ({total / args.gib * 100:.2f}% of 1 s):"
            f" {(total - steady * len(data)) * 1e3:5.2f} ms once (detection, finish)"
            f" + {steady * 1e9:4.0f} ns/chunk"
        )
        if args.oslo:
            wrapped = timed(oslo(data)) - base
            line += f"; oslo InspectWrapper {wrapped / args.gib * 1e3:6.1f} ms/GiB"
        print(line, flush=True)
        print(f"{'':30} verdict: {strato(data, declared)()}", flush=True)


if __name__ == "__main__":
    main()
