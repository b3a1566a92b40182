"""DDP with torchrun: 2 CPU processes (gloo), ALBAR on a BatchNorm model, a few steps.

The two forward passes and the double backprop of ALBAR are where data-parallel training goes
wrong; the weights must be identical on both ranks and equal (to float tolerance) to one process
trained on the combined batch. Run as a script, this file is the torchrun worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

B_PER_RANK, K, STEPS = 3, 4, 3


def _setup():
    from albar.models import Tiny3DCNN

    torch.manual_seed(0)
    model = Tiny3DCNN(num_classes=K, width=4)
    g = torch.Generator().manual_seed(1)
    clips = torch.randn(STEPS, 2 * B_PER_RANK, 3, 4, 16, 16, generator=g)
    labels = torch.randint(K, (STEPS, 2 * B_PER_RANK), generator=g)
    return model, clips, labels


def _train(model, clips, labels, rank=None):
    from albar.losses import albar_objective

    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for step in range(STEPS):
        x, y = clips[step], labels[step]
        if rank is not None:  # this rank's half of the global batch
            x = x[rank * B_PER_RANK : (rank + 1) * B_PER_RANK]
            y = y[rank * B_PER_RANK : (rank + 1) * B_PER_RANK]
        loss, _ = albar_objective(model, x, y, adv_bound="log_k")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def _worker(out_dir: Path) -> None:
    import torch.distributed as dist

    from albar.distributed import convert_batchnorm

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    model, clips, labels = _setup()
    model = convert_batchnorm(model, group=dist.new_group([0, 1]))
    ddp = torch.nn.parallel.DistributedDataParallel(model, broadcast_buffers=False)
    _train(ddp, clips, labels, rank)
    torch.save(model.state_dict(), out_dir / f"rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_on_the_combined_batch(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        __file__,
        str(tmp_path),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt")
    rank1 = torch.load(tmp_path / "rank1.pt")
    model, clips, labels = _setup()
    single = _train(model, clips, labels).state_dict()
    moved = 0.0
    initial = _setup()[0].state_dict()
    for key in single:
        assert torch.equal(rank0[key], rank1[key]), key  # identical on both ranks
        torch.testing.assert_close(rank0[key], single[key], rtol=1e-4, atol=1e-5, msg=key)
        if single[key].is_floating_point():
            moved += float((single[key] - initial[key]).abs().sum())
    assert moved > 0  # training really changed the weights (and running statistics)


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
