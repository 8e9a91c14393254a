"""The usage history's contract (`record_usage`, `usage_series`, `trim_usage`), run
against each backend like test_contract.py."""

from __future__ import annotations

from strato.stores.metadata.records import UsageSample
from tests.stores.metadata.conftest import Env
from tests.stores.metadata.test_contract import account, container, obj


def test_samples_follow_the_counters_and_skip_what_did_not_change(env: Env) -> None:
    s, acct = env.store, account()
    a = container(env, acct, "a")
    b = container(env, acct, "b")
    env.run(s.put_object(obj(a, "x", 10)))
    env.run(s.put_object(obj(a, "y", 5)))
    # every container and the account's totals: 2 containers + 1 account
    assert env.run(s.record_usage(100.0)) == 3
    assert env.run(s.usage_series(acct, "a", 0.0)) == [UsageSample(100.0, 2, 15)]
    assert env.run(s.usage_series(acct, "b", 0.0)) == [UsageSample(100.0, 0, 0)]
    assert env.run(s.usage_series(acct, None, 0.0)) == [UsageSample(100.0, 2, 15)]
    # nothing changed: nothing written
    assert env.run(s.record_usage(200.0)) == 0
    # one container changed: it and its account, not the other container
    env.run(s.put_object(obj(b, "z", 7)))
    assert env.run(s.record_usage(300.0)) == 2
    assert env.run(s.usage_series(acct, "a", 0.0)) == [UsageSample(100.0, 2, 15)]
    assert env.run(s.usage_series(acct, "b", 0.0)) == [UsageSample(100.0, 0, 0),
                                                        UsageSample(300.0, 1, 7)]
    assert env.run(s.usage_series(acct, None, 0.0)) == [UsageSample(100.0, 2, 15),
                                                         UsageSample(300.0, 3, 22)]
    # an overwrite of the same size changes no counter; a bigger one does
    env.run(s.put_object(obj(a, "x", 10)))
    assert env.run(s.record_usage(400.0)) == 0
    env.run(s.put_object(obj(a, "x", 1010)))
    assert env.run(s.record_usage(500.0)) == 2
    # other accounts have series of their own
    other = account()
    container(env, other, "a")
    assert env.run(s.record_usage(600.0)) == 2
    assert env.run(s.usage_series(other, "a", 0.0)) == [UsageSample(600.0, 0, 0)]
    assert env.run(s.usage_series(acct, None, 0.0))[-1] == UsageSample(500.0, 3, 1022)


def test_series_start_with_the_value_that_held_at_since(env: Env) -> None:
    s, acct = env.store, account()
    c = container(env, acct, "c")
    for n, now in enumerate((100.0, 200.0, 300.0, 400.0)):
        env.run(s.put_object(obj(c, f"o{n}", 1)))
        env.run(s.record_usage(now))
    assert env.run(s.usage_series(acct, "c", 250.0)) == [
        UsageSample(200.0, 2, 2), UsageSample(300.0, 3, 3), UsageSample(400.0, 4, 4)]
    assert env.run(s.usage_series(acct, "c", 1000.0)) == [UsageSample(400.0, 4, 4)]
    assert env.run(s.usage_series(acct, "c", 0.0))[0] == UsageSample(100.0, 1, 1)
    assert env.run(s.usage_series(acct, "nothing", 0.0)) == []
    assert env.run(s.usage_series(account(), None, 0.0)) == []


def test_deleting_a_container_takes_its_samples_and_the_account_falls_to_zero(env: Env
                                                                              ) -> None:
    s, acct = env.store, account()
    c = container(env, acct, "c")
    env.run(s.put_object(obj(c, "o", 4)))
    env.run(s.record_usage(100.0))
    env.run(s.delete_object(c.id, "o"))
    env.run(s.delete_container(acct, "c"))
    assert env.run(s.usage_series(acct, "c", 0.0)) == []
    assert env.run(s.record_usage(200.0)) == 1  # the account's totals, now zero
    assert env.run(s.usage_series(acct, None, 0.0)) == [UsageSample(100.0, 1, 4),
                                                         UsageSample(200.0, 0, 0)]
    # a new container of the same name starts a new series
    again = container(env, acct, "c")
    env.run(s.put_object(obj(again, "p", 2)))
    env.run(s.record_usage(300.0))
    assert env.run(s.usage_series(acct, "c", 0.0)) == [UsageSample(300.0, 1, 2)]


def test_trim_drops_old_samples_but_each_series_latest_and_thins_to_one_per_bucket(
        env: Env) -> None:
    s, acct = env.store, account()
    busy, idle = container(env, acct, "busy"), container(env, acct, "idle")
    env.run(s.put_object(obj(idle, "o", 9)))
    times = [10.0, 20.0, 110.0, 150.0, 190.0, 210.0, 250.0, 320.0]
    for n, now in enumerate(times):
        env.run(s.put_object(obj(busy, f"o{n}", 1)))
        env.run(s.record_usage(now))
    # older than 100 s goes, except the idle container's only sample (its value holds);
    # in [100, 300) only the last of each 100 s stays; from 300 s on all stay
    removed = env.run(s.trim_usage(100.0, 100.0, 300.0, 100.0))
    assert [x.at for x in env.run(s.usage_series(acct, "busy", 0.0))] == [190.0, 250.0, 320.0]
    assert env.run(s.usage_series(acct, "idle", 0.0)) == [UsageSample(10.0, 1, 9)]
    account_times = [x.at for x in env.run(s.usage_series(acct, None, 0.0))]
    assert account_times == [190.0, 250.0, 320.0]
    assert removed == (8 - 3) * 2  # the busy container's and the account's
    assert env.run(s.usage_series(acct, "busy", 0.0))[-1] == UsageSample(320.0, 8, 8)
    # trimming again changes nothing
    assert env.run(s.trim_usage(100.0, 100.0, 300.0, 100.0)) == 0
