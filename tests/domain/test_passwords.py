"""Password hashing and the memory of verified secrets, without a server: real Argon2id."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from strato.domain.passwords import (
    OWASP_MINIMUMS,
    Credentials,
    HasherBusy,
    HashParams,
    PasswordHasher,
    VerifiedCredentials,
)

OTHER = HashParams(memory_kib=12288, time_cost=3)


def test_parameters_below_owasp_minimum_are_refused() -> None:
    for memory, passes in OWASP_MINIMUMS:
        HashParams(memory, passes).check()
        with pytest.raises(ValueError, match="OWASP"):
            HashParams(memory - 1, passes).check()
        with pytest.raises(ValueError, match="OWASP"):
            HashParams(memory, passes - 1).check()
    with pytest.raises(ValueError):
        PasswordHasher(HashParams(4096, 2))


def test_hashes_carry_the_configured_parameters_and_verify() -> None:
    async def run() -> None:
        hasher = PasswordHasher(OTHER)
        stored = await hasher.hash("s3cret")
        assert stored.startswith("$argon2id$v=19$m=12288,t=3,p=1$")
        assert await hasher.verify(stored, "s3cret")
        assert not await hasher.verify(stored, "s3cret ")
        assert not await hasher.verify("!", "s3cret")  # a user without a password
        assert not await hasher.verify(None, "s3cret")  # no such user: a dummy is checked
        assert not hasher.needs_rehash(stored)
        assert PasswordHasher().needs_rehash(stored)
        hasher.close()

    asyncio.run(run())


def test_the_kdf_does_not_share_the_loops_default_executor() -> None:
    """The blob store writes through the default executor: a login flood must not queue
    behind it or in front of it."""
    async def run() -> None:
        loop = asyncio.get_running_loop()
        default = ThreadPoolExecutor(1)
        loop.set_default_executor(default)
        release = threading.Event()
        blocked = loop.run_in_executor(None, release.wait)  # the default executor is full
        hasher = PasswordHasher(threads=1)
        stored = await asyncio.wait_for(hasher.hash("pw"), 30)
        assert await asyncio.wait_for(hasher.verify(stored, "pw"), 30)
        release.set()
        await blocked
        names: list[str] = []
        busy = [asyncio.ensure_future(hasher.verify(stored, "pw")) for _ in range(3)]
        await asyncio.wait_for(loop.run_in_executor(  # runs while every KDF thread works
            None, lambda: names.append(threading.current_thread().name)), 30)
        assert not names[0].startswith("strato-kdf")
        assert all(await asyncio.gather(*busy))
        hasher.close()

    asyncio.run(run())


def test_checks_past_the_queue_are_refused_at_once() -> None:
    async def run() -> None:
        hasher = PasswordHasher(threads=1, queue=1)
        stored = await hasher.hash("pw")
        first = [asyncio.ensure_future(hasher.verify(stored, "pw", bounded=True))
                 for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(HasherBusy):
            await hasher.verify(stored, "pw", bounded=True)
        assert await hasher.verify(stored, "pw")  # an administrator's call waits its turn
        assert all(await asyncio.gather(*first))
        hasher.close()

    asyncio.run(run())


class CountingHasher(PasswordHasher):
    """The real hasher, counting how many secrets it checked."""

    checks = 0

    def _check(self, stored_hash: str, secret: str) -> bool:
        self.checks += 1
        return super()._check(stored_hash, secret)


def test_a_remembered_secret_skips_the_kdf_but_a_wrong_one_never_matches() -> None:
    async def run() -> None:
        hasher = CountingHasher()
        credentials = Credentials(hasher, ttl=60)
        stored = await hasher.hash("right")
        assert await credentials.check("password", "u1", stored, "right")
        assert hasher.checks == 1
        for _ in range(5):
            assert await credentials.check("password", "u1", stored, "right")
        assert hasher.checks == 1
        for wrong in ("wrong", "right ", "Right", ""):
            assert not await credentials.check("password", "u1", stored, wrong)
        assert hasher.checks == 5
        # the same secret checked for another subject, or against a new hash (a password
        # change: a new salt) is not remembered
        assert await credentials.check("password", "u2", stored, "right")
        changed = await hasher.hash("right")
        assert await credentials.check("password", "u1", changed, "right")
        assert hasher.checks == 7
        assert not await credentials.check("password", None, None, "right")  # no such user
        hasher.close()

    asyncio.run(run())


def test_identical_checks_in_flight_share_one_hash() -> None:
    async def run() -> None:
        hasher = CountingHasher(threads=1)
        credentials = Credentials(hasher, ttl=60)
        stored = await hasher.hash("pw")
        results = await asyncio.gather(*(credentials.check("password", "u", stored, "pw")
                                         for _ in range(16)),
                                       *(credentials.check("password", "u", stored, "bad")
                                         for _ in range(4)))
        assert results == [True] * 16 + [False] * 4
        assert hasher.checks == 2
        hasher.close()

    asyncio.run(run())


def test_a_hash_made_with_other_parameters_is_rehashed_once_it_verified() -> None:
    async def run() -> None:
        old = PasswordHasher(OTHER)
        stored = await old.hash("pw")
        hasher = CountingHasher()
        credentials = Credentials(hasher, ttl=60)
        upgrades: list[str] = []

        async def upgrade(new_hash: str) -> bool:
            upgrades.append(new_hash)
            return True

        assert not await credentials.check("password", "u", stored, "nope", upgrade)
        assert upgrades == []
        assert await credentials.check("password", "u", stored, "pw", upgrade)
        assert len(upgrades) == 1 and not hasher.needs_rehash(upgrades[0])
        assert upgrades[0].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert await hasher.verify(upgrades[0], "pw")
        checks = hasher.checks
        assert await credentials.check("password", "u", upgrades[0], "pw", upgrade)
        assert hasher.checks == checks and len(upgrades) == 1  # remembered under the new one
        old.close()
        hasher.close()

    asyncio.run(run())


def test_remembered_secrets_expire_and_the_memory_is_bounded() -> None:
    memory = VerifiedCredentials(ttl=0.2, size=3)
    digests = [memory.digest("password", f"u{i}", "hash", "pw") for i in range(4)]
    assert len(set(digests)) == 4
    assert memory.digest("password", "u0", "hash", "pw") == digests[0]
    assert memory.digest("password", "u0", "hashpw", "") != digests[0]  # no ambiguity
    for digest in digests:
        memory.remember(digest)
    assert [memory.seen(d) for d in digests] == [False, True, True, True]  # oldest gone
    time.sleep(0.25)
    assert not any(memory.seen(d) for d in digests)
    off = VerifiedCredentials(ttl=0)
    off.remember(digests[0])
    assert not off.seen(digests[0])
