"""Run every benchmark in this process, then print one table: each figure, its target, MET / NOT MET.

    .venv/bin/python benchmarks/run_all.py [--quick]      (what `make bench` runs, without --quick)

Figures are measured, not asserted: the machine may be shared and noisy, so nothing here fails.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_app  # noqa: E402
import bench_data  # noqa: E402
import bench_engine  # noqa: E402
import bench_items  # noqa: E402
import bench_optim  # noqa: E402


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, and no tracemalloc training run")
    args = parser.parse_args(argv)
    quick = ["--quick"] if args.quick else []

    start = time.perf_counter()
    print("== bench_engine ==")
    figures = bench_engine.main(quick)["figures"]
    print("\n== bench_optim ==")
    figures += bench_optim.main(quick)["figures"]
    print("\n== bench_items ==")
    figures += bench_items.main(quick)["figures"]
    print("\n== bench_data ==")
    figures += bench_data.main(quick)["figures"]
    print("\n== bench_app ==")
    figures += bench_app.main(quick)["figures"]

    print(f"\n== summary ({time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, {os.cpu_count()} cores, "
          f"{time.perf_counter() - start:.0f} s{', --quick' if args.quick else ''}) ==")
    width = max(len(f["name"]) for f in figures)
    print(f"{'figure':<{width}}  {'measured':>16}  {'target':<20}  result")
    for f in figures:
        value = f"{f['value']:,.0f}" if abs(f["value"]) >= 100 else f"{f['value']:.2f}" if abs(f["value"]) >= 1 else f"{f['value']:.3f}"
        result = "—" if f["met"] is None else "MET" if f["met"] else "NOT MET"
        print(f"{f['name']:<{width}}  {value + ' ' + f['unit']:>16}  {f['target']:<20}  {result}")
    missed = [f["name"] for f in figures if f["met"] is False]
    print(f"{len(missed)} target(s) not met" + (": " + "; ".join(missed) if missed else ""))
    return figures


if __name__ == "__main__":
    main()
