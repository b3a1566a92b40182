"""The baselines' settings: the real configs carry StillMix's per-dataset values (its Swin-T,
Kinetics-400-pretrain configs), and the synthetic default keeps its toy StillMix settings."""

from __future__ import annotations

import pytest

from benchmark.config import load_config, validate_config

STILLMIX_CONFIGS = "configs/stillmix/Swin-T/K400_pretrain/"
# (run, parameter) -> value in StillMix's configs for that dataset
EXPECTED = {
    "ucf101": {
        ("stillmix", "prob_aug"): 0.25,
        ("stillmix", "lo"): 0.5,
    },
    "hmdb51": {
        ("stillmix", "prob_aug"): 0.75,
        ("stillmix", "lo"): 0.1,
        ("be", "prob_aug"): 0.25,
        ("be", "max_lambda"): 0.3,
        ("fame", "prob_aug"): 0.5,
        ("mixup", "prob_aug"): 0.75,
        ("mixup", "alpha"): 0.2,
    },
}


def _runs(config: dict) -> dict[str, dict]:
    return {run["name"]: run for run in config["runs"]}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_configs_use_stillmix_settings_for_their_dataset(project_root, name):
    path = project_root / "config" / f"{name}.yaml"
    runs = _runs(load_config(path))
    for (run, key), value in EXPECTED[name].items():
        found = runs[run]["bank"][key] if key == "lo" else runs[run][key]
        assert found == value, (name, run, key)
    bank = runs["stillmix"]["bank"]
    assert bank["reference_weights"]  # ImageNet-pretrained, from a file the user provides
    assert (bank["reference_size"], bank["reference_epochs"], bank["bank_size"]) == (224, 50, 1024)
    assert runs["albar_stillmix"]["bank"] == bank  # one bank for both runs
    text = path.read_text()
    assert f"{STILLMIX_CONFIGS}{name}/" in text  # the cited source of the values


def test_the_synthetic_default_keeps_its_stillmix_settings():
    runs = _runs(validate_config({}))
    stillmix = runs["stillmix"]
    assert (stillmix["prob_aug"], stillmix["alpha"]) == (0.5, [200.0, 200.0])
    assert stillmix["bank"] == {
        "reference_model": "resnet18",
        "reference_weights": None,
        "reference_size": 32,
        "reference_epochs": 3,
        "reference_batch_size": 32,
        "reference_lr": 0.001,
        "lo": 0.5,
        "bank_size": 1024,
        "seed": 0,  # one bank for every training seed
    }
    # the baselines' defaults: StillMix's UCF101 values where they differ per dataset
    assert (runs["be"]["max_lambda"], runs["be"]["prob_aug"]) == (0.3, 0.5)
    assert runs["fame"]["prob_aug"] == 0.5
    assert (runs["mixup"]["alpha"], runs["mixup"]["prob_aug"]) == (0.2, 0.5)
