"""Two nodes of two workers each on one PostgreSQL database give an account its rate once:
the rate-limit state is one row per key in the database, checked in one statement on its
clock, so requests spread over four workers on two nodes are counted together (counted per
worker, they would pass four times over)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import pg
from tests.api.swift.features.test_ratelimit import put_containers, within_rate
from tests.scaleout.nodes import on, start_nodes


@pytest.mark.parametrize(("rate", "max_sleep", "count", "seconds"),
                         [(0.2, 0.5, 16, 0.0), (2.0, 0.3, 0, 4.0)], ids=["burst", "steady"])
def test_nodes_share_the_rate(tmp_path: Path, rate: float, max_sleep: float, count: int,
                              seconds: float) -> None:
    url = pg.create_database()
    nodes = start_nodes(tmp_path, 2, url, shared_data=False, extra_args=(
        "--ratelimit-account", str(rate), "--ratelimit-max-sleep", str(max_sleep)))
    try:
        nodes[0].add_user("rln", "rln", "pw", role="admin")
        storage, token = nodes[0].auth_v1("rln:rln", "pw")
        statuses, took = put_containers([on(node, storage) for node in nodes], token,
                                        count=count, seconds=seconds)
        assert set(statuses) <= {201, 498}, statuses
        print(f"{statuses.count(201)} of {len(statuses)} in {took:.2f} s")  # shown with -s
        if count:  # a burst: one goes through, every other one is refused at once
            assert 1 <= statuses.count(201) <= 1 + int((took + max_sleep) * rate), (
                statuses, took)
        else:
            assert within_rate(statuses, took, rate, max_sleep), (
                statuses.count(201), len(statuses), took)
    finally:
        for node in nodes:
            node.stop()
        pg.drop_database(url)
