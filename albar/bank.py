"""Build a StillMix frame bank: `python -m albar.bank --config config/default.yaml --run stillmix --seed 0`.

The bank depends only on the run's `bank` settings, the training crop size and the seed, so runs
that share them share one bank, stored once under runs/_stillmix_bank/<bank_hash>/seed<k>/bank.pt
(see albar.methods.stillmix for the method). The rule passes the settings themselves
(`--bank-json`), so editing another parameter of a run does not rebuild its bank.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from albar.data import FrameReader, manifest_num_classes, read_manifest_entries
from albar.methods.stillmix import build_frame_bank
from albar.runs import (
    RunConfigError,
    bank_relpath,
    bank_seed,
    bank_settings,
    effective_training,
    find_run,
    run_uses_bank,
)
from albar.train import TrainingError, pick_device, save_atomic


def bank_job(config: dict, run: dict) -> dict:
    """What a bank job needs: {settings, num_classes} (the rule's params)."""
    training = effective_training(config, run)
    return {
        "settings": bank_settings(run, training["crop_size"]),
        "num_classes": training["num_classes"],
    }


def build_bank_file(
    *,
    settings: dict,
    num_classes: int | None,
    seed: int,
    manifest_path: Path,
    out: Path,
    device: str,
) -> dict:
    started = time.perf_counter()
    entries = read_manifest_entries(manifest_path, "train")
    num_classes = num_classes or manifest_num_classes(manifest_path)
    reader = FrameReader(cache=False)
    videos = [(e.key, reader.video(e.path), e.label) for e in entries]
    bank = build_frame_bank(
        videos, settings, num_classes=num_classes, seed=seed, device=pick_device(device)
    )
    bank["manifest"] = str(manifest_path)
    save_atomic(bank, out)  # no timing inside: the same config gives the same bank bytes
    print(
        f"{out}: StillMix bank of {len(videos)} training videos in {time.perf_counter() - started:.1f} s"
    )
    return bank


def main(argv=None) -> int:
    from benchmark.config import ConfigError, load_config, results_dir
    from benchmark.runtime import set_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="workflow YAML config (with --run)")
    source.add_argument(
        "--bank-json", help="{settings, num_classes} as JSON (what the rule passes)"
    )
    parser.add_argument("--run", help="with --config: a run whose method uses the StillMix bank")
    parser.add_argument(
        "--seed",
        type=int,
        required=True,
        help="with --bank-json: the bank's seed; with --config: a training seed (the bank built "
        "is the one it trains on: the run's bank.seed, or this seed when bank.seed is null)",
    )
    parser.add_argument(
        "--manifest", help="manifest.csv (default: <results>/<dataset>/manifest.csv)"
    )
    parser.add_argument(
        "--out", help="bank.pt (default: runs/_stillmix_bank/<hash>/seed<k>/bank.pt)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    try:
        if args.bank_json:
            if args.manifest is None or args.out is None:
                raise TrainingError("--bank-json needs --manifest and --out")
            job = json.loads(args.bank_json)
            manifest, out, seed = Path(args.manifest), Path(args.out), args.seed
        else:
            config = load_config(args.config)
            if not args.run:
                raise TrainingError("--config needs --run")
            run = find_run(config, args.run)
            if not run_uses_bank(run):
                raise TrainingError(
                    f"run {args.run!r} ({run['method']}) does not use a StillMix bank"
                )
            job = bank_job(config, run)
            seed = bank_seed(run, args.seed)
            base = results_dir(config)
            manifest = Path(args.manifest) if args.manifest else base / "manifest.csv"
            out = (
                Path(args.out) if args.out else base / "runs" / bank_relpath(config, run, args.seed)
            )
        build_bank_file(
            settings=job["settings"],
            num_classes=job["num_classes"],
            seed=seed,
            manifest_path=manifest,
            out=out,
            device=args.device,
        )
    except (TrainingError, RunConfigError, ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
