"""Registry of video classifiers: one builder signature, each entry with its input contract.

Every entry returns logits (B, K) for clips (B, 3, T, H, W) normalised with the entry's statistics
(Kinetics for torchvision's ResNet-family and S3D weights, ImageNet for Swin3D, 0.45/0.225 for
MViT — what the weights were trained with). Input constraints (fixed T or size, minimum sizes) are
data on the entry and checked before training starts, so a wrong clip is a clear error, not a shape
mismatch deep inside the network. `tiny3d` is a small 3-D CNN for CPU runs and tests.

Pretrained weights are read from a local file only (`pretrained: path`, loaded with
`weights_only=True`); the classification head is always new, so its keys are skipped; any other
missing, unexpected or mis-shaped key is an error naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from benchmark.safe_torch import load_torch_file, tensor_state_dict

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MVIT_MEAN = (0.45, 0.45, 0.45)
MVIT_STD = (0.225, 0.225, 0.225)


class ModelError(ValueError):
    """A model name, input shape or weight file does not fit; the message says what to change."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[..., nn.Module]  # builder(*, num_classes, dropout) -> nn.Module
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    head_prefix: str  # state-dict prefix of the classification head (replaced, never loaded)
    frames: int | None = None  # required clip length, None = any
    frame_multiple: int = 1  # T must be a multiple of this
    min_frames: int = 1
    size: int | None = None  # required H = W, None = any
    min_size: int = 8
    description: str = ""

    def check_input(self, frames: int, height: int, width: int) -> None:
        """Raise ModelError if clips of (frames, height, width) do not fit this model."""
        problems = []
        if self.frames is not None and frames != self.frames:
            problems.append(f"needs exactly {self.frames} frames (got {frames})")
        if frames < self.min_frames:
            problems.append(f"needs at least {self.min_frames} frames (got {frames})")
        if frames % self.frame_multiple:
            problems.append(
                f"needs a frame count divisible by {self.frame_multiple} (got {frames})"
            )
        if self.size is not None and (height, width) != (self.size, self.size):
            problems.append(f"needs {self.size}x{self.size} crops (got {height}x{width})")
        if min(height, width) < self.min_size:
            problems.append(
                f"needs crops of at least {self.min_size} pixels (got {height}x{width})"
            )
        if problems:
            raise ModelError(
                f"model {self.name!r} " + "; ".join(problems) + ": set training.clip / crop_size"
            )


class Tiny3DCNN(nn.Module):
    """Four 3-D conv blocks (BatchNorm, ReLU), global average pool, linear head.

    Small enough to train from scratch on a laptop CPU in about a minute on the synthetic set, and
    it has BatchNorm, so it exercises the two-pass ALBAR path and synchronised statistics in DDP.
    """

    def __init__(self, *, num_classes: int, dropout: float = 0.0, width: int = 16) -> None:
        super().__init__()
        channels = [3, width, 2 * width, 4 * width, 4 * width]
        # Space is halved early (cheap), time only from the second block on, so motion over a few
        # frames still reaches the deeper layers.
        strides = [(1, 2, 2), (2, 2, 2), (2, 2, 2), (1, 2, 2)]
        blocks = []
        for c_in, c_out, stride in zip(channels[:-1], channels[1:], strides, strict=True):
            blocks += [
                nn.Conv3d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
                nn.BatchNorm3d(c_out),
                nn.ReLU(inplace=True),
            ]
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels[-1], num_classes)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:  # (B, 3, T, H, W) -> (B, K)
        features = self.pool(self.features(clip)).flatten(1)  # (B, 4·width)
        return self.head(self.dropout(features))


def _tiny3d(*, num_classes: int, dropout: float) -> nn.Module:
    return Tiny3DCNN(num_classes=num_classes, dropout=dropout)


def _video_resnet(factory_name: str) -> Callable[..., nn.Module]:
    def build(*, num_classes: int, dropout: float) -> nn.Module:
        from torchvision.models import video

        model = getattr(video, factory_name)(weights=None)
        model.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(model.fc.in_features, num_classes))
        return model

    return build


def _s3d(*, num_classes: int, dropout: float) -> nn.Module:
    from torchvision.models.video import s3d

    model = s3d(weights=None, dropout=dropout)
    model.classifier[1] = nn.Conv3d(1024, num_classes, kernel_size=1, stride=1, bias=True)
    return model


def _swin3d_t(*, num_classes: int, dropout: float) -> nn.Module:
    from torchvision.models.video import swin3d_t

    model = swin3d_t(weights=None, dropout=dropout)
    model.head = nn.Linear(model.head.in_features, num_classes)
    return model


def _mvit_v2_s(*, num_classes: int, dropout: float) -> nn.Module:
    from torchvision.models.video import mvit_v2_s

    model = mvit_v2_s(weights=None, dropout=dropout)
    model.head[1] = nn.Linear(model.head[1].in_features, num_classes)
    return model


MODEL_REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "tiny3d",
            _tiny3d,
            IMAGENET_MEAN,
            IMAGENET_STD,
            "head.",
            min_size=16,
            description="4-block 3-D CNN with BatchNorm, from scratch (CPU default, tests)",
        ),
        ModelSpec(
            "r3d_18",
            _video_resnet("r3d_18"),
            KINETICS_MEAN,
            KINETICS_STD,
            "fc.",
            min_size=32,
            description="torchvision R3D-18 (Kinetics-400 weights expect 112x112)",
        ),
        ModelSpec(
            "mc3_18",
            _video_resnet("mc3_18"),
            KINETICS_MEAN,
            KINETICS_STD,
            "fc.",
            min_size=32,
            description="torchvision MC3-18",
        ),
        ModelSpec(
            "r2plus1d_18",
            _video_resnet("r2plus1d_18"),
            KINETICS_MEAN,
            KINETICS_STD,
            "fc.",
            min_size=32,
            description="torchvision R(2+1)D-18",
        ),
        ModelSpec(
            "s3d",
            _s3d,
            KINETICS_MEAN,
            KINETICS_STD,
            "classifier.1.",
            min_frames=14,
            min_size=224,
            description="torchvision S3D (its final 2x7x7 average pool needs >= 14 frames, 224 px)",
        ),
        ModelSpec(
            "swin3d_t",
            _swin3d_t,
            IMAGENET_MEAN,
            IMAGENET_STD,
            "head.",
            frame_multiple=2,
            min_size=32,
            description="torchvision Video Swin-T (the paper's backbone)",
        ),
        ModelSpec(
            "mvit_v2_s",
            _mvit_v2_s,
            MVIT_MEAN,
            MVIT_STD,
            "head.1.",
            frames=16,
            size=224,
            description="torchvision MViT-v2-S (positional embeddings fixed at 16x224x224)",
        ),
    )
}


def model_spec(name: str) -> ModelSpec:
    if name not in MODEL_REGISTRY:
        raise ModelError(f"unknown model {name!r}; choose one of {sorted(MODEL_REGISTRY)}")
    return MODEL_REGISTRY[name]


def build_model(
    name: str,
    *,
    num_classes: int,
    dropout: float = 0.0,
    pretrained: str | os.PathLike | None = None,
) -> nn.Module:
    """Build registry entry `name` with a new `num_classes` head; load a local weight file if given."""
    spec = model_spec(name)
    if num_classes < 2:
        raise ModelError(f"num_classes must be at least 2, got {num_classes}")
    model = spec.builder(num_classes=num_classes, dropout=dropout)
    if pretrained is not None:
        load_backbone_weights(model, spec, pretrained)
    return model


def _head_keys(keys, spec: ModelSpec) -> set[str]:
    # The torchvision ResNets wrap the new fc in Sequential(Dropout, Linear): "fc.1.weight" here,
    # "fc.weight" in the weight file. Both are head keys.
    return {k for k in keys if k.startswith(spec.head_prefix)}


def load_backbone_weights(model: nn.Module, spec: ModelSpec, path: str | os.PathLike) -> None:
    """Load every non-head tensor of a local state-dict file; anything that does not fit is an error."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: pretrained weight file not found; download it and set the path")
    fix = f"point training.pretrained at a {spec.name} state dict saved with torch.save"
    state = load_torch_file(path, what="pretrained weight file", fix=fix, error=ModelError)
    for key in ("model_state", "state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    state = tensor_state_dict(state, path, what="state dict", fix=fix, error=ModelError)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = model.state_dict()
    wanted = set(own) - _head_keys(own, spec)
    given = set(state) - _head_keys(state, spec)
    missing = sorted(wanted - given)
    unexpected = sorted(given - wanted)
    mismatched = sorted(k for k in wanted & given if tuple(state[k].shape) != tuple(own[k].shape))
    if missing or unexpected or mismatched:
        raise ModelError(
            f"{path}: does not fit model {spec.name!r}: {len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:3]}, "
            f"{len(mismatched)} mis-shaped {mismatched[:3]} — is it the {spec.name} weight file?"
        )
    model.load_state_dict({k: state[k] for k in wanted}, strict=False)
