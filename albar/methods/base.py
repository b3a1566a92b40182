"""What every training method is to the loop: an object that turns one batch into a loss.

The loop builds a method from its run entry (`runs: [{name, method, ...params}]`), gives it the
model's normalisation (and the StillMix frame bank when the method uses one), then calls
`step(model, clip, labels, generator)` once per batch. Adding a method means adding a class to the
registry; the loop does not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from albar.method_specs import METHOD_SPECS


@dataclass(frozen=True)
class MethodContext:
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    head: str | None = None  # the model's head prefix (registry), for methods that read features
    feature_dim: int | None = None  # the head's input width
    num_scenes: int | None = None  # pseudo scene classes, for methods that use scene labels


@dataclass
class StepResult:
    loss: torch.Tensor  # scalar, with graph
    terms: dict[str, torch.Tensor]  # detached scalars (ce, accuracy, method-specific terms)


class Method:
    """Base class: subclasses set `name`, take their parameters as keyword arguments."""

    name: ClassVar[str]
    # Set from the method's torch-free spec (albar.method_specs), which the workflow reads too.
    uses_bank: ClassVar[bool] = False
    # the loop passes `masks=` (B, 1, T, H, W) actor masks / `scenes=` (B,) scene labels to step
    uses_masks: ClassVar[bool] = False
    uses_scenes: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        spec = METHOD_SPECS[cls.name]  # a method without a spec is an error at import
        cls.uses_bank, cls.uses_masks = spec.bank, spec.actor_masks
        cls.uses_scenes = spec.scene_labels

    def setup(self, context: MethodContext, bank: torch.Tensor | None = None) -> None:
        """Called once before training. bank: (N, H, W, 3) uint8 frames when `uses_bank`."""
        self.context = context
        if self.uses_bank and bank is None:
            raise ValueError(f"method {self.name!r} needs a StillMix frame bank")

    def trainable(self) -> nn.Module | None:
        """Parameters of the method's own (trained with the model, saved in the loop's state)."""
        return None

    def set_epoch(self, epoch: int) -> None:
        """Called at the start of every epoch (0-based), for methods with a schedule."""
        self.epoch = epoch

    def step(
        self, model: nn.Module, clip: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> StepResult:
        raise NotImplementedError


def numpy_rng(generator: torch.Generator) -> np.random.Generator:
    """A numpy generator derived from the step's torch generator (for Beta draws torch cannot seed)."""
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (logits.detach().argmax(1) == labels).float().mean()
