"""The shared keyset listing reads few rows for a delimiter page, whatever the container holds."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from strato.stores.metadata.listing import keyset_listing, prefix_end
from strato.stores.metadata.records import ListingQuery, Subdir


@dataclass(frozen=True)
class Row:
    name: str


class Rows:
    """A sorted in-memory name index with the backends' fetch contract; counts rows read."""

    def __init__(self, names: list[str]) -> None:
        self.names = sorted(names)
        self.read = 0

    def fetch(self, after: str | None, before: str | None, prefix: str, reverse: bool,
              limit: int, inclusive: bool) -> list[Row]:
        assert not reverse
        lo = 0 if after is None else (bisect.bisect_left if inclusive else bisect.bisect_right)(
            self.names, after)
        hits = [n for n in self.names[lo:] if before is None or n < before]
        rows = [Row(n) for n in hits if n.startswith(prefix)][:limit]
        self.read += len(rows)
        return rows


def test_delimiter_page_reads_about_one_row_per_subdir() -> None:
    names = [f"p{i % 5:02d}/s{(i // 5) % 20:02d}/o{i:06d}" for i in range(20_000)]
    rows = Rows(names)
    page = keyset_listing(rows.fetch, ListingQuery(prefix="p01/", delimiter="/", limit=1000))
    assert page == [Subdir(f"p01/s{j:02d}/") for j in range(20)]
    assert rows.read <= 2 * len(page)


def test_plain_names_with_a_delimiter_still_fill_the_page() -> None:
    rows = Rows([f"o{i:05d}" for i in range(5000)])
    page = keyset_listing(rows.fetch, ListingQuery(delimiter="/", limit=1000))
    assert [r.name for r in page] == [f"o{i:05d}" for i in range(1000)]  # type: ignore[union-attr]
    assert rows.read <= 1100


def test_prefix_end_bounds_every_name_under_the_prefix() -> None:
    assert prefix_end("") is None
    assert prefix_end("ab") == "ac"
    assert prefix_end("a\U0010ffff") is None  # nothing sorts after the last code point
    assert prefix_end("a\ud7ff") == "a\ue000"  # surrogates are no UTF-8: skipped


def test_a_name_starting_with_the_delimiter_rolls_up_into_it() -> None:
    rows = Rows(["/a", "/b", "c", "d/e"])
    page = keyset_listing(rows.fetch, ListingQuery(delimiter="/", limit=10))
    assert page == [Subdir("/"), Row("c"), Subdir("d/")]


def test_path_with_or_without_its_trailing_slash() -> None:
    names = ["dir/", "dir/a", "dir/b/", "dir/b/c", "dirt"]
    for path in ("dir", "dir/"):
        page = keyset_listing(Rows(names).fetch, ListingQuery(path=path, limit=10))
        assert page == [Row("dir/a"), Row("dir/b/")], path
    page = keyset_listing(Rows(["X/", "X/a", "Y"]).fetch, ListingQuery(path="X", limit=10))
    assert page == [Row("X/a")]  # only slashes are trimmed from the path
