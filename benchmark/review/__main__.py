"""Command line of the review stage.

    python -m benchmark.review build   --config config/default.yaml [--threads N]
    python -m benchmark.review serve   --config config/default.yaml [--port 8765]
    python -m benchmark.review merge   alice.csv bob.csv --out config/reviews/<dataset>/<tracker>.csv
    python -m benchmark.review gate    --config config/default.yaml --skipped results/<ds>/ingest/skipped.csv ...
    python -m benchmark.review retrack --config config/default.yaml [--dry-run]

`build` writes the static gallery (open results/<dataset>/review/<tracker>/index.html in a browser);
`serve` serves it on 127.0.0.1 and merges each save into config/reviews/ per video; `merge` combines
reviewers' exports into the canonical file (latest decided_at wins, conflicts listed); `gate` writes
review/approved.csv and the summary the benchmark assembly reads; `retrack` re-runs the tracker on the
videos marked retrack, with the reviewers' prompts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmark.config import add_config_arguments, config_from_args, results_dir
from benchmark.manifest import ManifestError, read_manifest, read_skipped
from benchmark.review.decisions import (
    DecisionError,
    decisions_path,
    merge_decision_sets,
    prompts_path_for,
    read_decisions,
    write_decisions,
)
from benchmark.runtime import set_threads


def _build(args: argparse.Namespace) -> int:
    from benchmark.review.gallery import GallerySettings, build_gallery

    config = config_from_args(args)
    review = config["review"]
    stats = build_gallery(
        results_dir(config),
        dataset=config["dataset"]["name"],
        tracker=review["tracker"],
        settings=GallerySettings.from_config(review["gallery"]),
        decisions_csv=decisions_path(config),
        splits=review["splits"],
        threads=args.threads,
    )
    page = results_dir(config) / "review" / review["tracker"] / "index.html"
    print(
        f"review gallery {page}: {stats['videos']} videos, {stats['sprites_drawn']} previews drawn, "
        f"{stats['problems']} with problems, {stats['seconds']} s"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from benchmark.review.server import ReviewServer

    config = config_from_args(args)
    results = results_dir(config)
    tracker = config["review"]["tracker"]
    page = results / "review" / tracker / "index.html"
    if not page.exists():
        print(
            f"{page}: no gallery yet; run `python -m benchmark.review build` first", file=sys.stderr
        )
        return 2
    manifest = read_manifest(results / "manifest.csv")
    server = ReviewServer(
        results,
        decisions_path(config),
        dataset=config["dataset"]["name"],
        tracker=tracker,
        known_ids=set(manifest["video_id"]),
        port=args.port,
    )
    print(f"review server: {server.url}/review/{tracker}/index.html (Ctrl-C stops)")
    print(f"decisions are saved to {server.decisions_csv} and {server.prompts_json}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _merge(args: argparse.Namespace) -> int:
    out = Path(args.out)
    known = None
    if args.manifest:
        known = set(read_manifest(args.manifest)["video_id"])
    inputs = [Path(p) for p in args.inputs]
    if out.exists() and not args.no_existing and out.resolve() not in {p.resolve() for p in inputs}:
        # the canonical file's own decisions take part, so a merge never loses earlier reviews
        inputs.insert(0, out)
    for path in inputs:
        if not path.exists():
            raise DecisionError(f"{path}: decisions file not found")
    result = merge_decision_sets([read_decisions(path, known) for path in inputs])
    for first, second in result.conflicts:
        print(
            f"conflict: {first.video_id} mask {first.mask_sha256[:12]}: {first.decision} by "
            f"{first.reviewer} at {first.decided_at} ({first.source}) vs {second.decision} by "
            f"{second.reviewer} at {second.decided_at} ({second.source})"
        )
    write_decisions(out, result.merged)
    counts = {d: 0 for d in ("approve", "reject", "retrack")}
    for decision in result.merged.decisions.values():
        counts[decision.decision] += 1
    print(
        f"merged {len(inputs)} file(s) into {out} (+ {prompts_path_for(out).name}): "
        f"{len(result.merged.decisions)} videos {counts}, {len(result.conflicts)} conflict(s)"
    )
    return 1 if (args.strict and result.conflicts) else 0


def _gate(args: argparse.Namespace) -> int:
    from benchmark.review.gate import gate_videos, write_gate
    from benchmark.table_files import read_qc

    config = config_from_args(args)
    results = results_dir(config)
    review = config["review"]
    manifest = read_manifest(results / "manifest.csv")
    qc_path = results / "masks" / review["tracker"] / "qc.csv"
    qc = read_qc(qc_path)
    decisions_csv = decisions_path(config)
    decision_set = read_decisions(decisions_csv, set(manifest["video_id"]))
    skipped = read_skipped(args.skipped)
    result = gate_videos(
        manifest,
        qc,
        decision_set,
        skipped,
        require=review["require"],
        splits=review["splits"],
        qc_name=str(qc_path),
    )
    out = Path(args.out) if args.out else results / "review"
    write_gate(out, result, review["tracker"], str(decisions_csv))
    total = result.summary.iloc[-1]
    print(
        f"review gate ({review['tracker']}, require={str(review['require']).lower()}): "
        f"{len(result.approved)} of {int(total['videos'])} videos used; "
        + ", ".join(
            f"{k} {int(total[k])}"
            for k in ("approved", "rejected", "retrack_pending", "stale", "unreviewed", "skipped")
        )
        + f"; flagged {int(total['flagged'])} -> {out / 'approved.csv'}"
    )
    return 0


def _retrack(args: argparse.Namespace) -> int:
    from benchmark.review.retrack import run_retrack

    config = config_from_args(args)
    return run_retrack(
        config, threads=args.threads, dry_run=args.dry_run, rebuild_gallery=not args.no_gallery
    )


def main(argv: list[str] | None = None, prog: str = "python -m benchmark.review") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="write the static review gallery")
    add_config_arguments(build)
    build.add_argument("--threads", type=int, default=1, help="videos rendered in parallel")
    build.set_defaults(run=_build)

    serve = commands.add_parser("serve", help="serve the gallery on 127.0.0.1 and save decisions")
    add_config_arguments(serve)
    serve.add_argument(
        "--port", type=int, default=8765, help="TCP port on 127.0.0.1 (0 = any free port)"
    )
    serve.set_defaults(run=_serve, threads=1)

    merge = commands.add_parser(
        "merge", help="merge reviewers' exports into the canonical decisions file"
    )
    merge.add_argument(
        "inputs", nargs="+", help="decisions CSVs (each with an optional X.prompts.json beside it)"
    )
    merge.add_argument(
        "--out", required=True, help="canonical file, config/reviews/<dataset>/<tracker>.csv"
    )
    merge.add_argument("--manifest", help="check every video id against this manifest.csv")
    merge.add_argument(
        "--no-existing", action="store_true", help="do not merge in --out's current content"
    )
    merge.add_argument("--strict", action="store_true", help="exit 1 when there are conflicts")
    merge.set_defaults(run=_merge, threads=1)

    gate = commands.add_parser("gate", help="write review/approved.csv and the review summary")
    add_config_arguments(gate)
    gate.add_argument(
        "--skipped",
        nargs="*",
        default=[],
        help="every stage's skipped.csv whose videos leave the benchmark",
    )
    gate.add_argument("--out", help="output folder (default results/<dataset>/review)")
    gate.add_argument("--threads", type=int, default=1)
    gate.set_defaults(run=_gate)

    retrack = commands.add_parser("retrack", help="re-run the tracker on the videos marked retrack")
    add_config_arguments(retrack)
    retrack.add_argument("--threads", type=int, default=1)
    retrack.add_argument(
        "--dry-run", action="store_true", help="list the videos and prompts, track nothing"
    )
    retrack.add_argument(
        "--no-gallery", action="store_true", help="do not rebuild the gallery afterwards"
    )
    retrack.set_defaults(run=_retrack)

    args = parser.parse_args(argv)
    set_threads(args.threads)
    started = time.perf_counter()
    try:
        code = args.run(args)
    except (DecisionError, ManifestError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command not in ("serve",):
        print(f"({time.perf_counter() - started:.1f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
