"""docs/operations.md and docs/grafana-dashboard.json cannot drift from the code: the settings
reference is what the settings model generates, every metric is documented, and the dashboard
queries only metrics the server exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

from strato.server import metrics
from strato.server.settings_doc import BEGIN, END, render, replace_region

DOCS = Path(__file__).resolve().parent.parent / "docs"
OPERATIONS = DOCS / "operations.md"


def metric_families() -> dict[str, str]:
    """name -> type of every metric the server defines."""
    found = {}
    for value in vars(metrics).values():
        if isinstance(value, Counter | Gauge | Histogram):
            for family in value.describe():
                found[family.name] = family.type
    return found


def test_settings_reference_is_generated_from_the_model() -> None:
    text = OPERATIONS.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert replace_region(text, render()) == text, (
        "docs/operations.md is stale: run python -m strato.server.settings_doc --write "
        "docs/operations.md")


def test_every_metric_is_documented_with_its_type() -> None:
    text = OPERATIONS.read_text()
    families = metric_families()
    assert len(families) >= 15
    for name, kind in families.items():
        shown = f"{name}_total" if kind == "counter" else name
        assert re.search(rf"\| `{shown}` \| {kind} \|", text), f"{shown} ({kind}) missing"


def test_dashboard_queries_only_exposed_metrics_and_shows_each() -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    samples: dict[str, str] = {}  # exposed sample name -> its family
    for name, kind in metric_families().items():
        names = {f"{name}_total"} if kind == "counter" else {name}
        if kind == "histogram":
            names = {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        samples.update((sample, name) for sample in names)
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            queried |= set(re.findall(r"\bstrato_[a-z_]+", target["expr"]))
    assert queried and queried <= set(samples), queried - set(samples)
    shown = {samples[name] for name in queried}
    # the last-run time says less than the last success, which has its panel
    assert set(metric_families()) - shown == {"strato_background_last_run_timestamp_seconds"}
