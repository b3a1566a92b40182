"""Results tables in the paper's layouts (CSV, Markdown, LaTeX) and the comparison with its figures.

The command line of the `summarise_results` rule (`python -m benchmark.tables --config FILE`):
score every configured run and write `results/<dataset>/tables/`; see the package docstring."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from benchmark.config import add_config_arguments, config_from_args
from benchmark.layout import LayoutError
from benchmark.metrics import MetricsError
from benchmark.runtime import set_threads
from benchmark.table_files import TableError
from benchmark.tables.settings import TablesError
from benchmark.tables.write import run_from_config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.tables", description=__doc__.split("\n\n")[0]
    )
    add_config_arguments(parser)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    start = time.perf_counter()
    config = config_from_args(args)
    try:
        written = run_from_config(config)
    except (MetricsError, LayoutError, TableError, TablesError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"wrote {len(written)} files to {written[0].parent} ({time.perf_counter() - start:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
