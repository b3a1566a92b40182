"""torchrun / DDP support: process-group setup and a BatchNorm whose statistics span all processes.

ALBAR is where data-parallel training goes wrong: two forward passes (motion and static clips) and
a double backprop through the static clip. With per-process BatchNorm statistics each process's
gradient penalty would differ from the one-process value on the combined batch, so under DDP every
BatchNorm layer becomes `GlobalBatchNorm`: the batch mean and variance are all-reduced with the
differentiable collective of `torch.distributed.nn`, whose backward is itself an all-reduce, so
first and second derivatives (the penalty's) see the same statistics as one process would. Torch's
own SyncBatchNorm is CUDA-only and its backward is not twice differentiable. The collectives run
on their own process group, so they never interleave with DDP's gradient buckets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistributedContext:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistributedContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistributedContext(
        rank=dist.get_rank(),
        world=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the union of every process's batch, differentiable to second order."""

    def __init__(self, *args, group=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.group = group

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {input.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not dist.is_initialized() or dist.get_world_size(self.group) == 1:
            return super().forward(x)
        import warnings

        with warnings.catch_warnings():
            # deprecated in favour of _functional_collectives, whose all_reduce is not twice
            # differentiable; this one's backward is again an all_reduce, which the penalty needs
            warnings.simplefilter("ignore", FutureWarning)
            from torch.distributed.nn.functional import all_reduce

        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        local_count = torch.tensor([x.numel() // x.shape[1]], dtype=x.dtype, device=x.device)
        summed = all_reduce(torch.cat([x.sum(dims), local_count]), group=self.group)
        count = summed[-1]
        mean = summed[:-1] / count  # (C,)
        centred = x - mean.view(shape)
        var = all_reduce(centred.pow(2).sum(dims), group=self.group) / count  # biased, as BatchNorm
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (
                    1.0 / float(self.num_batches_tracked)
                    if self.momentum is None
                    else self.momentum
                )
                unbiased = var.detach() * count / (count - 1).clamp(min=1)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        return out


def convert_batchnorm(module: nn.Module, group=None) -> nn.Module:
    """Replace every BatchNorm layer with a GlobalBatchNorm holding the same parameters and buffers."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(
        module, GlobalBatchNorm
    ):
        new = GlobalBatchNorm(
            module.num_features,
            eps=module.eps,
            momentum=module.momentum,
            affine=module.affine,
            track_running_stats=module.track_running_stats,
            group=group,
        )
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new.to(next(module.buffers(), torch.empty(0)).device)
    for name, child in module.named_children():
        setattr(module, name, convert_batchnorm(child, group))
    return module
