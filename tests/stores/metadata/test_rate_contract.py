"""The rate-limit half of the metadata store contract (`RateStore.rate_wait`), run against
every backend: Swift's running-time algorithm on the database's clock, one slot per interval
whoever asks, refusals that take nothing, a burst after idling, and idle keys purged.

The store reads its own clock, so the waits are checked within the time the calls took."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.stores.metadata.conftest import Env


def test_slots_come_one_interval_apart_and_a_refusal_takes_none(env: Env) -> None:
    s = env.store
    started = time.monotonic()
    waits = [env.run(s.rate_wait("k", 10.0, 25.0, 5.0)) for _ in range(3)]
    took = time.monotonic() - started
    assert waits[0] == 0.0
    assert waits[1] is not None and 10.0 - took - 0.01 <= waits[1] <= 10.0
    assert waits[2] is not None and 20.0 - took - 0.01 <= waits[2] <= 20.0
    # the fourth would wait 30 s, past the 25 s allowed: refused, and nothing is taken, so
    # asking again with a longer allowance gets that same slot
    assert env.run(s.rate_wait("k", 10.0, 25.0, 5.0)) is None
    assert env.run(s.rate_wait("k", 10.0, 25.0, 5.0)) is None
    fourth = env.run(s.rate_wait("k", 10.0, 35.0, 5.0))
    assert fourth is not None and 30.0 - (time.monotonic() - started) - 0.01 <= fourth <= 30.0
    assert env.run(s.rate_wait("other", 10.0, 25.0, 5.0)) == 0.0  # keys are apart


def test_concurrent_requests_each_get_their_own_slot(env: Env) -> None:
    s = env.store

    async def together() -> list[float | None]:
        return list(await asyncio.gather(*(s.rate_wait("c", 1.0, 100.0, 5.0)
                                           for _ in range(20))))

    started = time.monotonic()
    waits = env.run(together())
    assert None not in waits and waits.count(0.0) == 1, waits
    # twenty slots were taken, none lost to a race: the next one is 20 s away
    after = env.run(s.rate_wait("c", 1.0, 100.0, 5.0))
    took = time.monotonic() - started
    assert after is not None and 20.0 - took - 0.01 <= after <= 20.0, (after, took)


def test_processes_and_nodes_share_the_slots(make_env: Callable[[], Env]) -> None:
    """Two stores on one database (two workers, or two nodes on one PostgreSQL) take turns
    on one key: each gets the slot after the other's."""
    one, two = make_env(), make_env()
    started = time.monotonic()
    waits = [env.run(env.store.rate_wait("shared", 10.0, 35.0, 5.0))
             for env in (one, two, one, two)]
    took = time.monotonic() - started
    assert waits[0] == 0.0
    for n, wait in enumerate(waits[1:], start=1):
        assert wait is not None and 10.0 * n - took - 0.01 <= wait <= 10.0 * n, waits
    assert two.run(two.store.rate_wait("shared", 10.0, 35.0, 5.0)) is None


def test_a_key_that_idled_may_burst_then_waits(env: Env) -> None:
    s = env.store
    assert env.run(s.rate_wait("b", 0.1, 10.0, 1.0)) == 0.0
    time.sleep(0.6)  # fell 0.5 s (five slots) behind, within the 1 s burst allowance
    started = time.monotonic()
    waits = [env.run(s.rate_wait("b", 0.1, 10.0, 1.0)) for _ in range(15)]
    took = time.monotonic() - started
    free = sum(1 for w in waits if w == 0.0)
    # about five slots at once (more only if the calls themselves took that long)
    assert 4 <= free <= 6 + took / 0.1 + 1, (waits, took)
    assert waits[-1] is not None and waits[-1] > 0.0
    # more than the allowance behind: it starts afresh, one request now and the next later
    time.sleep(1.5 + max(w or 0.0 for w in waits))
    assert env.run(s.rate_wait("b", 0.1, 10.0, 1.0)) == 0.0
    second = env.run(s.rate_wait("b", 0.1, 10.0, 1.0))
    assert second is not None and 0.0 < second <= 0.1


def test_purge_forgets_only_keys_idle_past_their_burst(env: Env) -> None:
    s = env.store
    assert env.run(s.rate_wait("idle", 0.01, 10.0, 0.05)) == 0.0
    assert env.run(s.rate_wait("busy", 60.0, 100.0, 5.0)) == 0.0
    time.sleep(0.3)
    assert env.run(s.purge_rates()) == 1
    assert env.run(s.purge_rates()) == 0
    busy = env.run(s.rate_wait("busy", 60.0, 100.0, 5.0))  # still remembered
    assert busy is not None and busy > 59.0
    assert env.run(s.rate_wait("idle", 0.01, 10.0, 0.05)) == 0.0


@pytest.mark.parametrize("max_wait", [0.0, 0.005])
def test_no_allowance_refuses_everything(env: Env, max_wait: float) -> None:
    assert env.run(env.store.rate_wait("z", 1.0, max_wait, 5.0)) is None
