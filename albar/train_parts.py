"""What one training run is built from: the configuration checks, the data every seed of a run
shares (`RunData`: manifest entries, decoded-video caches, validation clips) and one seed's model,
method, data loader and optimizer (`SeedParts`). albar.train runs the loop over these.

Building `RunData` draws no random number, so several seeds can share it; `build_seed` seeds every
global generator from the seed before it draws the initial weights, so a seed trained after another
one in the same process starts exactly where a seed trained alone does.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from albar.checkpoint import TrainingError, seed_rngs
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
from benchmark.safe_torch import load_torch_file

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


# --- data every seed of a run shares ------------------------------------------------------------


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


class _Remembered(torch.utils.data.Dataset):
    """A dataset whose items are kept after their first read: the validation clips are the same
    tensors at every epoch and for every seed, so each is decoded and transformed once."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset, self.items = dataset, {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        if index not in self.items:
            self.items[index] = self.dataset[index]
        return self.items[index]


@dataclass
class RunData:
    """What every seed of a run shares: the manifest's entries, the model's input settings and the
    decoded-video caches. Building it draws no random number, so sharing it couples no seeds."""

    manifest_path: Path
    train_entries: list
    val_entries: list
    num_classes: int
    spec: object
    clip: ClipSettings
    aug: Augmentation
    reader: FrameReader
    mask_reader: ActorMaskReader | None
    scenes: dict | None
    num_scenes: int | None
    val_clips: torch.utils.data.Dataset | None


def load_run_data(
    run: dict,
    training: dict,
    test_clip: dict,
    manifest_path: str | os.PathLike,
    masks_dir: str | os.PathLike | None = None,
    scene_labels_path: str | os.PathLike | None = None,
) -> RunData:
    """Check the run's data and open its readers (videos are decoded on first use, then cached
    when `training.cache_videos`)."""
    manifest_path = Path(manifest_path)
    check_clip(training, test_clip, run["name"])
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
    mask_reader, scenes, num_scenes = _method_inputs(
        build_method(run), run, masks_dir, scene_labels_path, training
    )
    aug = augmentation(training, spec)
    reader = FrameReader(cache=training["cache_videos"])
    val_clips = None
    if val_entries and training["eval_every"]:
        val_clips = EvalClips(val_entries, clip, aug, reader, training["test_crops"])
        if training["cache_videos"] and training["num_workers"] == 0:  # workers would not keep it
            val_clips = _Remembered(val_clips)
    return RunData(
        manifest_path,
        train_entries,
        val_entries,
        num_classes,
        spec,
        clip,
        aug,
        reader,
        mask_reader,
        scenes,
        num_scenes,
        val_clips,
    )


def start_runtime(training: dict) -> tuple[torch.device, DistributedContext]:
    """The device and the process group (torchrun), once per process."""
    probe = pick_device(training["device"])
    dist_ctx = init_distributed(probe.type)
    device = pick_device(training["device"], dist_ctx.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device, dist_ctx


# --- one seed's model, method and optimizer -----------------------------------------------------


@dataclass
class SeedParts:
    """One seed's trained objects, built afresh for every seed (no state crosses seeds)."""

    model: nn.Module
    method: object
    extra: nn.Module | None
    parameters: list
    dataset: TrainClips
    sampler: EpochBatches
    loader: torch.utils.data.DataLoader
    val_loader: torch.utils.data.DataLoader | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    lr: float
    amp_dtype: torch.dtype | None


def _build_model(training: dict, data: RunData, device, dist_ctx) -> nn.Module:
    model = build_model(
        data.spec.name,
        num_classes=data.num_classes,
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
    return model


def _setup_method(run: dict, training: dict, data: RunData, model, bank_path, device, dist_ctx):
    """The run's method object, set up with its bank; and its own trained head (or None)."""
    method = build_method(run)
    bank = _load_bank(bank_path, training["crop_size"], run["name"]) if method.uses_bank else None
    # methods with a head of their own (SDN's scene head) read the features the action head sees
    spec = data.spec
    feature_dim = (
        feature_width(head_module(model, spec.head_prefix)) if method.uses_scenes else None
    )
    context = MethodContext(
        data.num_classes,
        spec.mean,
        spec.std,
        head=spec.head_prefix,
        feature_dim=feature_dim,
        num_scenes=data.num_scenes,
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
    return method, extra


def _optimizer(training: dict, parameters: list, steps_per_epoch: int):
    """AdamW with its per-iteration warm-up + cosine schedule; and the (linearly scaled) lr."""
    lr = training["lr"]
    if training["lr_reference_batch"]:
        lr = lr * training["batch_size"] / training["lr_reference_batch"]
    optimizer = torch.optim.AdamW(
        parameters,
        lr=lr,
        betas=tuple(training["betas"]),
        weight_decay=training["weight_decay"],
    )
    total_steps = steps_per_epoch * training["epochs"]
    warmup_steps = round(training["warmup_epochs"] * steps_per_epoch)
    min_ratio = training["min_lr"] / lr
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, warmup_steps, total_steps, min_ratio)
    )
    return optimizer, scheduler, lr


def build_seed(
    run: dict, training: dict, seed: int, data: RunData, device, dist_ctx, bank_path=None
) -> SeedParts:
    """Everything one seed trains, its random draws all derived from `seed`."""
    seed_rngs(stable_seed(seed, -1))  # the initial weights; python / numpy as a lone seed's
    model = _build_model(training, data, device, dist_ctx)
    method, extra = _setup_method(run, training, data, model, bank_path, device, dist_ctx)
    dataset = TrainClips(
        data.train_entries,
        data.clip,
        data.aug,
        seed,
        data.reader,
        masks=data.mask_reader,
        scenes=data.scenes,
    )
    sampler = EpochBatches(
        len(dataset), training["batch_size"], seed, dist_ctx.rank, dist_ctx.world
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, num_workers=training["num_workers"]
    )
    val_loader = None
    if data.val_clips is not None and dist_ctx.is_main:
        val_loader = torch.utils.data.DataLoader(
            data.val_clips,
            batch_size=training["predict_batch_size"],
            num_workers=training["num_workers"],
        )
    if training["select"] == "val_accuracy" and val_loader is None:
        raise TrainingError(
            f"run {run['name']!r}: select val_accuracy needs a val split and eval_every > 0"
        )
    parameters = list(model.parameters()) + ([] if extra is None else list(extra.parameters()))
    optimizer, scheduler, lr = _optimizer(training, parameters, len(sampler))
    use_amp = training["amp"] and device.type == "cuda"
    amp_dtype = getattr(torch, training["amp_dtype"]) if use_amp else None
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp and amp_dtype == torch.float16)
    return SeedParts(
        model,
        method,
        extra,
        parameters,
        dataset,
        sampler,
        loader,
        val_loader,
        optimizer,
        scheduler,
        scaler,
        lr,
        amp_dtype,
    )
