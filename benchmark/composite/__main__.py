"""SCUBA / SCUFO / Confl-FG assembly: paste each test video's actor onto unrelated backgrounds.

The command line of the assembly stage (`python -m benchmark.composite scuba|scufo|conflfg|collect`):
one shard of one protocol and variant, or the collect step; see the package docstring."""

from __future__ import annotations

import argparse
import sys
import time

from benchmark.composite.collect import collect_items
from benchmark.composite.protocols import run_conflfg_shard, run_scuba_shard, run_scufo_shard
from benchmark.config import add_config_arguments, config_from_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.composite", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("scuba", "scufo", "conflfg"):
        command = sub.add_parser(name, help=f"build the {name} items of one variant's shard")
        command.add_argument("--variant", required=True)
        command.add_argument("--shard", required=True, help="shard-<kkk>")
    sub.add_parser("collect", help="join the shard tables into items.csv files")
    for command in sub.choices.values():
        add_config_arguments(command)
        command.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    from benchmark.runtime import set_threads

    set_threads(args.threads)
    config = config_from_args(args)
    started = time.perf_counter()
    if args.command in ("scuba", "scufo", "conflfg"):
        run = {"scuba": run_scuba_shard, "scufo": run_scufo_shard, "conflfg": run_conflfg_shard}
        table = run[args.command](config, args.variant, args.shard, args.threads)
        summary = f"{args.command} {args.variant} {args.shard}: {len(table)} items"
    else:
        counts = collect_items(config)
        summary = f"collect: {len(counts)} item sets, {sum(counts.values())} items"
    seconds = time.perf_counter() - started
    print(f"{summary} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
