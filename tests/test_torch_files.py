"""PyTorch files the project writes have the same bytes for the same content, wherever they go.

torch.save names the records inside its zip after the file it writes to; written through the
project's atomic temporary names, every checkpoint, bank and test model had other bytes each time.
"""

import hashlib

import torch

from benchmark.safe_torch import load_torch_file, save_torch_file


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_object_saves_to_the_same_bytes_under_any_name(tmp_path):
    generator = torch.Generator().manual_seed(0)
    state = {"weight": torch.randn(4, 3, generator=generator), "epoch": 3, "name": "vanilla"}
    save_torch_file(state, tmp_path / "a.pt")
    (tmp_path / "deeper").mkdir()
    save_torch_file(state, tmp_path / "deeper" / "checkpoint.pt")
    assert sha256(tmp_path / "a.pt") == sha256(tmp_path / "deeper" / "checkpoint.pt")
    loaded = load_torch_file(tmp_path / "a.pt", what="test file", fix="none")
    assert torch.equal(loaded["weight"], state["weight"]) and loaded["epoch"] == 3


def test_tiny_sam_checkpoint_is_reproducible(tmp_path):
    from benchmark.tracking.sam import save_tiny_sam

    first = save_tiny_sam(tmp_path / "one.pth", seed=0)
    second = save_tiny_sam(tmp_path / "two.pth", seed=0)
    assert first == second == sha256(tmp_path / "one.pth")
    assert save_tiny_sam(tmp_path / "other.pth", seed=1) != first
