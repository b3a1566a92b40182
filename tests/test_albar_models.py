"""The model registry: builders, new heads, input constraints, local pretrained weights."""

from __future__ import annotations

import pytest
import torch

from albar.models import (
    IMAGENET_MEAN,
    KINETICS_MEAN,
    MODEL_REGISTRY,
    ModelError,
    build_model,
    model_spec,
)


def test_registry_has_every_documented_backbone_with_its_normalisation():
    assert set(MODEL_REGISTRY) == {
        "tiny3d",
        "r3d_18",
        "mc3_18",
        "r2plus1d_18",
        "s3d",
        "swin3d_t",
        "mvit_v2_s",
    }
    assert model_spec("r2plus1d_18").mean == KINETICS_MEAN
    assert model_spec("swin3d_t").mean == IMAGENET_MEAN  # as torchvision's K400 weights expect
    assert model_spec("mvit_v2_s").mean == (0.45, 0.45, 0.45)


@pytest.mark.parametrize(
    "name, shape",
    [("tiny3d", (2, 3, 8, 48, 48)), ("r3d_18", (1, 3, 4, 32, 32)), ("swin3d_t", (1, 3, 4, 32, 32))],
)
def test_models_return_logits_of_the_new_head(name, shape):
    torch.manual_seed(0)
    model = build_model(name, num_classes=7).eval()
    with torch.inference_mode():
        assert model(torch.randn(shape)).shape == (shape[0], 7)


@pytest.mark.parametrize("name", ["mc3_18", "r2plus1d_18", "s3d", "mvit_v2_s"])
def test_every_other_backbone_builds_with_a_new_head(name):
    model = build_model(name, num_classes=3)
    assert sum(p.numel() for p in model.parameters()) > 1e6
    heads = [m for m in model.modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv3d)]
    assert (
        heads[-1].out_features == 3
        if isinstance(heads[-1], torch.nn.Linear)
        else heads[-1].out_channels == 3
    )


def test_input_constraints_are_clear_errors():
    with pytest.raises(ModelError, match="'mvit_v2_s' needs exactly 16 frames.*needs 224x224"):
        model_spec("mvit_v2_s").check_input(8, 112, 112)
    with pytest.raises(ModelError, match="divisible by 2"):
        model_spec("swin3d_t").check_input(7, 224, 224)
    with pytest.raises(ModelError, match="at least 14 frames"):
        model_spec("s3d").check_input(8, 224, 224)
    model_spec("mvit_v2_s").check_input(16, 224, 224)
    with pytest.raises(ModelError, match="unknown model 'resnet'"):
        model_spec("resnet")


def test_pretrained_weights_load_except_the_head(tmp_path):
    torch.manual_seed(1)
    source = build_model("tiny3d", num_classes=400)
    path = tmp_path / "tiny_k400.pth"
    torch.save({"model": source.state_dict()}, path)  # wrapped, as some training scripts save
    model = build_model("tiny3d", num_classes=5, pretrained=path)
    for key, value in source.state_dict().items():
        if key.startswith("head."):
            assert model.state_dict()[key].shape != value.shape
        else:
            assert torch.equal(model.state_dict()[key], value)


def test_weight_file_of_another_model_is_refused(tmp_path):
    path = tmp_path / "r3d.pth"
    torch.save(build_model("r3d_18", num_classes=400).state_dict(), path)
    with pytest.raises(ModelError, match="r3d.pth: does not fit model 'tiny3d'"):
        build_model("tiny3d", num_classes=5, pretrained=path)
    with pytest.raises(ModelError, match="not found"):
        build_model("tiny3d", num_classes=5, pretrained=tmp_path / "missing.pth")
    (tmp_path / "pickle.pth").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="pickle.pth: not a readable pretrained weight file"):
        build_model("tiny3d", num_classes=5, pretrained=tmp_path / "pickle.pth")
