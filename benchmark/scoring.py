"""Command line that scores runs trained anywhere against a built benchmark and writes the tables.

`python -m benchmark.scoring score ...` (or `albar-bench score ...`) reads prediction files in the
documented layout (docs/results.md, "Scoring your own predictions") and writes the same tables as
the workflow's `summarise_results` rule; `python -m benchmark.scoring compare ...` gives a paired
bootstrap interval for the difference in Avg Contra between two runs. It sits above
`benchmark.metrics` (the scores) and `benchmark.tables` (the layouts), so neither imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmark.layout import LayoutError
from benchmark.metrics import (
    BenchmarkSets,
    MetricsError,
    paired_difference,
    score_runs,
    seed_dirs,
)
from benchmark.runtime import set_threads
from benchmark.table_files import TableError
from benchmark.tables.settings import TablesError, TableSettings
from benchmark.tables.write import write_tables


def _parse_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _parse_run(text: str) -> tuple[str, Path]:
    name, path = _parse_pair(text)
    return name, Path(path)


def discover_benchmark(bench_dir: str | os.PathLike) -> dict[str, list[str]]:
    """What a built benchmark folder holds: variants, background sources and Confl-FG sources."""
    found = {"variants": set(), "bg_sources": set(), "conflfg_sources": set()}
    for items in Path(bench_dir, "bench").glob("*/*-*/items.csv"):
        protocol, _, source = items.parent.name.partition("-")
        if protocol == "scuba":
            found["variants"].add(items.parent.parent.name)
            found["bg_sources"].add(source)
        elif protocol == "conflfg":
            found["conflfg_sources"].add(source)
    return {key: sorted(values) for key, values in found.items()}


def build_parser(prog: str = "python -m benchmark.scoring") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Score prediction files against a built benchmark (see docs/results.md: scoring your own predictions).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--bench-dir",
            required=True,
            type=Path,
            help="a built benchmark, e.g. results/synthetic",
        )
        sub.add_argument(
            "--variants", nargs="+", help="variants to score (default: every bench/<variant>/)"
        )
        sub.add_argument(
            "--bg-sources", nargs="+", help="background sources (default: every scuba-<source>/)"
        )
        sub.add_argument(
            "--seeds", nargs="+", type=int, help="seed folders to read (default: every seed<k>/)"
        )
        sub.add_argument(
            "--conflfg-sources",
            nargs="*",
            help="Confl-FG background sources (default: every conflfg-<source>/)",
        )
        sub.add_argument(
            "--bootstrap-samples", type=int, default=1000, help="bootstrap resamples (default 1000)"
        )
        sub.add_argument(
            "--ci-level", type=float, default=0.95, help="confidence level (default 0.95)"
        )
        sub.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
        sub.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
        sub.add_argument(
            "--no-iid",
            action="store_true",
            help="do not score IID (a released or imported benchmark without the original "
            "videos: no pred/iid.csv needed; the iid column stays empty)",
        )

    score = commands.add_parser("score", help="score runs and write the results tables")
    common(score)
    score.add_argument(
        "--run",
        action="append",
        type=_parse_run,
        required=True,
        metavar="NAME=DIR",
        help="a run folder holding seed<k>/pred/... and seed<k>/metrics.json (repeatable)",
    )
    score.add_argument(
        "--out", required=True, type=Path, help="folder for the tables (csv, md, tex, png)"
    )
    score.add_argument(
        "--baseline-run",
        help="run the paired differences are measured against (default: first --run)",
    )
    score.add_argument(
        "--paper-comparison",
        action="append",
        type=_parse_pair,
        default=[],
        metavar="TABLE=VARIANT",
        help="also write paper_comparison.* for this published table against this variant (repeatable)",
    )
    score.add_argument(
        "--paper-method",
        action="append",
        type=_parse_pair,
        default=[],
        metavar="RUN=METHOD",
        help="the paper's method name of a run whose metrics.json method does not map to one (repeatable)",
    )

    compare = commands.add_parser(
        "compare", help="paired bootstrap interval of Avg Contra(A) - Contra(B)"
    )
    common(compare)
    compare.add_argument("--run-a", required=True, type=_parse_run, metavar="NAME=DIR")
    compare.add_argument("--run-b", required=True, type=_parse_run, metavar="NAME=DIR")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m benchmark.scoring") -> int:
    args = build_parser(prog).parse_args(argv)
    set_threads(args.threads)
    start = time.perf_counter()
    found = discover_benchmark(args.bench_dir)
    variants = args.variants or found["variants"]
    bg_sources = args.bg_sources or found["bg_sources"]
    conflfg = found["conflfg_sources"] if args.conflfg_sources is None else args.conflfg_sources
    if not variants or not bg_sources:
        print(
            f"{args.bench_dir}: no bench/<variant>/scuba-<source>/items.csv found", file=sys.stderr
        )
        return 2
    print(f"variants {variants}; background sources {bg_sources}; Confl-FG sources {conflfg}")
    try:
        bench = BenchmarkSets(args.bench_dir, variants, bg_sources, conflfg, iid=not args.no_iid)
        if args.command == "compare":
            runs = score_runs(
                bench,
                {name: seed_dirs(path, args.seeds) for name, path in (args.run_a, args.run_b)},
            )
            for variant in variants:
                result = paired_difference(
                    runs[0].seeds,
                    runs[1].seeds,
                    variant,
                    bg_sources,
                    samples=args.bootstrap_samples,
                    level=args.ci_level,
                    seed=args.seed,
                )
                print(
                    f"{variant}: Contra {runs[0].run} - {runs[1].run} = {result['diff']:.2f} "
                    f"({100 * args.ci_level:g}% CI {result['ci_lo']:.2f} .. {result['ci_hi']:.2f})"
                )
            return 0

        names = [name for name, _ in args.run]
        if len(set(names)) != len(names):
            raise MetricsError(f"run names must be unique, got {names}")
        runs = score_runs(bench, {name: seed_dirs(path, args.seeds) for name, path in args.run})
        # A benchmark copied without its masks/ folder has no QC tables: the leakage table then
        # leaves the mask figures empty, and says so here rather than silently.
        qc_paths = {v: args.bench_dir / "masks" / v / "qc.csv" for v in variants}
        absent = [v for v, path in qc_paths.items() if not path.exists()]
        for variant in absent:
            print(
                f"note: {qc_paths[variant]} not found; leakage table has no mask figures for {variant}"
            )
            del qc_paths[variant]
        settings = TableSettings(
            bootstrap_samples=args.bootstrap_samples,
            ci_level=args.ci_level,
            seed=args.seed,
            baseline_run=args.baseline_run,
            paper_comparison=list(args.paper_comparison),
            paper_methods=dict(args.paper_method),
            qc_paths=qc_paths,
        )
        written = write_tables(bench, runs, args.out, settings)
    except (MetricsError, LayoutError, TableError, TablesError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"scored {len(runs)} runs on {len(bench.sets)} sets: {len(written)} files in {args.out} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
