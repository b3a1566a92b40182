"""Training checkpoints: the resumable state (`state/last.pt`), the selected model (`checkpoint.pt`)
and the random-number state that makes a resumed run end with the same weights as an uninterrupted one.

Every file holds only tensors and plain Python data and is written atomically through
benchmark.safe_torch and read back with `weights_only=True`, so a checkpoint from elsewhere cannot
run code when it is opened. The state holds no timings: two runs of one configuration and seed write
the same bytes (timings go to `timing.json`, see docs/contracts.md).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from albar.models import build_model
from benchmark.safe_torch import load_torch_file, save_torch_file, tensor_state_dict

STATE_DIR = "state"


class TrainingError(ValueError):
    """The run cannot be trained as configured; the message says what to change."""


def save_atomic(obj, path: Path) -> None:
    save_torch_file(obj, path)


def seed_rngs(value: int) -> None:
    """Seed Python's, numpy's and torch's global generators: a seed trained after another one in the
    same process starts from the same generator states as a seed trained alone."""
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)


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


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def save_state(path: Path, parts, progress: dict, fingerprint: str, model_info: dict) -> None:
    """`state/last.pt` after an epoch: everything `restore_state` needs to continue exactly.

    parts: the seed's model, extra (a method's own trained head or None), optimizer, scheduler and
    scaler; progress: epoch, step, best, history and the log lines so far."""
    save_atomic(
        {
            "model": unwrap(parts.model).state_dict(),
            "method": None if parts.extra is None else parts.extra.state_dict(),
            "optimizer": parts.optimizer.state_dict(),
            "scheduler": parts.scheduler.state_dict(),
            "scaler": parts.scaler.state_dict(),
            "epoch": progress["epoch"],
            "step": progress["step"],
            "best": progress["best"],
            "rng": rng_states(),
            "fingerprint": fingerprint,
            "history": progress["history"],
            "lines": progress["lines"],
            "model_info": model_info,
        },
        path,
    )


def restore_state(path: Path, parts, fingerprint: str) -> dict | None:
    """Load `state/last.pt` into `parts` and the RNGs; returns its progress (epoch, step, best,
    history, lines), or None when the state was saved under another configuration or manifest."""
    state = load_checkpoint(path)
    if state.get("fingerprint") != fingerprint:
        return None
    try:
        unwrap(parts.model).load_state_dict(state["model"])
        if parts.extra is not None:
            parts.extra.load_state_dict(state["method"])
        parts.optimizer.load_state_dict(state["optimizer"])
        parts.scheduler.load_state_dict(state["scheduler"])
        parts.scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"])
        return {
            "epoch": state["epoch"],
            "step": state["step"],
            "best": state["best"],
            "history": list(state["history"]),
            "lines": list(state["lines"]),
        }
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise TrainingError(
            f"{path}: not a resumable training state ({type(error).__name__}: "
            f"{' '.join(str(error).split())[:160]}); delete it (or pass --no-resume)"
        ) from None
