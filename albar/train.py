"""Train one named run for one or more seeds: `python -m albar.train --config config/default.yaml
--run albar --seed 0 1 2`.

The shape of torchvision's video-classification reference: `train_one_epoch` (AdamW with a
per-iteration linear warm-up then cosine schedule, autocast on CUDA — bf16 by default, fp16 adds a
gradient scaler — optional gradient-norm clipping, `torchrun` DDP with BatchNorm statistics over all
processes), `evaluate`, the checkpoints in albar.checkpoint, and `main`. What a run is built from
(data, model, method, optimizer) is in albar.train_parts. The method object (albar.methods) turns
each batch into a loss, so the loop does not know ALBAR from vanilla.

Several seeds in one process (`train_seeds`, the CLI's `--seed 0 1 2`): the manifest, the decoded
videos and masks and the validation clips are read once; every random draw of a seed is derived from
the seed alone (global generators reseeded before the initial weights and at every epoch, a
generator per step, augmentation and batch order pure functions of seed, epoch and video), so each
seed's files are byte-identical to training it alone, and a run killed after epoch k and resumed
from `state/last.pt` ends with the same weights as an uninterrupted one on CPU.

Outputs in the run folder (runs/<run>/seed<k>/): checkpoint.pt (the selected epoch: the last, or the
best validation accuracy when `select: val_accuracy`), metrics.json (per-epoch terms and accuracy,
epochs and optimizer steps, what was selected), train.log, state/last.pt — all byte-identical on a
rerun — and timing.json (epoch seconds and clips/s, the one file that is not; also in the console
log).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from albar.checkpoint import (
    STATE_DIR,
    TrainingError,
    load_checkpoint,
    model_from_checkpoint,
    restore_state,
    save_atomic,
    save_state,
    unwrap,
)
from albar.distributed import DistributedContext
from albar.runs import (
    RunConfigError,
    bank_relpath,
    effective_training,
    find_run,
    one_seed_config,
    run_mask_source,
    run_uses_bank,
    scene_labels_relpath,
)
from albar.train_parts import (
    RunData,
    SeedParts,
    augmentation,
    build_seed,
    load_run_data,
    pick_device,
    run_fingerprint,
    stable_seed,
    start_runtime,
)
from benchmark.atomic import write_text_atomic

# the one file a run writes that differs between two runs of one configuration (docs/contracts.md)
TIMING_FILE = "timing.json"
# fmt: off
LOG_TERMS = ("loss", "ce", "static_ce", "neg_entropy", "gp", "static_max_prob", "scene_ce",
             "scene_accuracy", "accuracy")
# fmt: on

# the checkpoint helpers are re-exported: albar.predict, albar.bank and users import them from here
# fmt: off
__all__ = ["TrainingError", "augmentation", "build_seed", "evaluate", "load_checkpoint",
           "load_run_data", "main", "model_from_checkpoint", "pick_device", "save_atomic",
           "train_one_epoch", "train_run", "train_seeds"]
# fmt: on


# --- the loop -----------------------------------------------------------------------------------


@torch.inference_mode()
def evaluate(model: nn.Module, loader, device: torch.device, amp_dtype) -> float:
    """Top-1 accuracy (%) of `model` in eval mode over a EvalClips loader (views averaged)."""
    model.eval()
    correct, total = 0, 0
    for views, labels, _ in loader:
        batch, n_views = views.shape[:2]
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(views.flatten(0, 1).to(device))
        probs = logits.float().softmax(1).view(batch, n_views, -1).mean(1)
        correct += int((probs.argmax(1).cpu() == labels).sum())
        total += batch
    return 100.0 * correct / max(total, 1)


def _optimizer_step(parts: SeedParts, loss: torch.Tensor, grad_clip: float) -> None:
    parts.optimizer.zero_grad(set_to_none=True)
    parts.scaler.scale(loss).backward()
    if grad_clip:
        parts.scaler.unscale_(parts.optimizer)
        nn.utils.clip_grad_norm_(parts.parameters, grad_clip)
    parts.scaler.step(parts.optimizer)
    parts.scaler.update()
    parts.scheduler.step()


def train_one_epoch(
    parts: SeedParts,
    device: torch.device,
    epoch: int,
    *,
    seed: int,
    dist_ctx: DistributedContext,
    grad_clip: float,
    where: str,
) -> tuple[dict, dict]:
    """One epoch of optimizer steps; returns the clip-weighted mean of every LOG_TERMS term (over
    every process's clips) and the epoch's timings (clips, data_s, compute_s, seconds).

    where: "run <name> seed <k>", for the progress bar and the error on a non-finite loss."""
    from tqdm import tqdm

    epoch_started = time.perf_counter()
    parts.dataset.set_epoch(epoch)
    parts.sampler.set_epoch(epoch)
    parts.method.set_epoch(epoch)
    torch.manual_seed(stable_seed(seed, epoch, dist_ctx.rank))  # dropout etc. of this epoch
    parts.model.train()
    sums = {name: 0.0 for name in LOG_TERMS}
    counts = {name: 0 for name in LOG_TERMS}
    seen, data_s, compute_s = 0, 0.0, 0.0
    fetch_started = time.perf_counter()
    progress = tqdm(
        parts.loader, desc=f"{where} epoch {epoch + 1}", disable=None, leave=False, file=sys.stderr
    )
    for batch_index, batch in enumerate(progress):
        compute_started = time.perf_counter()
        data_s += compute_started - fetch_started
        clips = batch[0].to(device, non_blocking=True)
        labels = batch[1].to(device, non_blocking=True)
        # masks / scene labels, for the methods that asked for them (TrainClips' extras)
        extras = {k: v.to(device) for k, v in batch[3].items()} if len(batch) > 3 else {}
        generator = torch.Generator().manual_seed(
            stable_seed(seed, epoch, batch_index, dist_ctx.rank)
        )
        with torch.autocast(
            device.type, dtype=parts.amp_dtype, enabled=parts.amp_dtype is not None
        ):
            result = parts.method.step(parts.model, clips, labels, generator, **extras)
        loss = result.loss
        if not torch.isfinite(loss):
            raise TrainingError(
                f"{where}: loss is {float(loss)} at epoch {epoch + 1}, step {batch_index + 1}; "
                "lower training.lr, set grad_clip, or bound the adversarial term (adv_bound: log_k)"
            )
        _optimizer_step(parts, loss, grad_clip)
        size = labels.shape[0]
        seen += size
        for name, value in [("loss", loss.detach()), *result.terms.items()]:
            value = float(value)
            if name in sums and math.isfinite(value):
                sums[name] += value * size
                counts[name] += size
        fetch_started = time.perf_counter()
        compute_s += fetch_started - compute_started
    progress.close()
    if dist_ctx.world > 1:  # log the epoch over every process's clips, not rank 0's alone
        import torch.distributed as dist

        totals = torch.tensor([sums[n] for n in LOG_TERMS] + [counts[n] for n in LOG_TERMS])
        dist.all_reduce(totals)
        sums = dict(zip(LOG_TERMS, totals[: len(LOG_TERMS)].tolist(), strict=True))
        counts = dict(zip(LOG_TERMS, totals[len(LOG_TERMS) :].tolist(), strict=True))
    means = {name: (sums[name] / counts[name] if counts[name] else None) for name in LOG_TERMS}
    seconds = time.perf_counter() - epoch_started
    timing = {
        "clips": seen * dist_ctx.world,
        "data_s": data_s,
        "compute_s": compute_s,
        "seconds": seconds,
    }
    return means, timing


@dataclass
class _Job:
    """One seed's training job: what the loop's steps after the epoch read."""

    run: dict
    training: dict
    seed: int
    out_dir: Path
    data: RunData
    device: torch.device
    dist_ctx: DistributedContext
    fingerprint: str
    model_info: dict


def _epoch(job: _Job, parts: SeedParts, epoch: int, step: int) -> tuple[dict, dict]:
    """Train one epoch and validate when due: the epoch's history record (no timings: the record
    goes into metrics.json and the resume state) and its timing record (timing.json)."""
    means, timing = train_one_epoch(
        parts,
        job.device,
        epoch,
        seed=job.seed,
        dist_ctx=job.dist_ctx,
        grad_clip=job.training["grad_clip"],
        where=f"run {job.run['name']!r} seed {job.seed}",
    )
    record = {
        "epoch": epoch + 1,
        "step": step + len(parts.sampler),
        "lr": parts.optimizer.param_groups[0]["lr"],
        **means,
        "val_accuracy": None,
    }
    for name in ("accuracy", "scene_accuracy"):
        if record[name] is not None:
            record[name] *= 100.0
    started = time.perf_counter()
    if parts.val_loader is not None and (epoch + 1) % job.training["eval_every"] == 0:
        record["val_accuracy"] = evaluate(
            unwrap(parts.model), parts.val_loader, job.device, parts.amp_dtype
        )
    timing = {
        "epoch": epoch + 1,
        "clips_per_s": timing["clips"] / timing["seconds"],
        **timing,
        "val_s": time.perf_counter() - started,
    }
    return record, timing


def _epoch_line(record: dict, timing: dict, epochs: int) -> tuple[str, str]:
    """The epoch's line for train.log, and the timings the console log adds to it."""
    terms = " ".join(
        f"{name} {record[name]:.4f}" for name in LOG_TERMS[:-1] if record[name] is not None
    )
    val = "" if record["val_accuracy"] is None else f" val_acc {record['val_accuracy']:.1f}"
    line = (
        f"epoch {record['epoch']}/{epochs} {terms} train_acc {record['accuracy']:.1f}{val} "
        f"lr {record['lr']:.2e}"
    )
    return line, (
        f"{timing['clips_per_s']:.1f} clips/s (data {timing['data_s']:.1f} s, "
        f"model {timing['compute_s']:.1f} s)"
    )


def _save_epoch(job: _Job, parts: SeedParts, record: dict, progress: dict) -> None:
    """After an epoch: the best epoch's weights when selecting on validation, and the resume state."""
    if (
        job.training["select"] == "val_accuracy"
        and record["val_accuracy"] is not None
        and record["val_accuracy"] > progress["best"]["val_accuracy"]
    ):
        progress["best"] = {"epoch": record["epoch"], "val_accuracy": record["val_accuracy"]}
        save_atomic(
            {"model": unwrap(parts.model).state_dict(), "epoch": record["epoch"]},
            job.out_dir / STATE_DIR / "best.pt",
        )
    save_state(
        job.out_dir / STATE_DIR / "last.pt", parts, progress, job.fingerprint, job.model_info
    )


def _resume(job: _Job, parts: SeedParts, progress: dict, say) -> dict:
    """Continue from `state/last.pt` when it was saved under this configuration and manifest."""
    state_path = job.out_dir / STATE_DIR / "last.pt"
    if not state_path.exists():
        return progress
    restored = restore_state(state_path, parts, job.fingerprint)
    if restored is None:
        say(f"{state_path}: saved under another configuration or manifest; starting afresh")
        return progress
    progress.clear()
    progress.update(restored)  # in place: `say` appends to this dict's lines
    say(f"resumed from {state_path} after epoch {progress['epoch']} ({progress['step']} steps)")
    return progress


def _header(job: _Job, parts: SeedParts) -> str:
    data, run = job.data, job.run
    return (
        f"run {run['name']} ({run['method']}) seed {job.seed}: {len(data.train_entries)} train "
        f"clips, {len(data.val_entries)} val, {data.num_classes} classes, model "
        f"{data.spec.name}, device {job.device}, {job.dist_ctx.world} process(es), "
        f"{len(parts.sampler)} steps/epoch, lr {parts.lr:g}"
    )


def train_run(
    *,
    run: dict,
    training: dict,
    seed: int,
    test_clip: dict,
    manifest_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    bank_path: str | os.PathLike | None = None,
    masks_dir: str | os.PathLike | None = None,
    scene_labels_path: str | os.PathLike | None = None,
    resume: bool = True,
    stop_after_epochs: int | None = None,
    log=print,
    data: RunData | None = None,
    runtime: tuple | None = None,
) -> dict:
    """Train `run` for one seed into `out_dir`; returns the metrics dict (also written there).

    stop_after_epochs: return after that many epochs, as if killed (tests of resume).
    masks_dir: masks/<source>/ of the run's actor_masks (methods that use masks);
    scene_labels_path: the run's scene-label table (methods that use scene labels);
    data / runtime: shared with the run's other seeds (train_seeds); built here when None.
    """
    started = time.perf_counter()
    if data is None:
        data = load_run_data(run, training, test_clip, manifest_path, masks_dir, scene_labels_path)
    device, dist_ctx = runtime or start_runtime(training)
    parts = build_seed(run, training, seed, data, device, dist_ctx, bank_path)
    model_info = {
        "name": data.spec.name,
        "num_classes": data.num_classes,
        "dropout": training["dropout"],
    }
    fingerprint = run_fingerprint(run, training, seed, data.manifest_path)
    job = _Job(run, training, seed, Path(out_dir), data, device, dist_ctx, fingerprint, model_info)
    progress = {
        "epoch": 0,
        "step": 0,
        "best": {"epoch": None, "val_accuracy": -1.0},
        "history": [],
        "lines": [],
    }
    timings: list[dict] = []

    def say(line: str, timing: str = "") -> None:  # timings reach the console log, not train.log
        progress["lines"].append(line)
        if dist_ctx.is_main:
            log(f"{line} {timing}" if timing else line)

    progress = _resume(job, parts, progress, say) if resume else progress
    if progress["epoch"] == 0:  # a resumed run's restored lines already start with this header
        say(_header(job, parts))
    for epoch in range(progress["epoch"], training["epochs"]):
        record, timing = _epoch(job, parts, epoch, progress["step"])
        progress["history"].append(record)
        progress["epoch"], progress["step"] = epoch + 1, record["step"]
        timings.append(timing)
        say(*_epoch_line(record, timing, training["epochs"]))
        if dist_ctx.is_main:
            _save_epoch(job, parts, record, progress)
        if stop_after_epochs is not None and epoch + 1 >= stop_after_epochs:
            return {"stopped_after_epoch": epoch + 1}
    if dist_ctx.world > 1:
        import torch.distributed as dist

        dist.barrier()
    timing = {
        "run": run["name"],
        "seed": seed,
        "wall_s": time.perf_counter() - started,
        "epochs": timings,
    }
    return _finish(job, parts, progress, test_clip, say, timing)


def _finish(job: _Job, parts: SeedParts, progress: dict, test_clip: dict, say, timing) -> dict:
    """Write checkpoint.pt (the selected epoch), metrics.json, train.log and timing.json."""
    training, out_dir = job.training, job.out_dir
    if training["select"] == "val_accuracy":
        selected = {"criterion": "val_accuracy", **progress["best"]}
        weights = load_checkpoint(out_dir / STATE_DIR / "best.pt")["model"]
    else:
        selected = {"criterion": "last", "epoch": training["epochs"], "val_accuracy": None}
        weights = unwrap(parts.model).state_dict()
    history = progress["history"]
    metrics = {
        "run": job.run["name"],
        "method": job.run["method"],
        "seed": job.seed,
        "model": job.data.spec.name,
        "epochs": training["epochs"],
        "steps": progress["step"],
        "selected": selected,
        "device": str(job.device),
        "world_size": job.dist_ctx.world,
        "amp": training["amp_dtype"] if parts.amp_dtype is not None else None,
        "test_crops": training["test_crops"],
        "final": history[-1] if history else None,
        "history": history,
        "run_config": job.run,
        "training": training,
    }
    say(
        f"done: {training['epochs']} epochs, {progress['step']} steps, selected "
        f"{selected['criterion']} (epoch {selected['epoch']})",
        f"{timing['wall_s']:.1f} s this session",
    )
    if job.dist_ctx.is_main:
        checkpoint = {
            "model": weights,
            "model_info": job.model_info,
            "run": job.run,
            "training": training,
            "seed": job.seed,
            "test_clip": test_clip,
            "selected": selected,
            "num_classes": job.data.num_classes,
        }
        save_atomic(checkpoint, out_dir / "checkpoint.pt")
        write_text_atomic(
            out_dir / "metrics.json", json.dumps(metrics, indent=2, default=str) + "\n"
        )
        write_text_atomic(out_dir / "train.log", "\n".join(progress["lines"]) + "\n")
        write_text_atomic(out_dir / TIMING_FILE, json.dumps(timing, indent=2) + "\n")
    return metrics


def train_seeds(
    *,
    run: dict,
    training: dict,
    seeds: list[int],
    test_clip: dict,
    manifest_path: str | os.PathLike,
    out_dirs: list[str | os.PathLike],
    bank_paths: list | None = None,
    masks_dir: str | os.PathLike | None = None,
    scene_labels_path: str | os.PathLike | None = None,
    resume: bool = True,
    log=print,
) -> list[dict]:
    """Train several seeds of `run` one after the other in this process: the manifest, the decoded
    videos and masks and the validation clips are read once; each seed's model, method, optimizer
    and random draws are its own, so its files are byte-identical to training that seed alone."""
    data = load_run_data(run, training, test_clip, manifest_path, masks_dir, scene_labels_path)
    runtime = start_runtime(training)
    bank_paths = bank_paths or [None] * len(seeds)
    metrics = []
    for seed, out, bank in zip(seeds, out_dirs, bank_paths, strict=True):
        seed_run, seed_training = one_seed_config(run, training, seed)
        metrics.append(
            train_run(
                run=seed_run,
                training=seed_training,
                seed=seed,
                test_clip=test_clip,
                manifest_path=manifest_path,
                out_dir=out,
                bank_path=bank,
                resume=resume,
                log=log,
                data=data,
                runtime=runtime,
            )
        )
    return metrics


# --- command line -------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    from benchmark.config import add_config_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    # --run-name: the same, for torchrun, whose own parser takes "--run" for its "--run-path"
    parser.add_argument(
        "--run",
        "--run-name",
        dest="run",
        required=True,
        help="name of the run in the config's runs",
    )
    parser.add_argument(
        "--seed",
        type=int,
        nargs="+",
        required=True,
        help="training seed(s), each one of training.seeds; several train one after the other in "
        "this process (the data read once)",
    )
    parser.add_argument(
        "--manifest", help="manifest.csv (default: <results>/<dataset>/manifest.csv)"
    )
    parser.add_argument(
        "--out",
        help="the seed's folder, or with several seeds the run's folder holding seed<k>/ "
        "(default: <results>/<dataset>/runs/<run>)",
    )
    parser.add_argument(
        "--bank", nargs="+", help="StillMix bank.pt per seed, in --seed order (runs that use it)"
    )
    parser.add_argument(
        "--masks", help="masks/<source>/ of the run's actor_masks (default: under <results>)"
    )
    parser.add_argument(
        "--scenes", help="scene-label table (default: runs/_scene_labels/<key>.csv)"
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch, OpenMP)")
    parser.add_argument("--no-resume", action="store_true", help="ignore state/last.pt")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from benchmark.config import ConfigError, config_from_args, results_dir
    from benchmark.runtime import set_threads

    args = parse_args(argv)
    set_threads(args.threads)
    try:
        config = config_from_args(args)
        run = find_run(config, args.run)
        training = effective_training(config, run)
        seeds = list(dict.fromkeys(args.seed))
        missing = [seed for seed in seeds if seed not in training["seeds"]]
        if missing:
            raise TrainingError(
                f"seed {missing[0]} is not in run {args.run!r}'s training.seeds {training['seeds']}"
            )
        base = results_dir(config) if "dataset" in config else None
        if (args.manifest is None or args.out is None) and base is None:
            raise TrainingError("pass --manifest and --out, or a config with results and dataset")
        manifest = Path(args.manifest) if args.manifest else base / "manifest.csv"
        run_dir = base / "runs" / args.run if args.out is None else Path(args.out)
        if args.out is not None and len(seeds) == 1:
            outs = [run_dir]
        else:
            outs = [run_dir / f"seed{seed}" for seed in seeds]
        banks = args.bank
        if banks is None and base is not None and run_uses_bank(run):
            banks = [base / "runs" / bank_relpath(config, run, seed) for seed in seeds]
        if banks is not None and len(banks) != len(seeds):
            raise TrainingError(
                f"{len(banks)} --bank files for {len(seeds)} seeds; pass one per seed"
            )
        masks, scenes = args.masks, args.scenes
        if masks is None and base is not None and run_mask_source(run):
            masks = base / "masks" / run_mask_source(run)
        if scenes is None and base is not None and scene_labels_relpath(run):
            scenes = base / "runs" / scene_labels_relpath(run)
        train_seeds(
            run=run,
            training=training,
            seeds=seeds,
            test_clip=config["benchmark"]["test_clip"],
            manifest_path=manifest,
            out_dirs=outs,
            bank_paths=banks,
            masks_dir=masks,
            scene_labels_path=scenes,
            resume=not args.no_resume,
        )
    except (TrainingError, RunConfigError, ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
