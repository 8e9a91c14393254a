"""The console's objects page on a container of 1,000,000 objects against one of 10,000, in
Debian's Chromium, on one Strato server (embedded SQLite), in one invocation.

    python -m bench.console_listing [--objects 1000000] [--rounds 5]

Both containers hold the same shape: 1,000 folders (`f000/` ... `f999/`) of equal size,
filled straight into the database (`bench.fill`, bodies are not needed for listings). Each
round times, in the browser, from the click to the rows being shown: opening the container
(its first page: the folders), *Next page*, opening a folder in the middle, searching a name
prefix there, and sorting by name backwards. The figure is the median of the rounds; the
ratio big/small says whether a page costs the same whatever the container holds (issue 16:
"the page must stay fast with 1,000,000 objects"). Bounded: at most 2,000,000 objects and
10 rounds; loopback only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from bench import fill
from bench.machine import load
from tests.harness import Server

CHROMIUM = "/usr/bin/chromium"
FOLDERS = 1000
SMALL = 10 * FOLDERS
"""The reference container: 10 objects a folder (a search then narrows 10 rows to 1)."""


def names(total: int) -> list[str]:
    per = max(1, total // FOLDERS)
    return [f"f{f:03d}/obj{i:07d}" for f in range(FOLDERS) for i in range(per)][:total]


def timed(action: Callable[[], None], done: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    done()
    return time.perf_counter() - started


def one_round(page: Page, account: str, container: str, per_folder: int) -> dict[str, float]:
    rows = page.locator("table.list tbody tr")
    figures = {}
    page.goto("/console/#/")
    expect(page.get_by_role("heading", name="Containers")).to_be_visible()
    figures["open container"] = timed(
        lambda: page.get_by_role("link", name=container, exact=True).click(),
        lambda: expect(rows.first).to_contain_text("f000/"))
    figures["next page"] = timed(
        lambda: page.get_by_role("button", name="Next page").click(),
        lambda: expect(rows.nth(100)).to_contain_text("f100/"))
    figures["open folder"] = timed(  # as its address (a bookmark, the back button)
        lambda: page.goto(f"/console/#/a/{account}/{container}/f500/"),
        lambda: expect(rows.first).to_contain_text("obj0000000"))
    figures["search prefix"] = timed(
        lambda: page.get_by_label("Search by name prefix").fill(f"obj{per_folder - 1:07d}"),
        lambda: expect(rows).to_have_count(1))
    page.get_by_label("Search by name prefix").fill("")
    expect(rows.first).to_contain_text("obj0000000")
    figures["sort Z to A"] = timed(
        lambda: page.get_by_label("Sort").select_option(label="Name, Z to A"),
        lambda: expect(rows.first).to_contain_text(f"obj{per_folder - 1:07d}"))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console_listing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    total, rounds = min(args.objects, 2_000_000), min(max(args.rounds, 1), 10)
    print(load())
    with tempfile.TemporaryDirectory(prefix="strato-console-bench-") as tmp:
        srv = Server(Path(tmp) / "data", workers=2).start()
        try:
            srv.add_user("bench", "bench", "bench-password", role="admin")
            url, token = srv.auth_v1("bench:bench", "bench-password")
            sizes = {"small": SMALL, "big": total}
            for label, count in sizes.items():
                assert httpx.put(f"{url}/{label}", headers={"X-Auth-Token": token}
                                 ).status_code == 201
                rate = fill.strato(srv.data_dir / "metadata.db", fill.account_of(url), label,
                                   names(count))
                print(f"filled {label}: {count:,} objects ({rate:,.0f}/s)")
            results: dict[str, dict[str, list[float]]] = {k: {} for k in sizes}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
                context = browser.new_context(base_url=srv.url)
                context.set_default_timeout(60_000)
                page = context.new_page()
                page.goto("/console/")
                form = page.locator("#sign-in-form")
                form.get_by_label("User", exact=True).fill("bench")
                form.get_by_label("Password", exact=True).fill("bench-password")
                form.get_by_label("Project", exact=True).fill("bench")
                form.get_by_role("button", name="Sign in").click()
                expect(page.get_by_role("heading", name="Containers")).to_be_visible()
                for _ in range(rounds):
                    for label, count in sizes.items():  # alternating: they share the noise
                        for step, seconds in one_round(page, fill.account_of(url), label,
                                                       max(1, count // FOLDERS)).items():
                            results[label].setdefault(step, []).append(seconds)
                browser.close()
        finally:
            srv.stop()
    print(f"\n{'step':<16}{f'{SMALL:,} objects':>16}{f'{total:,} objects':>20}{'ratio':>8}")
    for step in results["small"]:
        small = statistics.median(results["small"][step]) * 1000
        big = statistics.median(results["big"][step]) * 1000
        print(f"{step:<16}{small:>13.0f} ms{big:>17.0f} ms{big / small:>7.2f}x")
    print(f"medians of {rounds} rounds, click to rows shown; {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
