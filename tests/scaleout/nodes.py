"""Several `strato serve` nodes on one PostgreSQL database, as tests of scale-out start them.

Each node is a `harness.Server` whose metadata is the one database (its `STRATO_METADATA`),
started one after another so that the first seeds the identity and prints the passwords,
which every node then knows.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness import Server


def start_nodes(root: Path, count: int, metadata: str, *, shared_data: bool = True,
                workers: int = 2, extra_args: tuple[str, ...] = (),
                node_env: dict[int, dict[str, str]] | None = None) -> list[Server]:
    """`count` running nodes on `metadata`: on one data directory (`shared_data`, as on a
    shared filesystem) or one each (as on hosts that share nothing but the database).
    `node_env`: more environment for the node of that number (a skewed clock, say)."""
    nodes: list[Server] = []
    try:
        for number in range(count):
            data_dir = root / ("data" if shared_data else f"data-{number}")
            env = {"STRATO_METADATA": metadata, **(node_env or {}).get(number, {})}
            node = Server(data_dir, workers=workers, env=env, extra_args=extra_args)
            if nodes:
                node.passwords = nodes[0].passwords
            nodes.append(node.start())
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def on(node: Server, url: str) -> str:
    """`url` (a storage URL or one below it) as served by `node`."""
    path = url.split("/", 3)[3]
    return f"{node.url}/{path}"
