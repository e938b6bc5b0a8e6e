"""The provisioned Grafana dashboards query only metrics the app exports (read from the
``TradingMetrics`` registry, not from a list), on the provisioned datasource, and show every one."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.observability.promql import exported_series, metric_names
from thunes.adapters.metrics import TradingMetrics

GRAFANA = Path(__file__).resolve().parents[3] / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
PROMETHEUS_SYNTHETIC = {"up"}  # written by Prometheus itself for every scrape target


def _load(path: Path) -> dict[str, Any]:
    board = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(board, dict)
    return board


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    out = []
    for panel in board.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def _queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel target and every query variable."""
    found = [(p["title"], t["expr"]) for p in _panels(board) for t in p.get("targets", [])]
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable.get("query")
            found.append((f"${variable['name']}", query if isinstance(query, str) else query.get("query", "")))
    return found


def _datasource_uid() -> str:
    text = (GRAFANA / "provisioning" / "datasources" / "thunes.yml").read_text(encoding="utf-8")
    uids = re.findall(r"^\s*uid:\s*(\S+)\s*$", text, flags=re.MULTILINE)
    assert len(uids) == 1, uids
    return str(uids[0])


def test_dashboards_when_listed_then_the_three_spec_boards_with_distinct_uids() -> None:
    boards = [_load(p) for p in DASHBOARDS]

    titles = sorted(b["title"] for b in boards)

    assert titles == ["THUNES · Risk", "THUNES · System Health", "THUNES · Trading Overview"]
    assert len({b["uid"] for b in boards}) == 3
    assert all(b["schemaVersion"] >= 36 and b["panels"] for b in boards)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_panels_when_inspected_then_each_queries_the_provisioned_datasource(path: Path) -> None:
    board, uid = _load(path), _datasource_uid()
    panels = _panels(board)

    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        targets = panel.get("targets", [])
        assert targets, f"{panel['title']}: no query"
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert all(t["datasource"]["uid"] == uid and t["expr"].strip() for t in targets), panel["title"]
        assert len({t["refId"] for t in targets}) == len(targets), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_metric_of_every_panel_when_parsed_then_the_app_exports_it(path: Path) -> None:
    exported = exported_series(TradingMetrics().registry) | PROMETHEUS_SYNTHETIC

    unknown = [(title, name) for title, expr in _queries(_load(path)) for name in metric_names(expr) - exported]
    used = {name for _, expr in _queries(_load(path)) for name in metric_names(expr)}

    assert unknown == []
    assert used  # the parser found something: an empty set would pass vacuously


def test_dashboards_when_taken_together_then_every_thunes_metric_is_shown() -> None:
    registry = TradingMetrics().registry
    families = {f.name for f in registry.collect() if f.name.startswith("thunes_")}
    used = {name for p in DASHBOARDS for _, expr in _queries(_load(p)) for name in metric_names(expr)}

    not_shown = {f for f in families if not any(name == f or name.startswith(f"{f}_") for name in used)}

    assert not_shown == set()


def test_metric_names_when_functions_labels_strings_and_variables_then_only_metric_names() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, venue) (rate(thunes_order_latency_seconds_bucket{side="BUY"}'
        "[$__rate_interval]))) > on (instance) group_left thunes_max_open_positions offset 5m"
        ' or label_replace(up{job="thunes"}, "dst", "$1", "src", "(.*)") and bool 1e3 unless time() - x:y:rate5m'
    )

    assert metric_names(expr) == {
        "thunes_order_latency_seconds_bucket", "thunes_max_open_positions", "up", "x:y:rate5m",
    }  # fmt: skip


def test_exported_series_when_counter_and_histogram_then_suffixed_names_only() -> None:
    exported = exported_series(TradingMetrics(process_metrics=False).registry)

    assert {"thunes_orders_placed_total", "thunes_order_latency_seconds_bucket", "thunes_equity"} <= exported
    assert "thunes_orders_placed" not in exported  # not a series: a query for it would show nothing
    assert "thunes_orders_placed_bucket" not in exported
