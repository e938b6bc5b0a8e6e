"""Metric names used by PromQL expressions, and the series names a registry really exports: the
dashboards and alert rules are checked against the app's metrics, not against a list kept by hand."""

from __future__ import annotations

import re

from prometheus_client.registry import Collector

__all__ = ["exported_series", "metric_names"]

# Aggregations and keywords that are not followed by "(" directly (``sum by (le) (...)``, ``a and b``).
_KEYWORDS = frozenset(
    {
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
        "quantile", "limitk", "limit_ratio", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
        "and", "or", "unless", "offset", "atan2", "inf", "nan",
    }
)  # fmt: skip
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_OFFSETS = re.compile(r"\boffset\s+-?[\w.]+")
_TOKENS = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_:][\w:]*(?:\s*\()?")
_SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def metric_names(expr: str) -> set[str]:
    """Every metric name ``expr`` selects: not functions, keywords, label names, strings, numbers,
    durations or Grafana variables (``$__rate_interval``)."""
    text = _STRINGS.sub(" ", expr)
    for pattern in (_GRAFANA_VARIABLES, _MATCHERS, _RANGES, _LABEL_LISTS, _OFFSETS):
        text = pattern.sub(" ", text)
    names = set()
    for token in _TOKENS.findall(text):
        if token[0].isdigit() or token.endswith("(") or token.lower() in _KEYWORDS:
            continue
        names.add(token)
    return names


def exported_series(registry: Collector) -> set[str]:
    """The series names ``registry`` exposes or will expose once a labelled child exists: a
    counter ``x`` as ``x_total``, a histogram as ``x_bucket``/``x_sum``/``x_count``, a gauge as ``x``."""
    names: set[str] = set()
    for family in registry.collect():
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in _SERIES_SUFFIXES.get(family.type, ("",)))
    return names
