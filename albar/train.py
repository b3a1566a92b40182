"""Train one named run for one seed: `python -m albar.train --config config/default.yaml --run albar`.

The loop (shape of torchvision's video-classification reference): AdamW with a per-iteration linear
warm-up then cosine schedule, autocast on CUDA (bf16 by default; fp16 adds a gradient scaler),
optional gradient-norm clipping, `torchrun` DDP (NCCL on CUDA, gloo on CPU, BatchNorm statistics
over all processes). The method object (albar.methods) turns each batch into a loss, so the loop does
not know ALBAR from vanilla.

Determinism and resume: the epoch's batch order and every clip's augmentation are pure functions of
(seed, epoch, video); the torch RNG is reseeded at every epoch and every step has its own generator,
so a run killed after epoch k and resumed from `state/last.pt` (model, optimizer, scheduler, scaler,
epoch, RNG states, config fingerprint) ends with the same weights as an uninterrupted one on CPU.
A state saved under a different configuration or manifest is not resumed (logged). Checkpoints and
states hold only tensors and plain Python data and are read back with `weights_only=True`
(benchmark.safe_torch), so a checkpoint from elsewhere cannot run code when it is opened.

Outputs in the run folder (runs/<run>/seed<k>/): checkpoint.pt (the selected epoch: the last, or the
best validation accuracy when `select: val_accuracy`), metrics.json (per-epoch terms, accuracy,
clips/s, total epochs and optimizer steps, what was selected), train.log.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from albar.data import (
    ActorMaskReader,
    Augmentation,
    ClipSettings,
    EpochBatches,
    EvalClips,
    FrameReader,
    TrainClips,
    manifest_num_classes,
    read_manifest_entries,
)
from albar.distributed import DistributedContext, convert_batchnorm, init_distributed
from albar.methods import MethodContext, build_method
from albar.methods.sdn import feature_width, head_module
from albar.models import build_model, model_spec
from albar.runs import (
    RunConfigError,
    bank_relpath,
    effective_training,
    find_run,
    run_mask_source,
    run_uses_bank,
    scene_labels_relpath,
)
from benchmark.atomic import write_text_atomic
from benchmark.safe_torch import load_torch_file, save_torch_file, tensor_state_dict

STATE_DIR = "state"
LOG_TERMS = (
    "loss",
    "ce",
    "static_ce",
    "neg_entropy",
    "gp",
    "static_max_prob",
    "scene_ce",
    "scene_accuracy",
    "accuracy",
)


class TrainingError(ValueError):
    """The run cannot be trained as configured; the message says what to change."""


# --- configuration ------------------------------------------------------------------------------


def check_clip(training: dict, test_clip: dict, run_name: str) -> None:
    """Training clips must be the benchmark's test clips (SCUFO's frozen frame lies inside them)."""
    clip = training["clip"]
    if (clip["frames"], clip["stride"]) != (test_clip["frames"], test_clip["stride"]):
        raise TrainingError(
            f"run {run_name!r}: training.clip {clip['frames']} frames / stride {clip['stride']} "
            f"differs from benchmark.test_clip {test_clip['frames']} / {test_clip['stride']}; "
            "set both to the same values"
        )


def run_fingerprint(run: dict, training: dict, seed: int, manifest_path: Path) -> str:
    payload = {
        "run": run,
        "training": {k: v for k, v in training.items() if k not in ("num_workers", "device")},
        "seed": seed,
        "manifest_sha256": hashlib.sha256(Path(manifest_path).read_bytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def augmentation(training: dict, spec) -> Augmentation:
    return Augmentation(
        crop_size=training["crop_size"],
        resize=training["resize"],
        scale=tuple(training["crop_scale"]),
        ratio=tuple(training["crop_ratio"]),
        hflip=training["hflip"],
        mean=spec.mean,
        std=spec.std,
    )


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    from benchmark.devices import no_cuda_note, warn_cpu_fallback

    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"training.device is cuda but {no_cuda_note()}; use auto or cpu")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank)
    if name == "auto":
        warn_cpu_fallback("training.device")
    return torch.device("cpu")


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Linear warm-up from 0 over `warmup_steps` iterations, then cosine down to `min_ratio`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def stable_seed(*parts: int) -> int:
    return zlib.crc32(json.dumps(parts).encode()) & 0x7FFFFFFF


# --- evaluation ---------------------------------------------------------------------------------


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


# --- checkpoints --------------------------------------------------------------------------------


def save_atomic(obj, path: Path) -> None:
    save_torch_file(obj, path)


def rng_states() -> dict:
    """Every RNG's state as tensors and plain Python data, so `weights_only=True` reads it back
    with no allow-list (numpy's state is an ndarray: stored as a list of ints)."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": [name, keys.tolist(), int(position), int(has_gauss), float(cached)],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    name, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A training checkpoint (checkpoint.pt or state/last.pt), read with `weights_only=True`
    (benchmark.safe_torch): a crafted file cannot run code; every error is one line naming the file."""
    if not Path(path).exists():
        raise TrainingError(f"{path}: checkpoint not found; train the run first")
    checkpoint = load_torch_file(
        path,
        what="training checkpoint",
        fix="use a checkpoint this project wrote, or delete it and retrain the run",
        error=TrainingError,
    )
    if not isinstance(checkpoint, dict):
        raise TrainingError(
            f"{path}: not an albar checkpoint (holds {type(checkpoint).__name__}, not a dict); "
            "delete it and retrain the run"
        )
    return checkpoint


def model_from_checkpoint(checkpoint: dict, path, *, model_name: str | None = None) -> nn.Module:
    """Rebuild the checkpoint's model; a checkpoint of another model is an error naming both."""
    info = checkpoint.get("model_info") if isinstance(checkpoint, dict) else None
    if (
        not isinstance(info, dict)
        or not isinstance(info.get("name"), str)
        or not isinstance(info.get("num_classes"), int)
        or not isinstance(info.get("dropout"), int | float)
        or "model" not in checkpoint
    ):
        raise TrainingError(f"{path}: not an albar checkpoint (no model_info / model state)")
    tensor_state_dict(
        checkpoint["model"],
        path,
        what="model state",
        fix="use a checkpoint this project wrote, or retrain the run",
        error=TrainingError,
    )
    if model_name is not None and info["name"] != model_name:
        raise TrainingError(
            f"{path}: checkpoint is of model {info['name']!r} ({info['num_classes']} classes), "
            f"not {model_name!r}; point to this run's own checkpoint"
        )
    model = build_model(info["name"], num_classes=info["num_classes"], dropout=info["dropout"])
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as error:
        raise TrainingError(
            f"{path}: weights do not fit model {info['name']!r}: {error}"
        ) from error
    return model


# --- the loop -----------------------------------------------------------------------------------


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


def _load_bank(path: Path | None, crop_size: int, run_name: str) -> torch.Tensor:
    from albar.methods.stillmix import validate_bank

    if path is None:
        raise TrainingError(
            f"run {run_name!r} uses the StillMix bank: pass --bank (built by albar.bank)"
        )
    if not Path(path).exists():
        raise TrainingError(f"{path}: StillMix bank not found; build it with python -m albar.bank")
    bank = load_torch_file(
        path,
        what="StillMix bank",
        fix="build it with python -m albar.bank",
        error=TrainingError,
    )
    return validate_bank(bank, path, crop_size)


def _method_inputs(method, run: dict, masks_dir, scene_labels_path, training: dict):
    """The actor-mask reader, scene labels and scene count a method asks for (else None)."""
    mask_reader = scenes = num_scenes = None
    if method.uses_masks:
        if masks_dir is None:
            raise TrainingError(
                f"run {run['name']!r} uses actor masks: pass --masks (masks/<source>/)"
            )
        if not Path(masks_dir).is_dir():
            raise TrainingError(
                f"{masks_dir}: actor mask folder not found; build the {run.get('actor_masks')!r} "
                "masks of the training videos first"
            )
        mask_reader = ActorMaskReader(masks_dir, cache=training["cache_videos"])
    if method.uses_scenes:
        from albar.scenes import read_scene_labels, scene_count

        if scene_labels_path is None:
            raise TrainingError(
                f"run {run['name']!r} uses scene labels: pass --scenes (python -m albar.scenes)"
            )
        table = read_scene_labels(scene_labels_path)
        scenes = dict(zip(table["video_id"], table["scene"].astype(int), strict=True))
        num_scenes = scene_count(table)
    return mask_reader, scenes, num_scenes


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
) -> dict:
    """Train `run` for one seed into `out_dir`; returns the metrics dict (also written there).

    stop_after_epochs: return after that many epochs, as if killed (tests of resume).
    masks_dir: masks/<source>/ of the run's actor_masks (methods that use masks);
    scene_labels_path: the run's scene-label table (methods that use scene labels).
    """
    started = time.perf_counter()
    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    check_clip(training, test_clip, run["name"])
    probe = pick_device(training["device"])
    dist_ctx: DistributedContext = init_distributed(probe.type)
    device = pick_device(training["device"], dist_ctx.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)

    train_entries = read_manifest_entries(manifest_path, "train")
    val_entries = read_manifest_entries(manifest_path, "val")
    if not train_entries:
        raise TrainingError(f"{manifest_path}: no videos in the train split")
    num_classes = training["num_classes"] or manifest_num_classes(manifest_path)
    bad = sorted({e.label for e in train_entries if not 0 <= e.label < num_classes})
    if bad:
        raise TrainingError(f"{manifest_path}: labels {bad} outside 0..{num_classes - 1}")
    spec = model_spec(training["model"])
    clip = ClipSettings(training["clip"]["frames"], training["clip"]["stride"])
    spec.check_input(clip.frames, training["crop_size"], training["crop_size"])

    torch.manual_seed(stable_seed(seed, -1))
    model = build_model(
        spec.name,
        num_classes=num_classes,
        dropout=training["dropout"],
        pretrained=training["pretrained"],
    ).to(device)
    if dist_ctx.world > 1:
        import torch.distributed as dist

        model = convert_batchnorm(model, group=dist.new_group(list(range(dist_ctx.world))))
        model = nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,  # GlobalBatchNorm keeps running statistics equal already
        )

    method = build_method(run)
    bank = _load_bank(bank_path, training["crop_size"], run["name"]) if method.uses_bank else None
    mask_reader, scenes, num_scenes = _method_inputs(
        method, run, masks_dir, scene_labels_path, training
    )
    # methods with a head of their own (SDN's scene head) read the features the action head sees
    feature_dim = (
        feature_width(head_module(model, spec.head_prefix)) if method.uses_scenes else None
    )
    context = MethodContext(
        num_classes,
        spec.mean,
        spec.std,
        head=spec.head_prefix,
        feature_dim=feature_dim,
        num_scenes=num_scenes,
    )
    method.setup(context, bank=bank)
    extra = method.trainable()
    if extra is not None:
        if dist_ctx.world > 1:  # its gradients would not be all-reduced: say so, do not diverge
            raise TrainingError(
                f"run {run['name']!r} ({run['method']}): a method with its own trained head "
                "runs in one process only; train it without torchrun"
            )
        extra.to(device)

    aug = augmentation(training, spec)
    reader = FrameReader(cache=training["cache_videos"])
    dataset = TrainClips(train_entries, clip, aug, seed, reader, masks=mask_reader, scenes=scenes)
    sampler = EpochBatches(
        len(dataset), training["batch_size"], seed, dist_ctx.rank, dist_ctx.world
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, num_workers=training["num_workers"]
    )
    val_loader = None
    if val_entries and training["eval_every"] and dist_ctx.is_main:
        val_loader = torch.utils.data.DataLoader(
            EvalClips(val_entries, clip, aug, reader, training["test_crops"]),
            batch_size=training["predict_batch_size"],
            num_workers=training["num_workers"],
        )
    if training["select"] == "val_accuracy" and val_loader is None:
        raise TrainingError(
            f"run {run['name']!r}: select val_accuracy needs a val split and eval_every > 0"
        )

    lr = training["lr"]
    if training["lr_reference_batch"]:
        lr = lr * training["batch_size"] / training["lr_reference_batch"]
    parameters = list(model.parameters()) + ([] if extra is None else list(extra.parameters()))
    optimizer = torch.optim.AdamW(
        parameters,
        lr=lr,
        betas=tuple(training["betas"]),
        weight_decay=training["weight_decay"],
    )
    steps_per_epoch = len(sampler)
    total_steps = steps_per_epoch * training["epochs"]
    warmup_steps = round(training["warmup_epochs"] * steps_per_epoch)
    min_ratio = training["min_lr"] / lr
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, warmup_steps, total_steps, min_ratio)
    )
    use_amp = training["amp"] and device.type == "cuda"
    amp_dtype = getattr(torch, training["amp_dtype"]) if use_amp else None
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp and amp_dtype == torch.float16)

    fingerprint = run_fingerprint(run, training, seed, manifest_path)
    state_path = out_dir / STATE_DIR / "last.pt"
    best_path = out_dir / STATE_DIR / "best.pt"
    history: list[dict] = []
    lines: list[str] = []
    start_epoch, step, best = 0, 0, {"epoch": None, "val_accuracy": -1.0}

    def say(line: str) -> None:
        lines.append(line)
        if dist_ctx.is_main:
            log(line)

    if resume and state_path.exists():
        state = load_checkpoint(state_path)
        if state.get("fingerprint") != fingerprint:
            say(f"{state_path}: saved under another configuration or manifest; starting afresh")
        else:
            try:
                _unwrap(model).load_state_dict(state["model"])
                if extra is not None:
                    extra.load_state_dict(state["method"])
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
                scaler.load_state_dict(state["scaler"])
                restore_rng(state["rng"])
                start_epoch, step, best = state["epoch"], state["step"], state["best"]
                history, lines = list(state["history"]), list(state["lines"])
            except (KeyError, TypeError, ValueError, RuntimeError) as error:
                raise TrainingError(
                    f"{state_path}: not a resumable training state ({type(error).__name__}: "
                    f"{' '.join(str(error).split())[:160]}); delete it (or pass --no-resume)"
                ) from None
            say(f"resumed from {state_path} after epoch {start_epoch} ({step} steps)")

    model_info = {"name": spec.name, "num_classes": num_classes, "dropout": training["dropout"]}
    if start_epoch == 0:  # a resumed run's restored lines already start with this header
        say(
            f"run {run['name']} ({run['method']}) seed {seed}: {len(train_entries)} train clips, "
            f"{len(val_entries)} val, {num_classes} classes, model {spec.name}, device {device}, "
            f"{dist_ctx.world} process(es), {steps_per_epoch} steps/epoch, lr {lr:g}"
        )
    from tqdm import tqdm

    for epoch in range(start_epoch, training["epochs"]):
        epoch_started = time.perf_counter()
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch)
        method.set_epoch(epoch)
        torch.manual_seed(stable_seed(seed, epoch, dist_ctx.rank))  # dropout etc. of this epoch
        model.train()
        sums = {name: 0.0 for name in LOG_TERMS}
        counts = {name: 0 for name in LOG_TERMS}
        seen, data_s, compute_s = 0, 0.0, 0.0
        fetch_started = time.perf_counter()
        progress = tqdm(
            loader,
            desc=f"{run['name']} epoch {epoch + 1}",
            disable=None,
            leave=False,
            file=sys.stderr,
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
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                result = method.step(model, clips, labels, generator, **extras)
            loss = result.loss
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"run {run['name']!r} seed {seed}: loss is {float(loss)} at epoch {epoch + 1}, "
                    f"step {batch_index + 1}; lower training.lr, set grad_clip, or bound the "
                    "adversarial term (adv_bound: log_k)"
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if training["grad_clip"]:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(parameters, training["grad_clip"])
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
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
        seconds = time.perf_counter() - epoch_started
        record = {
            "epoch": epoch + 1,
            "step": step,
            "lr": optimizer.param_groups[0]["lr"],
            **{name: (sums[name] / counts[name] if counts[name] else None) for name in LOG_TERMS},
            "clips_per_s": seen * dist_ctx.world / seconds,
            "data_s": data_s,
            "compute_s": compute_s,
            "seconds": seconds,
            "val_accuracy": None,
        }
        for name in ("accuracy", "scene_accuracy"):
            if record[name] is not None:
                record[name] *= 100.0
        if val_loader is not None and (epoch + 1) % training["eval_every"] == 0:
            record["val_accuracy"] = evaluate(_unwrap(model), val_loader, device, amp_dtype)
        history.append(record)
        terms = " ".join(
            f"{name} {record[name]:.4f}" for name in LOG_TERMS[:-1] if record[name] is not None
        )
        val = "" if record["val_accuracy"] is None else f" val_acc {record['val_accuracy']:.1f}"
        say(
            f"epoch {epoch + 1}/{training['epochs']} {terms} train_acc {record['accuracy']:.1f}"
            f"{val} lr {record['lr']:.2e} {record['clips_per_s']:.1f} clips/s "
            f"(data {data_s:.1f} s, model {compute_s:.1f} s)"
        )
        if dist_ctx.is_main:
            if (
                training["select"] == "val_accuracy"
                and record["val_accuracy"] is not None
                and record["val_accuracy"] > best["val_accuracy"]
            ):
                best = {"epoch": epoch + 1, "val_accuracy": record["val_accuracy"]}
                save_atomic({"model": _unwrap(model).state_dict(), "epoch": epoch + 1}, best_path)
            save_atomic(
                {
                    "model": _unwrap(model).state_dict(),
                    "method": None if extra is None else extra.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "epoch": epoch + 1,
                    "step": step,
                    "best": best,
                    "rng": rng_states(),
                    "fingerprint": fingerprint,
                    "history": history,
                    "lines": lines,
                    "model_info": model_info,
                },
                state_path,
            )
        if stop_after_epochs is not None and epoch + 1 >= stop_after_epochs:
            return {"stopped_after_epoch": epoch + 1}

    if dist_ctx.world > 1:
        import torch.distributed as dist

        dist.barrier()
    if training["select"] == "val_accuracy":
        selected_state = torch.load(best_path, map_location="cpu", weights_only=True)
        selected = {"criterion": "val_accuracy", **best}
        weights = selected_state["model"]
    else:
        selected = {"criterion": "last", "epoch": training["epochs"], "val_accuracy": None}
        weights = _unwrap(model).state_dict()
    wall_s = time.perf_counter() - started
    metrics = {
        "run": run["name"],
        "method": run["method"],
        "seed": seed,
        "model": spec.name,
        "epochs": training["epochs"],
        "steps": step,
        "selected": selected,
        "device": str(device),
        "world_size": dist_ctx.world,
        "amp": training["amp_dtype"] if use_amp else None,
        "test_crops": training["test_crops"],
        "wall_s": wall_s,
        "train_clips_per_s": float(np.mean([h["clips_per_s"] for h in history]))
        if history
        else None,
        "final": history[-1] if history else None,
        "history": history,
        "run_config": run,
        "training": training,
    }
    say(
        f"done: {training['epochs']} epochs, {step} steps, selected {selected['criterion']} "
        f"(epoch {selected['epoch']}), {wall_s:.1f} s this session"
    )
    if dist_ctx.is_main:
        save_atomic(
            {
                "model": weights,
                "model_info": model_info,
                "run": run,
                "training": training,
                "seed": seed,
                "test_clip": test_clip,
                "selected": selected,
                "num_classes": num_classes,
            },
            out_dir / "checkpoint.pt",
        )
        write_text_atomic(
            out_dir / "metrics.json", json.dumps(metrics, indent=2, default=str) + "\n"
        )
        write_text_atomic(out_dir / "train.log", "\n".join(lines) + "\n")
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
        "--seed", type=int, required=True, help="training seed (one of training.seeds)"
    )
    parser.add_argument(
        "--manifest", help="manifest.csv (default: <results>/<dataset>/manifest.csv)"
    )
    parser.add_argument(
        "--out", help="run folder (default: <results>/<dataset>/runs/<run>/seed<k>)"
    )
    parser.add_argument("--bank", help="StillMix bank.pt (runs whose method uses the bank)")
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
        if args.seed not in training["seeds"]:
            raise TrainingError(
                f"seed {args.seed} is not in run {args.run!r}'s training.seeds {training['seeds']}"
            )
        base = results_dir(config) if "dataset" in config else None
        if (args.manifest is None or args.out is None) and base is None:
            raise TrainingError("pass --manifest and --out, or a config with results and dataset")
        manifest = Path(args.manifest) if args.manifest else base / "manifest.csv"
        out = Path(args.out) if args.out else base / "runs" / args.run / f"seed{args.seed}"
        bank = args.bank
        if bank is None and base is not None and run_uses_bank(run):
            bank = base / "runs" / bank_relpath(config, run, args.seed)
        masks, scenes = args.masks, args.scenes
        if masks is None and base is not None and run_mask_source(run):
            masks = base / "masks" / run_mask_source(run)
        if scenes is None and base is not None and scene_labels_relpath(run):
            scenes = base / "runs" / scene_labels_relpath(run)
        train_run(
            run=run,
            training=training,
            seed=args.seed,
            test_clip=config["benchmark"]["test_clip"],
            manifest_path=manifest,
            out_dir=out,
            bank_path=bank,
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
