"""`latency` and `join`: stamped-frame latency and time to first frame, from decoding viewers.

Latency: the publisher stores the capture time of frame n (before its own encode) in shared
memory; a decoding viewer subtracts it from the time frame n comes out of its decoder.
It includes publisher encode, two network hops, the server's decode + encode, and both
aiortc jitter buffers (each holds a frame until the next one starts: ~33 ms per hop).
Join: WHEP POST to the first decoded frame; a joiner starts at a keyframe: the cached
GOP's when it is at most 0.5 s old (fast-forwarded to live), else one forced (coalesced).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import median, percentile, table, write_results
from .fanout import DesignResult, FanoutOptions
from .fanout import run_design as run_fanout_design

LATENCY_VIEWERS = (1, 8)


def summarize(results: list[DesignResult]) -> dict[str, Any]:
    """Latency and join time per (design, N), and single-join statistics per design."""
    latency_rows = []
    join_rows = []
    for r in results:
        for s in r.steps:
            latency_rows.append(
                {
                    "design": r.design,
                    "n": s.n,
                    "median_ms": s.latency_ms_median,
                    "p95_ms": s.latency_ms_p95,
                    "samples": s.latency_samples,
                    "stamp_errors": s.stamp_errors,
                    "join_median_ms": s.join_ms_median,
                    "join_p95_ms": s.join_ms_p95,
                }
            )
        concurrent = [x for s in r.steps for x in s.join_decoded_ms]
        join_rows.append(
            {
                "design": r.design,
                "single_median_ms": median(r.join_probes_ms),
                "single_p95_ms": percentile(r.join_probes_ms, 95),
                "single_samples": len(r.join_probes_ms),
                "concurrent_median_ms": median(concurrent),
                "concurrent_p95_ms": percentile(concurrent, 95),
                "concurrent_samples": len(concurrent),
            }
        )
    return {"latency": latency_rows, "join": join_rows}


def print_summary(summary: dict[str, Any]) -> None:
    """The latency table and the join table."""
    print(
        table(
            ["design", "N", "lat med", "lat p95", "samples", "stamp err", "join med", "join p95"],
            [
                [
                    r["design"],
                    r["n"],
                    r["median_ms"],
                    r["p95_ms"],
                    r["samples"],
                    r["stamp_errors"],
                    r["join_median_ms"],
                    r["join_p95_ms"],
                ]
                for r in summary["latency"]
            ],
            "latency (ms): publisher capture → decoded at a viewer (1 viewer in 8 decodes);\n"
            "join (ms): WHEP POST → first frame, all N viewers joining at once",
        )
    )
    print()
    print(
        table(
            ["design", "single med", "single p95", "n", "in steps med", "in steps p95", "n"],
            [
                [
                    r["design"],
                    r["single_median_ms"],
                    r["single_p95_ms"],
                    r["single_samples"],
                    r["concurrent_median_ms"],
                    r["concurrent_p95_ms"],
                    r["concurrent_samples"],
                ]
                for r in summary["join"]
            ],
            "join (ms): WHEP POST → first decoded frame; single = one viewer joining alone,\n"
            "in steps = the decoding viewers of the N steps (joining with N-1 others)",
        )
    )
    print()


def report(results: list[DesignResult], results_dir: Path | None = None) -> dict[str, Any]:
    """Print and write latency.json from fanout results already measured."""
    summary = summarize(results)
    print_summary(summary)
    path = write_results("latency", summary, results_dir)
    print(f"-> {path}\n")
    return summary


def run(opts: FanoutOptions, results_dir: Path | None = None) -> dict[str, Any]:
    """Measure on its own: the given designs at N = 1 and 8, plus join probes."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="livestudio-bench-") as tmp:
        results = [run_fanout_design(d, opts, Path(tmp)) for d in opts.designs]
    return report(results, results_dir)
