"""PAX member headers, written directly: the server's archive download and the client's bulk
upload both write one per small file, and `tarfile.TarInfo.tobuf` took 33-35 µs for it, a
fifth of an archive download's time per small object and 0.18 s of a 5,000-file upload's
client CPU; this writes the same blocks in a few. Standard library only: the client and the
server share it."""

from __future__ import annotations

BLOCK = 512
#: The largest number an octal ustar field of 12 bytes holds; a size or time beyond it
#: (or a negative time) goes in the PAX records, the field left 0, as tarfile does.
USTAR_MAX = 8**11 - 1


def _ustar(name: bytes, size: int, mtime: int, kind: bytes) -> bytes:
    block = bytearray(BLOCK)
    block[0:len(name)] = name
    block[100:124] = b"0000644\x000000000\x000000000\x00"      # mode, uid, gid
    block[124:148] = b"%011o\x00%011o\x00" % (size, mtime)
    block[148:156] = b"        "                              # checksum: spaces while summed
    block[156:157] = kind
    block[257:265] = b"ustar\x0000"
    block[148:155] = b"%06o\x00" % sum(block)
    return bytes(block)


def _record(key: bytes, value: bytes) -> bytes:
    """`<length> <key>=<value>\\n`, the length counting its own digits."""
    body = b" %s=%s\n" % (key, value)
    length = len(body) + 1
    while len(body) + len(str(length)) != length:
        length = len(body) + len(str(length))
    return b"%d%s" % (length, body)


def pax_header(name: str, size: int, mtime: int, records: dict[str, str]) -> bytes:
    """The header blocks of one regular file (mode 0644): an extended header with `records`
    (and `path`, `size`, `mtime` where ustar cannot hold them), then its ustar block.
    Values that are not UTF-8 go as bytes under `hdrcharset=BINARY`, as tarfile writes."""
    raw_name = name.encode("utf-8", "surrogateescape")
    pax = dict(records)
    if len(raw_name) > 100 or not name.isascii():
        pax["path"] = name
    if not 0 <= size <= USTAR_MAX:
        pax["size"] = str(size)
        size = 0
    if not 0 <= mtime <= USTAR_MAX:
        pax["mtime"] = str(mtime)
        mtime = 0
    if not pax:
        return _ustar(raw_name, size, mtime, b"0")
    try:
        encoded = [(k.encode(), v.encode()) for k, v in pax.items()]
        prefix = b""
    except UnicodeEncodeError:
        encoded = [(k.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape"))
                   for k, v in pax.items()]
        prefix = _record(b"hdrcharset", b"BINARY")
    data = prefix + b"".join(_record(k, v) for k, v in encoded)
    return b"".join((_ustar(b"././@PaxHeader", len(data), mtime, b"x"), data,
                     b"\0" * (-len(data) % BLOCK), _ustar(raw_name[:100], size, mtime, b"0")))
