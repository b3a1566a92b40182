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


def test_one_key_for_the_reviews_folder():
    config = validate_config({"review": {"decisions_dir": "elsewhere/reviews"}})
    assert config["review"]["decisions_dir"] == "elsewhere/reviews"
    # The deprecated alias has no default and never survives validation: nothing reads it.
    assert "reviews_dir" not in config["tracking"]
    assert "reviews_dir" not in validate_config({})["tracking"]


def test_deprecated_reviews_dir_alone_stands_for_decisions_dir():
    config = validate_config({"tracking": {"reviews_dir": "old/reviews"}})
    assert config["review"]["decisions_dir"] == "old/reviews"
    assert "reviews_dir" not in config["tracking"]
    # the same folder spelt twice (trailing slash) is accepted, and validating again changes nothing
    both = {"tracking": {"reviews_dir": "r/"}, "review": {"decisions_dir": "r"}}
    assert validate_config(both)["review"]["decisions_dir"] == "r/"
    assert validate_config(both)["review"]["decisions_dir"] == "r/"


def test_deprecated_reviews_dir_that_differs_is_refused(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text(
        yaml.safe_dump(
            {"tracking": {"reviews_dir": "a/reviews"}, "review": {"decisions_dir": "b/reviews"}}
        )
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == (
        f"{path}: tracking.reviews_dir ('a/reviews') differs from review.decisions_dir "
        "('b/reviews'); tracking.reviews_dir is a deprecated alias of review.decisions_dir: "
        "delete it and keep review.decisions_dir"
    )


def test_a_part_validated_against_its_own_schema_gains_no_keys():
    training = config_schema()["properties"]["training"]
    part = validate_config({"epochs": 2}, "runs[x].training", schema=training)
    assert part["epochs"] == 2 and "review" not in part and "tracking" not in part
    # a section that happens to be called like the alias's is not touched either
    odd = {"reviews_dir": "x"}
    assert validate_config({"tracking": odd}, schema={"type": "object"}) == {"tracking": odd}


def test_the_schema_is_parsed_once_and_each_caller_gets_its_own_copy(tmp_path):
    """A 2,000-job dry run parsed the schema YAML once per run entry and config (a fifth of its
    time, perf/README_standin.md); now once per process and folder."""
    from benchmark.config import SCHEMA_DIR, _merged_schema

    first = config_schema()
    hits = _merged_schema.cache_info().hits
    second = config_schema()
    assert _merged_schema.cache_info().hits == hits + 1
    assert first == second and first is not second
    first["properties"]["seed"]["default"] = 99  # an edit stays with its caller
    assert config_schema()["properties"]["seed"]["default"] == 0
    # Another folder is parsed on its own (tests and tools pass their own schema folders).
    import shutil

    shutil.copytree(SCHEMA_DIR, tmp_path / "schemas")
    (tmp_path / "schemas" / "config.schema.yaml").write_text(
        (tmp_path / "schemas" / "config.schema.yaml")
        .read_text()
        .replace("default: 0\n    description: the seed", "default: 7\n    description: the seed")
    )
    assert config_schema(tmp_path / "schemas")["properties"]["seed"]["default"] == 7
