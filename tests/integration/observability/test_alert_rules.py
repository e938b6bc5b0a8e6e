"""The alert rules under ``promtool``: they load, their unit tests pass (each alert fires when it
should and not when it should not), the scrape config loads them, and every metric they read is one
the app exports."""

from __future__ import annotations

import re
import subprocess

from tests.integration.observability.conftest import DEPLOY
from tests.unit.observability.promql import exported_series, metric_names
from thunes.adapters.metrics import TradingMetrics

PROMETHEUS = DEPLOY / "prometheus"
SPEC_ALERTS = {  # SPEC §5, plus the two that keep the others meaningful
    "ThunesKillSwitchOn", "ThunesCircuitBreakerOpen", "ThunesWebSocketDown", "ThunesOrderLatencyHigh",
    "ThunesDailyLossNearLimit", "ThunesPositionLimitReached", "ThunesReconciliationMismatch", "ThunesMetricsDown",
}  # fmt: skip


def _promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60, check=False)


def test_rules_when_checked_by_promtool_then_valid(promtool: str) -> None:
    done = _promtool(promtool, "check", "rules", "alerts.yml")

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(SPEC_ALERTS)} rules found" in done.stdout


def test_rules_when_unit_tested_by_promtool_then_every_case_passes(promtool: str) -> None:
    tested = set(re.findall(r"alertname:\s*(\w+)", (PROMETHEUS / "alerts_test.yml").read_text(encoding="utf-8")))

    done = _promtool(promtool, "test", "rules", "alerts_test.yml")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    assert tested == SPEC_ALERTS  # no alert left untested


def test_scrape_config_when_checked_then_valid_and_loads_the_rules(promtool: str) -> None:
    done = _promtool(promtool, "check", "config", "prometheus.yml")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout


def test_rules_when_parsed_then_each_alert_named_and_reads_only_exported_metrics() -> None:
    text = (PROMETHEUS / "alerts.yml").read_text(encoding="utf-8")
    exprs = re.findall(r"^\s*expr:\s*(.+?)\s*$", text, flags=re.MULTILINE)
    exported = exported_series(TradingMetrics().registry) | {"up"}

    used = {name for expr in exprs for name in metric_names(expr)}

    assert set(re.findall(r"^\s*- alert:\s*(\w+)\s*$", text, flags=re.MULTILINE)) == SPEC_ALERTS
    assert len(exprs) == len(SPEC_ALERTS)
    assert not any(e.startswith(("|", ">")) for e in exprs)  # single-line expressions: the parse above saw all
    assert used - exported == set()
    assert "thunes_max_open_positions" in used  # the position alert compares with the exported limit
