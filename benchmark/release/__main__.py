"""Command line of the release tools (`python -m benchmark.release`, `albar-bench release`).

build --config FILE [--out DIR]          write the bundle (and archive) of a finished build
verify BUNDLE [--fast] [--report FILE]   check a bundle (folder or .tar.gz); exit 0 on PASS
import-albar SRC OUT --labels ...        an official ALBAR release -> items.csv folder
import-stillmix SRC OUT ...              an official StillMix release -> items.csv folder
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmark.config import ConfigError, add_config_arguments, config_from_args


def _build(args) -> int:
    from benchmark.release.bundle import build_bundle

    config = config_from_args(args)
    started = time.perf_counter()
    built = build_bundle(config, args.out)
    print(
        f"build {built.path}: {built.items} items, {built.files} files"
        + (f", archive sha256 {built.archive_sha256}" if built.archive else "")
        + f" in {time.perf_counter() - started:.1f} s"
    )
    return 0


def _verify(args) -> int:
    from benchmark.release.files import extract_archive, write_verify_report
    from benchmark.release.verify import verify_bundle

    bundle = Path(args.bundle)
    with tempfile.TemporaryDirectory(prefix="verify-") as scratch:
        if bundle.is_file() and bundle.name.endswith(".tar.gz"):
            bundle = extract_archive(bundle, scratch)
        report = verify_bundle(bundle, fast=args.fast)
    for problem in report.problems:
        print(f"problem: {problem}")
    if args.report:
        write_verify_report(args.report, report.to_dict())
    print(report.summary())
    return 0 if report.ok else 1


def _import_albar(args) -> int:
    from benchmark.release.importers import import_albar

    result = import_albar(
        args.source,
        args.out,
        labels=args.labels,
        labels_csv=args.labels_csv,
        class_mapping=args.class_mapping,
        variant=args.variant,
    )
    print(result.summary())
    return 0


def _import_stillmix(args) -> int:
    from benchmark.release.importers import import_stillmix

    result = import_stillmix(
        args.source,
        args.out,
        lists=args.lists,
        split=args.split,
        variant=args.variant,
        scufo_from_scuba=args.scufo_from_scuba,
        test_clip={"frames": args.test_clip[0], "stride": args.test_clip[1]},
        seed=args.seed,
    )
    print(result.summary())
    return 0


def build_parser(prog: str = "python -m benchmark.release") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="write the release bundle of a finished build")
    add_config_arguments(build)
    build.add_argument(
        "--out", type=Path, help="bundle folder (default results/<ds>/release/<name>)"
    )
    build.set_defaults(run=_build)

    verify = sub.add_parser("verify", help="check a downloaded bundle")
    verify.add_argument("bundle", help="bundle folder or its .tar.gz")
    verify.add_argument("--fast", action="store_true", help="checksums only")
    verify.add_argument("--report", type=Path, help="also write the result as JSON here")
    verify.set_defaults(run=_verify)

    albar = sub.add_parser("import-albar", help="import an official ALBAR release")
    albar.add_argument("source", type=Path, help="folder holding <DATASET>_SCUBA_<Source>/ ...")
    albar.add_argument("out", type=Path, help="new benchmark folder (bench/<variant>/...)")
    albar.add_argument(
        "--labels",
        choices=("ucf101", "csv"),
        required=True,
        help="ucf101: class from v_<Class>_g..; csv: look the video name up in --labels-csv",
    )
    albar.add_argument("--labels-csv", type=Path, help="filename,label table (hmdb51_labels.csv)")
    albar.add_argument(
        "--class-mapping", type=Path, help='UCF101 {"classes": {name: 1-based}} JSON'
    )
    albar.add_argument("--variant", default="albar", help="variant name of the imported sets")
    albar.set_defaults(run=_import_albar)

    still = sub.add_parser("import-stillmix", help="import an official StillMix release")
    still.add_argument("source", type=Path, help="folder of <set>/generated_videos/ folders")
    still.add_argument("out", type=Path, help="new benchmark folder (bench/<variant>/...)")
    still.add_argument(
        "--lists", type=Path, required=True, help="folder of <set>/**/testlist0<k>.txt"
    )
    still.add_argument("--split", type=int, default=1, help="list split number (default 1)")
    still.add_argument("--variant", default="stillmix", help="variant name of the imported sets")
    still.add_argument(
        "--scufo-from-scuba",
        choices=("middle", "random"),
        default="middle",
        help="StillMix released no SCUFO: freeze this frame of each SCUBA item's test clip",
    )
    still.add_argument(
        "--test-clip",
        nargs=2,
        type=int,
        default=(32, 2),
        metavar=("FRAMES", "STRIDE"),
        help="test clip the SCUFO frame is chosen in (default 32 2, StillMix's test pipeline)",
    )
    still.add_argument("--seed", type=int, default=0, help="seed of --scufo-from-scuba random")
    still.set_defaults(run=_import_stillmix)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m benchmark.release") -> int:
    from benchmark.composite.errors import AssemblyError
    from benchmark.release.files import ReleaseError
    from benchmark.video import VideoReadError

    args = build_parser(prog).parse_args(argv)
    try:
        return args.run(args)
    except (ReleaseError, ConfigError, AssemblyError, VideoReadError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
