"""Prediction throughput with and without the shared decode (albar.clip_cache), in one run.

    python perf/predict_throughput.py --results results/synthetic \
        --checkpoint results/synthetic/runs/vanilla/seed0/checkpoint.pt [--rounds 3 --runs 24]

On every prediction set of a results folder (IID = the manifest's test split, and each
bench/<variant>/<set>/items.csv) with one trained checkpoint, one thread:
- building the caches once (`write_clip_cache` for every set: decoding every test clip as today's
  prediction does, plus the write), reading them back (open, check, copy out each clip), the test
  transform (resize, crop, normalise) and the model, each timed alone;
- `albar.predict.predict_run` as the workflow ran it (decoding every item) and with `clips_dir`
  (reading the caches), interleaved round by round so machine load hits both alike; the two
  prediction folders are compared byte for byte.
Prints a Markdown table (clips/s, seconds per prediction job without process start-up), the
projected prediction time of `--runs` run x seed jobs both ways, and the caches' size.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


def _sets(results: Path) -> dict[str, Path]:
    """{set name: source table}: iid -> manifest.csv, <variant>/<set> -> its items.csv."""
    sets = {"iid": results / "manifest.csv"}
    for items in sorted((results / "bench").glob("*/*/items.csv")):
        sets[f"{items.parent.parent.name}/{items.parent.name}"] = items
    return sets


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _same_files(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*.csv"))
    other = sorted(p.relative_to(b) for p in b.rglob("*.csv"))
    return files == other and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", required=True, type=Path, help="results/<dataset>/")
    parser.add_argument("--checkpoint", required=True, type=Path, help="a trained checkpoint.pt")
    parser.add_argument("--rounds", type=int, default=3, help="old/new prediction rounds")
    parser.add_argument("--runs", type=int, default=24, help="run x seed jobs to project for")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    from benchmark.runtime import set_threads

    set_threads(args.threads)
    torch.set_num_threads(args.threads)
    from albar.clip_cache import ClipCache, set_entries, write_clip_cache
    from albar.data import ClipSettings, eval_transforms
    from albar.models import model_spec
    from albar.predict import predict_run
    from albar.train import augmentation, load_checkpoint, model_from_checkpoint
    from benchmark.clips import test_clip_indices

    checkpoint = load_checkpoint(args.checkpoint)
    model = model_from_checkpoint(checkpoint, args.checkpoint).eval()
    clip = ClipSettings(checkpoint["test_clip"]["frames"], checkpoint["test_clip"]["stride"])
    training = checkpoint["training"]
    aug = augmentation(training, model_spec(checkpoint["model_info"]["name"]))
    crops, batch = training["test_crops"], training["predict_batch_size"]
    sets = _sets(args.results)
    entries = {name: set_entries(name, source, args.results) for name, source in sets.items()}
    n_items = sum(len(e) for e in entries.values())
    pick = lambda n: test_clip_indices(n, clip.frames, clip.stride).tolist()  # noqa: E731
    work = Path(tempfile.mkdtemp(prefix="predict_throughput_"))
    rows: list[tuple[str, float]] = []
    try:
        # the caches first: building them is the decode (FrameReader, as prediction decodes) plus
        # a sequential write; one full decode pass fewer keeps the script short on a busy machine
        started = time.perf_counter()
        for name, source in sets.items():
            write_clip_cache(
                name=name,
                source=source,
                results_dir=args.results,
                clip=clip,
                out=work / "clips" / f"{name}.npy",
                log=lambda _: None,
            )
        build = time.perf_counter() - started
        rows.append(("decode the test clips from the videos + write the caches (once)", build))
        cache_bytes = sum(p.stat().st_size for p in (work / "clips").rglob("*") if p.is_file())

        started = time.perf_counter()
        decoded = {}
        for name, source in sets.items():
            cache = ClipCache(
                work / "clips" / f"{name}.npy",
                name=name,
                source=source,
                entries=entries[name],
                clip=clip,
            )
            decoded[name] = [cache.clip(e, pick) for e in entries[name]]
        rows.append(
            ("read the caches (open, check sha256, copy out)", time.perf_counter() - started)
        )

        started = time.perf_counter()
        views = {n: [eval_transforms(f, aug, crops) for f in fs] for n, fs in decoded.items()}
        rows.append(("test transform (resize, crop, normalise)", time.perf_counter() - started))

        started = time.perf_counter()
        with torch.inference_mode():
            for vs in views.values():
                for i in range(0, len(vs), batch):
                    stacked = torch.stack(vs[i : i + batch])  # (B, V, 3, T, S, S)
                    model(stacked.flatten(0, 1)).softmax(1)
        rows.append(("model forward + softmax", time.perf_counter() - started))
        del views, decoded

        items = [source for name, source in sets.items() if name != "iid"]
        old, new = [], []
        for r in range(args.rounds):
            for label, clips_dir, times in (("old", None, old), ("new", work / "clips", new)):
                started = time.perf_counter()
                predict_run(
                    checkpoint_path=args.checkpoint,
                    manifest_path=sets["iid"],
                    results_dir=args.results,
                    items=items,
                    out_dir=work / f"{label}{r}",
                    clips_dir=clips_dir,
                    log=lambda _: None,
                )
                times.append(time.perf_counter() - started)
        identical = all(_same_files(work / f"old{r}", work / f"new{r}") for r in range(args.rounds))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    t_old, t_new = statistics.median(old), statistics.median(new)
    print(
        f"machine: {platform.machine()} {_cpu()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{args.threads} thread(s), {time.strftime('%Y-%m-%d', time.gmtime())}; "
        f"{len(sets)} sets, {n_items} clips of {clip.frames} frames (stride {clip.stride}), "
        f"{crops} crop(s); {args.rounds} rounds"
    )
    print("\n| part (all sets, one pass) | s | clips/s |\n|---|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} | {n_items / seconds:.0f} |")
    print("\n| prediction job (median of rounds, no process start) | s | clips/s |\n|---|---|---|")
    print(f"| decoding every item (before) | {t_old:.2f} | {n_items / t_old:.0f} |")
    print(f"| reading the shared caches (after) | {t_new:.2f} | {n_items / t_new:.0f} |")
    print(f"\nrounds: before {[round(t, 2) for t in old]}, after {[round(t, 2) for t in new]}")
    print(f"prediction files byte-identical before/after: {identical}")
    print(f"caches: {cache_bytes / 1e6:.1f} MB (.npy + .json, all sets)")
    print(
        f"{args.runs} run x seed jobs: before {args.runs * t_old:.0f} s; after "
        f"{build:.0f} s (caches, once) + {args.runs * t_new:.0f} s = "
        f"{build + args.runs * t_new:.0f} s"
    )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
