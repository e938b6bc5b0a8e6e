"""``thunes shadow`` throughput, stdin to stdout: ``python bench/shadow_cli.py [N]`` prints a table.

One ``thunes shadow`` process on the embedded venue (BTCUSDT and ETHUSDT replayed at 600x, their
bookTicker and trade streams running throughout) is fed N RLAction lines on stdin by a writer thread
as fast as the pipe takes them; a reader counts the Decision lines on stdout. Throughput is N over the
time from the first decision line to the last (the process's start-up, the venue's start and the
wait for the first quotes are not counted). Beside it, the session's own in-process decision latency
(p50/p95/p99 of ``latency_us``, from its summary), and the CPU time of a line in the shadow process:
the difference of two runs' process CPU (N and N/4 lines) over the lines between, so start-up cancels
out and the machine's load does not inflate it. The actions are MARKET orders of 12 USDT, two BUYs to
a SELL, valid for ten minutes: they go through gates 1 to 8 (the first BUY of a symbol is accepted and
fills on the shadow account; the rest stop at the risk gate: one position per symbol, nothing to sell),
and each one is decided, written, logged and audited.

The target is >= 10,000 actions/s (SPEC §9 asks > 100); printed, never asserted.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

THUNES = str(Path(sys.executable).with_name("thunes"))
SYMBOLS = ("BTCUSDT", "ETHUSDT")
TARGET = 10_000


def _lines(n: int) -> list[bytes]:
    now = time.time_ns()
    out = []
    for i in range(n):
        action: dict[str, Any] = {"ts_ns": now, "policy_id": "bench", "model_version": "v1",
                                  "symbol": SYMBOLS[i % 2], "side": "BUY" if i % 3 else "SELL",
                                  "order_type": "MARKET", "qty_mode": "QUOTE", "qty_value": "12",
                                  "confidence": 0.9, "ttl_ms": 600_000, "metadata": {"i": i}}  # fmt: skip
        out.append(json.dumps(action, separators=(",", ":")).encode())
    return out


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the shadow processes that have ended
    return usage.ru_utime + usage.ru_stime


def _child_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child's peak, KiB


def measure(n: int) -> dict[str, Any]:
    lines = _lines(n)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ}
        shared = Path(__file__).resolve().parents[2] / "shared" / "data"
        if "THUNES_DATA__SHARED_DATA_DIR" not in env and shared.is_dir():
            env["THUNES_DATA__SHARED_DATA_DIR"] = str(shared)
        cpu_before = _child_cpu()
        process = subprocess.Popen([THUNES, "shadow", "--symbols", ",".join(SYMBOLS), "--policy", "bench",
                                    "--speed", "600", "--days", "3", "--out", tmp], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp)  # fmt: skip
        assert process.stdin is not None
        assert process.stdout is not None

        def write() -> None:
            assert process.stdin is not None
            process.stdin.write(b"\n".join(lines) + b"\n")
            process.stdin.close()

        threading.Thread(target=write, daemon=True).start()
        first = process.stdout.readline()
        t0 = time.perf_counter()
        count, statuses = 1, {json.loads(first)["status"]: 1}
        for line in process.stdout:
            count += 1
            status = json.loads(line)["status"]
            statuses[status] = statuses.get(status, 0) + 1
        seconds = time.perf_counter() - t0
        process.wait(timeout=120)
        cpu_s = _child_cpu() - cpu_before
        summary = json.loads((Path(tmp) / "summary.json").read_text())
    latency = summary["latency_us"]
    return {"actions": n, "decisions": count, "seconds": seconds, "actions_per_s": (count - 1) / seconds,
            "p50_us": latency["p50"], "p95_us": latency["p95"], "p99_us": latency["p99"],
            "statuses": statuses, "venue_orders": summary["venue_orders"],
            "cpu_s": cpu_s}  # fmt: skip


def both(n: int) -> dict[str, Any]:
    """The run of ``n`` lines, with the CPU of a line from it and a run of ``n // 4``."""
    small, got = measure(n // 4), measure(n)
    got["cpu_us_per_line"] = (got["cpu_s"] - small["cpu_s"]) / (n - n // 4) * 1e6
    return got


def rows(n: int = 20_000) -> list[tuple[str, int, float, float, float, float]]:
    """``(name, decisions, actions/s, CPU us a line, in-process p95 us, venue orders)`` for bench/run.py."""
    got = both(n)
    return [("thunes shadow, stdin to stdout", got["decisions"], got["actions_per_s"], got["cpu_us_per_line"],
             got["p95_us"], got["venue_orders"])]  # fmt: skip


def main(n: int) -> None:
    got = both(n)
    print(f"{'path':34} {'decisions':>10} {'actions/s':>10} {'p50 us':>8} {'p95 us':>8} {'p99 us':>8} {'orders':>7}")
    print(f"{'thunes shadow, stdin to stdout':34} {got['decisions']:>10,} {got['actions_per_s']:>10,.0f} "
          f"{got['p50_us']:>8.0f} {got['p95_us']:>8.0f} {got['p99_us']:>8.0f} {got['venue_orders']:>7}")  # fmt: skip
    print(f"peak RSS of the shadow process (embedded venue included): {_child_rss_mb():.0f} MB (SPEC: < 200 MB)")
    print(
        f"CPU of a line in the shadow process: {got['cpu_us_per_line']:.0f} us "
        f"(at most {1e6 / got['cpu_us_per_line']:,.0f} lines/s on a free core)"
    )
    print(f"statuses: {got['statuses']}; target >= {TARGET:,} actions/s (not asserted); p = in-process latency")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
