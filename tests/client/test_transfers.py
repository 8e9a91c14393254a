"""Large transfers against a real Strato, some through a fault-injecting proxy: parallel SLO
and DLO uploads, parallel ranged downloads, resume after a kill, retries that honour
Retry-After, and damaged bytes caught by their MD5 in both directions."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import strato.client as sc
from strato.client.trees import TreeResult, Wanted, download_objects, even_share
from tests.client.conftest import arun, make_tree
from tests.client.faults import FaultProxy, Rule
from tests.harness import Server

MiB = 2**20
SMALL = sc.TransferOptions(segment_size=MiB, threshold=MiB, piece_size=MiB, concurrency=3,
                           chunk_size=256 * 1024)


def _file(where: Path, size: int) -> Path:
    path = where / f"data-{size}.bin"
    path.write_bytes(os.urandom(size))
    return path


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _login(server: Server) -> dict[str, str]:
    storage_url, token = server.auth_v1("test:tester", "testing")
    return {"token": token, "object_store_endpoint_override": storage_url}


@pytest.fixture
def proxy(server: Server) -> Iterator[FaultProxy]:
    faults = FaultProxy(server.url).start()
    yield faults
    faults.stop()


def _via(proxy: FaultProxy, server: Server) -> dict[str, str]:
    login = _login(server)
    login["object_store_endpoint_override"] = login["object_store_endpoint_override"].replace(
        server.url, proxy.url)
    return login


def _put_lines(server: Server, since: int, part: str) -> int:
    text = server.log_path.read_text(errors="replace")[since:]
    return sum(1 for line in text.splitlines() if '"PUT ' in line and part in line)


@pytest.mark.parametrize("use_slo", [True, False])
def test_segmented_upload_and_parallel_download(server: Server, tmp_path: Path,
                                                use_slo: bool) -> None:
    source = _file(tmp_path, 5 * MiB + 12345)
    container = f"big-{uuid.uuid4().hex[:8]}"
    options = sc.TransferOptions(**{**SMALL.__dict__, "use_slo": use_slo})

    async def work() -> tuple[sc.UploadResult, sc.DownloadResult, dict[str, str]]:
        async with sc.connect(**_login(server)) as cloud:
            await cloud.objects.create_container(container)
            up = await cloud.upload(container, "disk.img", source, options=options)
            down = await cloud.download(container, "disk.img", tmp_path / "back.img",
                                        options=options)
            return up, down, await cloud.objects.head(container, "disk.img")

    up, down, head = arun(work())
    assert up.segments == 6 and up.reused == 0
    assert down.pieces == 6 and down.size == source.stat().st_size
    assert _md5(tmp_path / "back.img") == _md5(source)
    assert ("X-Static-Large-Object" in head) is use_slo
    assert ("X-Object-Manifest" in head) is not use_slo
    assert int(float(head["X-Object-Meta-Mtime"])) == int(source.stat().st_mtime)
    assert not list(tmp_path.glob("*.part*"))


def test_upload_killed_midway_resumes_without_resending_segments(
        server: Server, tmp_path: Path) -> None:
    source = _file(tmp_path, 24 * MiB)
    container = f"resume-{uuid.uuid4().hex[:8]}"
    login = _login(server)
    script = textwrap.dedent(f"""
        import strato.client as sc
        from strato.client import blocking
        options = sc.TransferOptions(segment_size={MiB}, threshold={MiB}, concurrency=1)
        with blocking.connect(token={login['token']!r},
                              object_store_endpoint_override={
                                  login['object_store_endpoint_override']!r}) as cloud:
            cloud.objects.create_container({container!r})
            cloud.upload({container!r}, "big", {str(source)!r}, options=options)
        """)
    child = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    segments = f"{container}_segments"
    store_url = login["object_store_endpoint_override"]
    headers = {"X-Auth-Token": login["token"]}
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline and child.poll() is None:
        listed = httpx.get(f"{store_url}/{segments}", headers=headers)
        done = len(listed.text.split()) if listed.status_code == 200 else 0
        if done >= 5:
            break
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert 5 <= done < 24, f"the upload was not caught midway ({done} segments)"
    kept = len(httpx.get(f"{store_url}/{segments}", headers=headers).text.split())
    since = len(server.log_path.read_text(errors="replace"))

    async def resume() -> sc.UploadResult:
        async with sc.connect(**login) as cloud:
            return await cloud.upload(container, "big", source, options=SMALL)

    result = arun(resume())
    time.sleep(0.5)  # the access log is written at the end of the server's loop turn
    assert result.reused == kept and result.segments == 24
    assert _put_lines(server, since, f"/{segments}/") == 24 - kept
    body = httpx.get(f"{store_url}/{container}/big", headers=headers).content
    assert hashlib.md5(body).hexdigest() == _md5(source)


class StopAfter:
    def __init__(self, limit: int) -> None:
        self.limit, self.seen = limit, 0

    def start(self, name: str, total: int | None) -> None:
        pass

    def advance(self, name: str, done: int) -> None:
        self.seen += done
        if self.seen >= self.limit:
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of a transfer

    def finish(self, name: str) -> None:
        pass


def _interrupted_download(server: Server, tmp_path: Path, stop_after: int
                          ) -> tuple[Path, str, Path, sc.TransferOptions]:
    """A 12-piece segmented object whose download stopped after `stop_after` bytes."""
    source = _file(tmp_path, 12 * MiB)
    container = f"dl-{uuid.uuid4().hex[:8]}"
    target = tmp_path / "out.bin"
    options = sc.TransferOptions(**{**SMALL.__dict__, "concurrency": 1})

    async def first() -> None:
        async with sc.connect(**_login(server)) as cloud:
            await cloud.objects.create_container(container)
            await cloud.upload(container, "obj", source, options=options)
            await cloud.download(container, "obj", target, options=options,
                                 progress=StopAfter(stop_after))

    with pytest.raises(KeyboardInterrupt):
        arun(first())
    assert not target.exists() and target.with_name("out.bin.part").exists()
    return source, container, target, options


def test_resumed_download_fetches_again_a_piece_the_disk_lost(
        server: Server, tmp_path: Path) -> None:
    """Pieces are not flushed one by one (a power cut may lose bytes the state file counts
    as done): a resume reads back each reused piece and fetches again one that changed."""
    source, container, target, options = _interrupted_download(server, tmp_path, 4 * MiB + 1000)
    part = target.with_name("out.bin.part")
    with open(part, "r+b") as f:  # what a lost write leaves: zeros where piece 2 was
        f.seek(2 * MiB + 4096)
        f.write(bytes(8192))

    async def again() -> sc.DownloadResult:
        async with sc.connect(**_login(server)) as cloud:
            return await cloud.download(container, "obj", target, options=options)

    result = arun(again())
    assert result.reused == 3 and result.pieces == 12
    assert _md5(target) == _md5(source)


def test_download_cancelled_midway_refetches_only_missing_pieces(
        server: Server, tmp_path: Path) -> None:
    source, container, target, options = _interrupted_download(server, tmp_path, 4 * MiB + 1000)

    since = len(server.log_path.read_text(errors="replace"))

    async def again() -> sc.DownloadResult:
        async with sc.connect(**_login(server)) as cloud:
            return await cloud.download(container, "obj", target, options=options)

    result = arun(again())
    time.sleep(0.5)
    assert result.reused == 4 and result.pieces == 12
    gets = [line for line in server.log_path.read_text(errors="replace")[since:].splitlines()
            if '"GET ' in line and f'/{container}/obj"' in line]   # not the manifest's GET
    assert len(gets) == 8
    assert _md5(target) == _md5(source)


def test_dropped_connection_continues_from_the_byte_it_reached(
        server: Server, proxy: FaultProxy, tmp_path: Path) -> None:
    source = _file(tmp_path, 3 * MiB)
    container = f"cut-{uuid.uuid4().hex[:8]}"
    proxy.rules.append(Rule("GET", f"/{container}/obj", "cut", after_bytes=300_000,
                            range_has=f"bytes={MiB}-"))

    async def work() -> None:
        async with sc.connect(**_via(proxy, server)) as cloud:
            await cloud.objects.create_container(container)
            await cloud.upload(container, "obj", source, options=SMALL)
            await cloud.download(container, "obj", tmp_path / "out", options=SMALL)

    arun(work())
    assert _md5(tmp_path / "out") == _md5(source)
    ranges = [r for m, p, r in proxy.log if m == "GET" and p.endswith("/obj")]
    assert f"bytes={MiB + 300_000}-{2 * MiB - 1}" in ranges, ranges


def test_503_and_429_with_retry_after_are_waited_for(server: Server, proxy: FaultProxy,
                                                     tmp_path: Path) -> None:
    container = f"busy-{uuid.uuid4().hex[:8]}"
    proxy.rules += [Rule("PUT", f"/{container}/a", "status", status=503, retry_after="1"),
                    Rule("PUT", f"/{container}/a", "status", status=429, retry_after="1")]

    async def work() -> float:
        async with sc.connect(**_via(proxy, server)) as cloud:
            await cloud.objects.create_container(container)
            started = time.monotonic()
            await cloud.objects.put(container, "a", b"payload")
            return time.monotonic() - started

    elapsed = arun(work())
    assert elapsed >= 2.0
    assert proxy.count("PUT", f"/{container}/a") == 3


def test_a_full_cloud_is_not_retried_and_stops_a_tree_upload(server: Server,
                                                             proxy: FaultProxy,
                                                             tmp_path: Path) -> None:
    """507 Insufficient Storage: no room appears in the seconds a retry waits, so neither a
    PUT nor a tree upload tries again (each file of a tree was sent six times, with backoff:
    minutes of refused tries before the command said anything)."""
    container = f"full-{uuid.uuid4().hex[:8]}"
    proxy.rules.append(Rule("PUT", f"/{container}/", "status", status=507, times=10**6))
    tree = make_tree(tmp_path / "tree", {f"d{i % 4}/f{i}.txt": os.urandom(100)
                                         for i in range(40)})

    async def single() -> None:
        async with sc.connect(**_via(proxy, server)) as cloud:
            await cloud.objects.create_container(container)
            with pytest.raises(sc.InsufficientStorage) as refused:
                await cloud.objects.put(container, "one", b"payload")
            assert refused.value.status == 507

    arun(single())
    assert proxy.count("PUT", f"/{container}/one") == 1
    login = _via(proxy, server)
    done = subprocess.run(
        [sys.executable, "-m", "strato", "upload", "--os-storage-url",
         login["object_store_endpoint_override"], "--os-auth-token", login["token"],
         "--object-threads", "4", "--no-bulk", container, "."],
        cwd=tree, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "507 Insufficient Storage" in done.stderr, done.stderr
    assert "hint: the cloud is out of space" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    # the files in flight when the first 507 came, each once; none of the rest
    assert proxy.count("PUT", f"/{container}/d") <= 4


def test_damaged_segment_is_sent_again(server: Server, proxy: FaultProxy,
                                       tmp_path: Path) -> None:
    source = _file(tmp_path, 3 * MiB)
    container = f"bad-{uuid.uuid4().hex[:8]}"
    options = sc.TransferOptions(**{**SMALL.__dict__, "chunk_size": 64 * 1024})
    proxy.rules.append(Rule("PUT", "/00000001", "corrupt_request"))

    async def work() -> sc.UploadResult:
        async with sc.connect(**_via(proxy, server)) as cloud:
            await cloud.objects.create_container(container)
            return await cloud.upload(container, "obj", source, options=options)

    result = arun(work())
    assert result.segments == 3
    assert proxy.count("PUT", "/00000001") == 2   # the damaged one, then a good one
    storage, token = server.auth_v1("test:tester", "testing")
    body = httpx.get(f"{storage}/{container}/obj", headers={"X-Auth-Token": token}).content
    assert hashlib.md5(body).hexdigest() == _md5(source)


def test_damaged_download_is_detected(server: Server, proxy: FaultProxy,
                                      tmp_path: Path) -> None:
    source = _file(tmp_path, 3 * MiB)
    container = f"rot-{uuid.uuid4().hex[:8]}"

    async def upload() -> None:
        async with sc.connect(**_login(server)) as cloud:
            await cloud.objects.create_container(container)
            await cloud.upload(container, "obj", source, options=SMALL)

    async def download(target: Path) -> None:
        async with sc.connect(**_via(proxy, server)) as cloud:
            await cloud.download(container, "obj", target, options=SMALL)

    arun(upload())
    proxy.rules.append(Rule("GET", f"/{container}/obj", "corrupt_response", times=1))
    arun(download(tmp_path / "once"))               # one damaged piece: fetched again
    assert _md5(tmp_path / "once") == _md5(source)
    proxy.rules.append(Rule("GET", f"/{container}/obj", "corrupt_response", times=100,
                            range_has=f"bytes={MiB}-"))
    with pytest.raises(sc.ChecksumMismatch, match="have MD5"):
        arun(download(tmp_path / "never"))          # always damaged: reported, not kept
    assert not (tmp_path / "never").exists()


MEMORY_SCRIPT = """
import asyncio, json, sys, psutil
import strato.client as sc

login, source, back, container = json.loads(sys.argv[1])
options = sc.TransferOptions(segment_size=16 << 20, threshold=16 << 20, piece_size=16 << 20,
                             concurrency=8)
process = psutil.Process()

async def work():
    peak = 0

    async def sample():
        nonlocal peak
        while True:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.02)

    async with sc.connect(**login) as cloud:
        before = process.memory_info().rss  # the client loaded and connected, nothing sent
        sampler = asyncio.create_task(sample())
        await cloud.objects.create_container(container)
        await cloud.upload(container, "large", source, options=options)
        await cloud.download(container, "large", back, options=options)
        sampler.cancel()
    return peak - before

print(asyncio.run(work()))
"""


def test_memory_stays_flat_for_a_large_file(server: Server, tmp_path: Path) -> None:
    """A 256 MiB file up through 8 parallel segments and down through 8 ranged pieces: the
    process grows by far less. Measured in a process of its own, so what earlier tests in
    this one left behind (or freed) moves nothing."""
    source = tmp_path / "large.bin"
    with open(source, "wb") as f:
        for _ in range(256):
            f.write(os.urandom(MiB))
    container = f"mem-{uuid.uuid4().hex[:8]}"
    args = json.dumps([_login(server), str(source), str(tmp_path / "back"), container])
    done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, args], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    grew = int(done.stdout.strip().splitlines()[-1])
    assert grew < 96 * MiB, f"grew by {grew / MiB:.0f} MiB"
    assert _md5(tmp_path / "back") == _md5(source)


def _resident(path: Path) -> int:
    """Bytes of `path` in the page cache (util-linux `fincore`)."""
    done = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
                          capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


def _slo_download(server: Server, source: Path, target: Path,
                  options: sc.TransferOptions) -> sc.DownloadResult:
    container = f"direct-{uuid.uuid4().hex[:8]}"

    async def work() -> sc.DownloadResult:
        async with sc.connect(**_login(server)) as cloud:
            await cloud.objects.create_container(container)
            await cloud.upload(container, "obj", source, options=options)
            return await cloud.download(container, "obj", target, options=options)

    return arun(work())


def test_ranged_download_is_written_around_the_page_cache(server: Server,
                                                          tmp_path: Path) -> None:
    """Whole aligned buffers of a ranged download go to the disk with O_DIRECT: the file's
    pages are not left in the page cache (only the odd tail is), and the bytes are right;
    with `direct_io=False` the whole file is cached."""
    source = _file(tmp_path, 8 * MiB + 100)
    try:
        os.close(os.open(source, os.O_RDONLY | os.O_DIRECT))
    except OSError as exc:
        pytest.skip(f"the test directory's filesystem refuses O_DIRECT ({exc})")
    direct = _slo_download(server, source, tmp_path / "direct", SMALL)
    assert direct.pieces == 9
    assert _resident(tmp_path / "direct") <= 2 * 4096
    cached = _slo_download(server, source, tmp_path / "cached",
                           sc.TransferOptions(**{**SMALL.__dict__, "direct_io": False}))
    assert cached.pieces == 9
    assert _resident(tmp_path / "cached") == source.stat().st_size + 4096 - 100
    assert _md5(tmp_path / "direct") == _md5(source) == _md5(tmp_path / "cached")


def test_ranged_download_onto_a_filesystem_without_o_direct(server: Server,
                                                            tmp_path: Path) -> None:
    """tmpfs refuses O_DIRECT: the download goes through the page cache instead."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        pytest.skip("no writable tmpfs at /dev/shm here")
    target = shm / f"strato-test-{uuid.uuid4().hex[:8]}"
    try:
        source = _file(tmp_path, 3 * MiB + 7)
        result = _slo_download(server, source, target, SMALL)
        assert result.pieces == 4
        assert _md5(target) == _md5(source)
    finally:
        target.unlink(missing_ok=True)


@pytest.mark.parametrize("damaged_at", [40 * 4608 + 1536 + 700,   # in a member's data
                                        40 * 4608 + 1024 + 124 + 5])  # a size field
def test_tree_download_with_a_damaged_archive_member(server: Server, proxy: FaultProxy,
                                                     tmp_path: Path, damaged_at: int) -> None:
    """A byte flipped in the archive stream, in a member's data (its MD5 fails) or in a
    tar header (the stream cannot be read on): the members already written stay, the rest
    come one by one, and the tree arrives whole. (200 objects come as 4 archives of 50;
    the first archive requested is damaged in its 41st member.)"""
    container = f"tree-{uuid.uuid4().hex[:8]}"
    # 3,000-byte members: 4,608 bytes each in the stream (PAX and ustar headers, padding)
    bodies = {f"f{i:03d}": os.urandom(3000) for i in range(200)}

    async def upload() -> list[sc.Entry]:
        async with sc.connect(**_login(server)) as cloud:
            await cloud.objects.create_container(container)
            for name, body in bodies.items():
                await cloud.objects.put(container, name, body)
            return [e async for e in cloud.objects.objects(container)]

    entries = arun(upload())
    proxy.rules.append(Rule("GET", f"/{container}", "corrupt_response", after_bytes=damaged_at))

    async def download() -> TreeResult:
        async with sc.connect(**_via(proxy, server)) as cloud:
            return await download_objects(
                cloud.objects, container, [Wanted(e, tmp_path / "out" / e.name)
                                           for e in entries])

    result = arun(download())
    assert result.failed == []
    for name, body in bodies.items():
        assert (tmp_path / "out" / name).read_bytes() == body, name
    one_by_one = [p for m, p, _ in proxy.log if m == "GET" and p.count("/") == 4]
    assert 1 <= len(one_by_one) <= 200 - 32, len(one_by_one)  # the first 32 stayed
    assert not list(tmp_path.rglob("*.part"))


def test_a_listed_large_object_goes_straight_to_ranges(server: Server, tmp_path: Path) -> None:
    """A tree download knows each object's size from the listing: a large one is fetched as
    ranges from the start, not first asked for whole and dropped once its length shows
    (which made the server read on for nobody and log a response cut short)."""
    source = _file(tmp_path, 5 * MiB + 12345)
    container = f"listed-{uuid.uuid4().hex[:8]}"

    async def upload() -> list[sc.Entry]:
        async with sc.connect(**_login(server)) as cloud:
            await cloud.objects.create_container(container)
            await cloud.upload(container, "disk.img", source, options=SMALL)
            return [e async for e in cloud.objects.objects(container)]

    entries = arun(upload())
    since = len(server.log_path.read_text(errors="replace"))

    async def download() -> TreeResult:
        async with sc.connect(**_login(server)) as cloud:
            return await download_objects(
                cloud.objects, container, [Wanted(e, tmp_path / "out" / e.name)
                                           for e in entries], options=SMALL)

    result = arun(download())
    time.sleep(0.5)  # the access log is written at the end of the server's loop turn
    assert result.failed == [] and _md5(tmp_path / "out" / "disk.img") == _md5(source)
    log = server.log_path.read_text(errors="replace")[since:]
    statuses = [line.split(f'/{container}/disk.img" ')[1].split()[0]
                for line in log.splitlines()
                if '"GET ' in line and f'/{container}/disk.img" ' in line]  # not the manifest
    assert statuses == ["206"] * 6, statuses
    assert "cut short" not in log


def test_archive_batches_share_the_streams_evenly() -> None:
    """Whole rounds of equal batches: no batch left to run alone after the others."""
    assert even_share(5000, 4, 2000) == 1250        # one round of 4
    assert even_share(5000, 4, 1000) == 625         # two rounds of 4, not 5 of 1,000
    assert even_share(9000, 4, 2000) == 1125        # 8 batches, each under the cap
    assert even_share(10, 4, 2000) == 3
    assert even_share(0, 4, 2000) == 1
