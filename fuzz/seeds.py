"""Starting inputs for the targets that read raw bytes, made here so the checkout holds no
binary corpus: a few valid documents the fuzzer mutates (the others start from nothing)."""

from __future__ import annotations

import io
import json
import tarfile


def _tar(members: dict[str, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                info.size = 0
            tar.addfile(info, io.BytesIO(data if info.size else b""))
    return out.getvalue()


def seeds(target: str) -> list[bytes]:
    if target == "tar":
        plain = _tar({"c/a.txt": b"hello", "c/d/": b"", "c/é.txt": b"x" * 600})
        gnu = _tar({"c/" + "n" * 120: b"long", "c/x": b"1"}, tarfile.GNU_FORMAT)
        ustar = _tar({"c/" + "p" * 90 + "/q": b"u"}, tarfile.USTAR_FORMAT)
        out = io.BytesIO()   # a PAX size record (once a 500 when not a number)
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("c/p")
            info.size, info.pax_headers = 3, {"size": "3", "mtime": "1.5"}
            tar.addfile(info, io.BytesIO(b"abc"))
        return [b"\x00" + plain, b"\x00" + gnu, b"\x00" + ustar, b"\x01G" + plain,
                b"\x02B" + gnu, b"\x00" + out.getvalue()]
    if target == "slo":
        return [json.dumps(doc).encode() for doc in (
            [{"path": "/c/s1", "etag": None, "size_bytes": 1}, {"path": "c/s2"}],
            [{"path": "/c/s1", "range": "0-9"}, {"data": "aGVsbG8="}],
            [{"path": "/c/s1", "etag": "\"abc\"", "size_bytes": "10", "range": "-5"}],
        )]
    if target == "blob_path":
        return [b"0123456789abcdef0123456789abcdef", b"../" * 11 + b"xx"]
    return []
