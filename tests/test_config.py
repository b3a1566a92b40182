import pytest
import yaml

from benchmark.config import ConfigError, config_schema, load_config, validate_config


def test_defaults_come_from_the_schema(project_root):
    config = load_config(project_root / "config" / "default.yaml")
    assert config["dataset"]["synthetic"]["classes"] == 5
    assert config["dataset"]["synthetic"]["context_object"]["gap"] == 2
    assert config["on_error"] == "fail"
    assert config["threads"]["train"] >= 1


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ({"seed": "zero"}, "seed", "is not of type 'integer'"),
        ({"n_shards": 0}, "n_shards", "less than the minimum"),
        ({"dataset": {"kind": "kinetics"}}, "dataset.kind", "is not one of"),
        (
            {"dataset": {"synthetic": {"bias_bg": 1.5}}},
            "dataset.synthetic.bias_bg",
            "greater than the maximum",
        ),
        (
            {"dataset": {"synthetic": {"frames": 8.5}}},
            "dataset.synthetic.frames",
            "is not of type 'integer'",
        ),
        ({"on_eror": "skip", "dataset": {}}, "(top level)", "Additional properties"),
    ],
)
def test_schema_errors_name_the_file_and_key(tmp_path, change, key, message):
    change.setdefault("dataset", {})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(change))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert f"bad.yaml: {key}: " in str(error.value) and message in str(error.value)


def test_every_section_schema_documents_its_keys():
    """Each property of every section has a description or is an object whose children have one."""

    def undocumented(schema, prefix=""):
        for name, sub in schema.get("properties", {}).items():
            if "properties" in sub:
                yield from undocumented(sub, f"{prefix}{name}.")
            elif "description" not in sub and sub.get("type") not in ("object", "array"):
                yield prefix + name

    missing = [k for k in undocumented(config_schema()) if not k.startswith("threads.")]
    assert missing == [], f"schema keys without a description: {missing}"


def test_validation_fills_defaults_in_place():
    config = {"dataset": {}}
    assert validate_config(config) is config
    assert config["dataset"]["name"] == "synthetic"
