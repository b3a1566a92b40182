"""The `albar-bench` console script: one entry point for the command lines users run by hand.

`albar-bench score|compare ...` is `python -m benchmark.scoring`, `albar-bench review
build|serve|merge|gate|retrack ...` is `python -m benchmark.review`, and `albar-bench
config-reference ...` is `python -m benchmark.config_reference`, `albar-bench release ...` is
`python -m benchmark.release`, with the same arguments; the
`python -m` forms stay (the workflow's rules use them). This module only dispatches: it sits above
every command line it names, and each is imported only when its command runs, so
`albar-bench --help` does not load torch or pandas.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence


def _score(argv: list[str]) -> int:
    from benchmark import scoring

    return scoring.main(["score", *argv], prog="albar-bench")


def _compare(argv: list[str]) -> int:
    from benchmark import scoring

    return scoring.main(["compare", *argv], prog="albar-bench")


def _review(argv: list[str]) -> int:
    from benchmark.review import __main__ as review

    return review.main(argv, prog="albar-bench review")


def _config_reference(argv: list[str]) -> int:
    from benchmark import config_reference

    return config_reference.main(argv, prog="albar-bench config-reference")


def _release(argv: list[str]) -> int:
    from benchmark.release import __main__ as release

    return release.main(argv, prog="albar-bench release")


# command -> (one-line help, runner taking the arguments after the command)
COMMANDS: dict[str, tuple[str, Callable[[list[str]], int]]] = {
    "score": ("score runs against a built benchmark and write the results tables", _score),
    "compare": ("paired bootstrap interval of Avg Contra(A) - Contra(B)", _compare),
    "review": ("the mask review: build | serve | merge | gate | retrack", _review),
    "release": ("publish a benchmark: build | verify | import-albar | import-stillmix", _release),
    "config-reference": ("write or check the configuration reference page", _config_reference),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="albar-bench",
        description="albar-bench: score runs on the SCUBA / SCUFO / Confl-FG benchmarks, review "
        "masks, document the configuration.",
        epilog="'albar-bench COMMAND --help' lists a command's arguments.",
    )
    parser.add_argument(
        "command",
        choices=list(COMMANDS),
        metavar="COMMAND",
        help="; ".join(f"{name}: {text}" for name, (text, _) in COMMANDS.items()),
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Only the command word is parsed here (a missing or unknown one is argparse's usage error,
    # exit 2): everything after it, --help included, belongs to the command's own parser.
    command = build_parser().parse_args(argv[:1]).command
    return COMMANDS[command][1](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
