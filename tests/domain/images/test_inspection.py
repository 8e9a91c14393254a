"""Uploaded disk images are what they claim to be, and nothing that reaches outside itself.

Real images come from qemu-img (qemu-utils); the few formats qemu-img cannot make (ISO, a
protective MBR) are built byte by byte or with xorriso when it is there.
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from strato.domain.images.inspection import (
    Inspection,
    InvalidImageData,
    StreamInspector,
    inspect_file,
)

MiB = 1 << 20
JPEG_HEADER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
JPEG = JPEG_HEADER + bytes(range(256)) * 40 + b"\xff\xd9"


def qemu_img(*args: str | Path) -> None:
    if shutil.which("qemu-img") is None:
        pytest.fail("qemu-img is needed to make test images: apt-get install qemu-utils")
    subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True)


def qemu_virtual_size(path: Path) -> int:
    out = subprocess.run(
        ["qemu-img", "info", "--output=json", str(path)], check=True, capture_output=True
    ).stdout
    return int(json.loads(out)["virtual-size"])


def protective_mbr(*types: int) -> bytes:
    """A 512-byte MBR whose partition entries have these types (0xEE: GPT's protective one)."""
    entries = b"".join(
        struct.pack("<B3BB3BII", 0, 0, 2, 0, kind, 0xFF, 0xFF, 0xFF, 1 + 100 * i, 2047)
        for i, kind in enumerate(types)
    )
    return bytes(446) + entries.ljust(64, b"\0") + b"\x55\xaa"


def luks_header(version: int) -> bytes:
    """A LUKS header whose payload starts at 2 MiB (qemu-img makes LUKS v1 too, but measures
    the CPU for its key derivation first, which fails now and then on a busy machine)."""
    fields = (b"LUKS\xba\xbe", version, b"aes", b"xts-plain64", b"sha256", 4096, 64)
    head = struct.pack(">6sH32s32s32sII", *fields) + bytes(20 + 32) + struct.pack(">I", 1000)
    slot = struct.pack(">II32sII", 0x0000DEAD, 0, bytes(32), 8, 4000)  # disabled key slot
    return head.ljust(208, b"\0") + slot * 8


def make_iso(path: Path) -> None:
    """xorriso's ISO when available, else a bare ISO 9660 volume: 16 empty sectors, a primary
    volume descriptor saying 24 blocks of 2048 bytes, a set terminator."""
    if shutil.which("xorriso"):
        src = path.parent / "iso-content"
        src.mkdir()
        (src / "hello.txt").write_text("hello\n")
        subprocess.run(
            ["xorriso", "-as", "mkisofs", "-quiet", "-o", str(path), str(src)],
            check=True,
            capture_output=True,
        )
        return
    pvd = bytearray(2048)
    pvd[0:7] = b"\x01CD001\x01"
    pvd[80:88] = struct.pack("<I", 24) + struct.pack(">I", 24)
    pvd[128:132] = struct.pack("<H", 2048) + struct.pack(">H", 2048)
    end = b"\xffCD001\x01".ljust(2048, b"\0")
    path.write_bytes(bytes(16 * 2048) + pvd + end + bytes(6 * 2048))


def with_footer(src: Path, dst: Path, eos: bytes = bytes(512)) -> Path:
    """A streamOptimized vmdk laid out as VMware writes it (qemu-img does not): the header says
    the grain directory is at the end, where a footer marker, the real header and the
    end-of-stream marker follow."""
    data = src.read_bytes()
    at_end = data[:56] + b"\xff" * 8 + data[64:512]
    marker = struct.pack("<QII", 1, 0, 3).ljust(512, b"\0")
    dst.write_bytes(at_end + data[512:] + marker + data[:512] + eos)
    return dst


def patched(src: Path, dst: Path, offset: int, data: bytes) -> Path:
    raw = bytearray(src.read_bytes())
    raw[offset : offset + len(data)] = data
    dst.write_bytes(raw)
    return dst


@pytest.fixture(scope="module")
def img(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every image the tests need, made once."""
    d = tmp_path_factory.mktemp("images")
    p = {name: d / name for name in ("base.raw", "data.raw", "random.raw")}
    qemu_img("create", "-f", "raw", p["base.raw"], "10M")
    p["random.raw"].write_bytes(random.Random(7).randbytes(MiB + 12345))
    for fmt, name, opts in [
        ("qcow2", "clean.qcow2", []),
        ("vmdk", "sparse.vmdk", []),
        ("vpc", "clean.vhd", []),
        ("vhdx", "clean.vhdx", []),
        ("vdi", "clean.vdi", []),
        ("qed", "clean.qed", []),
        ("vmdk", "flat.vmdk", ["-o", "subformat=monolithicFlat"]),
        ("qcow2", "data-file.qcow2", ["-o", f"data_file={p['data.raw']}"]),
    ]:
        p[name] = d / name
        qemu_img("create", "-f", fmt, *opts, p[name], "10M")
    p["backing.qcow2"] = d / "backing.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", p["base.raw"], "-F", "raw", p["backing.qcow2"])
    # Real data, so the footer sits far past the header, where only the stream's end has it.
    p["stream.vmdk"] = d / "stream.vmdk"
    qemu_img("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized",
             p["random.raw"], p["stream.vmdk"])
    p["luks"] = d / "clean.luks"
    p["luks"].write_bytes(luks_header(version=1).ljust(2 * MiB, b"\0") + bytes(MiB))
    p["luks2"] = d / "v2.luks"
    p["luks2"].write_bytes(luks_header(version=2).ljust(2 * MiB, b"\0") + bytes(MiB))
    p["iso"] = d / "clean.iso"
    make_iso(p["iso"])
    p["iso+gpt"] = patched(p["iso"], d / "hybrid.iso", 0, protective_mbr(0xEE))
    p["gpt"] = d / "disk.gpt"
    p["gpt"].write_bytes(protective_mbr(0xEE) + bytes(MiB - 512))
    p["bad-mbr.gpt"] = patched(p["gpt"], d / "bad-mbr.gpt", 0, protective_mbr(0xEE, 0x83))
    # bit 5 of the incompatible features: no qemu knows it
    p["unknown-feature.qcow2"] = patched(p["clean.qcow2"], d / "unknown.qcow2", 0x4F, b"\x20")
    vds = bytes.fromhex("2442a52f1bcd7648b2115dbed83bf4b8")  # vhdx "virtual disk size" entry
    at = p["clean.vhdx"].read_bytes().index(vds) + 20  # its length: 8 bytes, made 16
    p["bad-size.vhdx"] = patched(p["clean.vhdx"], d / "bad-size.vhdx", at, b"\x10")
    p["qcow2+mbr"] = patched(p["clean.qcow2"], d / "qcow2-mbr.qcow2", 510, b"\x55\xaa")
    p["footer.vmdk"] = with_footer(p["stream.vmdk"], d / "footer.vmdk")
    p["bad-eos.vmdk"] = with_footer(p["stream.vmdk"], d / "bad-eos.vmdk", bytes(511) + b"\1")
    return p


def streamed(
    data: bytes | Path, disk_format: str | None, sizes: Callable[[], int] = lambda: MiB
) -> Inspection:
    """Feed the bytes as an upload would, in chunks of the given sizes."""
    raw = data.read_bytes() if isinstance(data, Path) else data
    inspector = StreamInspector(disk_format)
    view = memoryview(raw)
    pos = 0
    while pos < len(raw):
        n = sizes()
        inspector.feed(bytes(view[pos : pos + n]))
        pos += n
    return inspector.finish()


def refusal(data: bytes | Path, disk_format: str | None, **options: Any) -> str:
    """The reason given for refusing, checked the same on a stream and on a file."""
    with pytest.raises(InvalidImageData) as streaming:
        inspector = StreamInspector(disk_format, **options)
        inspector.feed(data.read_bytes() if isinstance(data, Path) else data)
        inspector.finish()
    if isinstance(data, Path):
        with pytest.raises(InvalidImageData) as on_file:
            inspect_file(data, disk_format, **options)
        assert str(on_file.value) == str(streaming.value)
    return str(streaming.value)


@pytest.mark.parametrize(
    ("name", "disk_format"),
    [
        ("clean.qcow2", "qcow2"),
        ("sparse.vmdk", "vmdk"),
        ("stream.vmdk", "vmdk"),
        ("clean.vhd", "vhd"),
        ("clean.vhdx", "vhdx"),
        ("clean.vdi", "vdi"),
    ],
)
def test_clean_images_are_their_format_with_qemus_virtual_size(
    img: dict[str, Path], name: str, disk_format: str
) -> None:
    expected = Inspection(disk_format, qemu_virtual_size(img[name]))
    assert streamed(img[name], disk_format) == expected
    assert inspect_file(img[name], disk_format) == expected


def test_iso_is_iso_even_with_a_gpt_in_front(img: dict[str, Path]) -> None:
    size = img["iso"].stat().st_size
    assert inspect_file(img["iso"], "iso") == Inspection("iso", size)
    assert streamed(img["iso+gpt"], "iso") == Inspection("iso", size)


def test_raw_is_raw_and_sized_by_its_bytes(img: dict[str, Path]) -> None:
    assert streamed(img["random.raw"], "raw") == Inspection("raw", MiB + 12345)
    assert inspect_file(img["base.raw"], "raw") == Inspection("raw", 10 * MiB)


def test_qcow2_with_a_backing_file_is_refused_even_declared_raw(img: dict[str, Path]) -> None:
    for declared in ("qcow2", "raw"):
        assert refusal(img["backing.qcow2"], declared) == "qcow2 image has a backing file: refused"


def test_qcow2_with_an_external_data_file_is_refused(img: dict[str, Path]) -> None:
    reason = refusal(img["data-file.qcow2"], "qcow2")
    assert reason == "qcow2 image has an external data file: refused"


def test_qcow2_with_unknown_incompatible_features_is_refused(img: dict[str, Path]) -> None:
    assert "unknown incompatible features" in refusal(img["unknown-feature.qcow2"], "qcow2")


def test_vmdk_naming_another_file_is_refused(img: dict[str, Path]) -> None:
    for declared in ("vmdk", "raw"):
        reason = refusal(img["flat.vmdk"], declared)
        assert reason.startswith("vmdk image of type monolithicFlat is not allowed")


def test_vmdk_types_can_be_narrowed(img: dict[str, Path]) -> None:
    reason = refusal(img["stream.vmdk"], "vmdk", vmdk_allowed_types=("monolithicSparse",))
    assert reason == (
        "vmdk image of type streamOptimized is not allowed (allowed: monolithicSparse)"
    )
    assert "(allowed: none)" in refusal(img["sparse.vmdk"], "vmdk", vmdk_allowed_types=())


def test_stream_optimized_vmdk_footer_is_read_at_the_end_of_the_stream(
    img: dict[str, Path],
) -> None:
    expected = Inspection("vmdk", qemu_virtual_size(img["stream.vmdk"]))
    assert streamed(img["footer.vmdk"], "vmdk") == expected
    assert inspect_file(img["footer.vmdk"], "vmdk") == expected
    reason = refusal(img["bad-eos.vmdk"], "vmdk")
    assert reason == "vmdk image has an invalid footer (End-of-stream marker is invalid): refused"


def test_luks_v1_is_sized_by_its_payload_and_v2_is_refused(img: dict[str, Path]) -> None:
    assert streamed(img["luks"], "luks") == Inspection("luks", MiB)
    assert inspect_file(img["luks"], "luks") == Inspection("luks", MiB)
    assert refusal(img["luks2"], "luks") == (
        "luks image has an unsupported version (LUKS version 2 is not supported): refused"
    )


def test_qed_is_always_refused(img: dict[str, Path]) -> None:
    for declared in ("qed", "raw"):
        assert refusal(img["clean.qed"], declared) == (
            "qed image is a format that is never accepted: refused"
        )


def test_content_of_another_format_is_refused_naming_both(img: dict[str, Path]) -> None:
    reason = refusal(img["clean.qcow2"], "vmdk")
    assert reason == "Image content is qcow2, which does not match disk_format vmdk"
    assert refusal(img["clean.vhdx"], "qcow2") == (
        "Image content is vhdx, which does not match disk_format qcow2"
    )


def test_jpeg_or_random_bytes_declared_qcow2_are_refused(img: dict[str, Path]) -> None:
    assert refusal(JPEG, "qcow2") == "Image content is raw, which does not match disk_format qcow2"
    assert "does not match disk_format qcow2" in refusal(img["random.raw"], "qcow2")


def test_rich_content_declared_raw_is_accepted_as_raw_like_glance(img: dict[str, Path]) -> None:
    size = img["clean.qcow2"].stat().st_size
    assert streamed(img["clean.qcow2"], "raw") == Inspection("qcow2", size)


@pytest.mark.parametrize("declared", ["ami", "ari", "aki", "ploop", None])
def test_formats_without_an_inspector_take_raw_content_only(
    img: dict[str, Path], declared: str | None
) -> None:
    assert streamed(img["random.raw"], declared) == Inspection("raw", None)
    assert refusal(img["clean.qcow2"], declared) == (
        f"Image content is qcow2, which does not match disk_format {declared}"
    )


def test_empty_data_is_no_qcow2_but_is_an_empty_raw_image() -> None:
    assert refusal(b"", "qcow2") == "Image data is empty, which is not a valid qcow2 image"
    assert StreamInspector("raw").finish() == Inspection("raw", 0)


def test_content_matching_two_formats_is_refused(img: dict[str, Path]) -> None:
    reason = refusal(img["qcow2+mbr"], "qcow2")
    assert reason == "Image content is ambiguous, multiple formats detected (gpt, qcow2)"


def test_gpt_partition_table_is_checked(img: dict[str, Path]) -> None:
    assert inspect_file(img["gpt"], "gpt") == Inspection("gpt", MiB)
    reason = refusal(img["bad-mbr.gpt"], "gpt")
    assert reason == (
        "gpt image has an invalid partition table (protective MBR) "
        "(GPT MBR defines invalid extra partitions): refused"
    )
    # raw users of such disks are refused too, as in Glance, unless told the check is advisory
    assert "protective MBR" in refusal(img["bad-mbr.gpt"], "raw")
    lenient = inspect_file(img["bad-mbr.gpt"], "gpt", gpt_safety_checks_nonfatal=True)
    assert lenient == Inspection("gpt", MiB)


def test_a_header_the_inspector_chokes_on_is_refused_not_taken_for_raw() -> None:
    # vmdk magic, grain directory "at the end", descriptor at sector 5 (oslo gives up on it)
    header = struct.pack("<4sIIQQQQIQQ", b"KDMV", 1, 0, 2048, 128, 5, 20, 512, 0, 2**64 - 1)
    inspector = StreamInspector("raw")
    for chunk in (header[:3], header[3:], bytes(600)):
        inspector.feed(chunk)  # never raises for odd data
    with pytest.raises(InvalidImageData) as refused:
        inspector.finish()
    assert str(refused.value).startswith("vmdk image is truncated or malformed")


def test_content_an_inspector_cannot_decide_on_is_refused_as_in_glance() -> None:
    # ASCII then UTF-8: oslo's vmdk inspector takes it for a text descriptor it cannot decode
    text = b"#" * 600 + "é".encode() + b"\n" * 70_000
    assert refusal(text, "raw") == "Image content could not be inspected as vmdk"


def test_a_header_oslo_cannot_size_is_refused_not_a_crash(img: dict[str, Path]) -> None:
    assert refusal(img["bad-size.vhdx"], "vhdx") == "vhdx image header cannot be read"


def chunk_sizes(seed: int) -> Iterator[int]:
    rng = random.Random(seed)
    while True:
        yield rng.choice((1, 2, 7, 511, 512, 513, 4096, 65535, 65536, 65537, 300_000, MiB))


@pytest.mark.parametrize(
    "name",
    [
        "clean.qcow2", "sparse.vmdk", "stream.vmdk", "footer.vmdk", "bad-eos.vmdk", "flat.vmdk",
        "clean.vhd", "clean.vhdx", "clean.vdi", "iso+gpt", "backing.qcow2", "qcow2+mbr",
        "random.raw",
    ],
)
def test_verdict_does_not_depend_on_chunking(img: dict[str, Path], name: str) -> None:
    def verdict(sizes: Callable[[], int] | None) -> Inspection | str:
        try:
            if sizes is None:
                return inspect_file(img[name], "raw")
            return streamed(img[name], "raw", sizes)
        except InvalidImageData as exc:
            return str(exc)

    expected = verdict(None)
    for seed in range(3):
        assert verdict(chunk_sizes(seed).__next__) == expected
    if img[name].stat().st_size <= 64 * 1024:
        assert verdict(lambda: 1) == expected


def test_memory_stays_bounded_whatever_the_stream_size() -> None:
    chunk = random.Random(3).randbytes(MiB)
    inspector = StreamInspector("raw")
    tracemalloc.start()
    try:
        for _ in range(64):
            inspector.feed(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert inspector.finish() == Inspection("raw", 64 * MiB)
    assert peak < MiB // 2
