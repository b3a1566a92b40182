"""Workflow configuration: YAML validated against the project's JSON schemas, defaults filled in.

The schema is split by stage: `benchmark/schemas/config.schema.yaml` holds the top level and each
stage owns `benchmark/schemas/config/<section>.schema.yaml`, merged in as `properties.<section>`. The
same function serves the Snakefile and every `python -m ...` entry point, so there is one set of
defaults, in the schema, and nowhere else.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import os
from pathlib import Path

import jsonschema
import yaml

# The schemas are package data (benchmark/schemas/), so a wheel installed anywhere finds them as a
# checkout does; a wheel installs unpacked, so the resource is a real folder.
SCHEMA_DIR = Path(os.fspath(importlib.resources.files("benchmark") / "schemas"))


class ConfigError(ValueError):
    """The configuration is invalid; the message names the file, the key and the rule broken."""


# Deprecated keys still accepted, old -> the key that replaced it (docs/config-reference.md lists
# both). An old key set alone stands for the new one; set beside it, the two must agree or the
# config is refused. Either way the old key leaves the validated config, so nothing reads it.
DEPRECATED_ALIASES = {("tracking", "reviews_dir"): ("review", "decisions_dir")}


def _resolve_aliases(config: dict, source: str) -> None:
    for old, new in DEPRECATED_ALIASES.items():
        old_section = config.get(old[0])
        if not isinstance(old_section, dict) or old[1] not in old_section:
            continue
        new_section = config.setdefault(new[0], {})
        if not isinstance(new_section, dict):
            continue  # the schema names the wrong type
        value = old_section.pop(old[1])
        if new[1] in new_section and not _same_setting(new_section[new[1]], value):
            raise ConfigError(
                f"{source}: {'.'.join(old)} ({value!r}) differs from {'.'.join(new)} "
                f"({new_section[new[1]]!r}); {'.'.join(old)} is a deprecated alias of "
                f"{'.'.join(new)}: delete it and keep {'.'.join(new)}"
            )
        new_section[new[1]] = value


def _same_setting(a: object, b: object) -> bool:
    # Two spellings of one folder (`config/reviews` and `config/reviews/`) are the same setting.
    if isinstance(a, str) and isinstance(b, str):
        return os.path.normpath(a) == os.path.normpath(b)
    return a == b


def config_schema(schema_dir: str | os.PathLike = SCHEMA_DIR) -> dict:
    """The merged config schema, parsed once per process and folder: the Snakefile and
    `albar.runs` ask for it once per run entry while the DAG is built, and re-parsing the YAML was
    a fifth of a 2,000-job dry run (perf/README_standin.md). A deep copy, so callers may edit it."""
    return copy.deepcopy(_parsed_schema(str(Path(schema_dir).resolve())))


@functools.lru_cache(maxsize=8)
def _parsed_schema(schema_dir: str) -> dict:
    schema_dir = Path(schema_dir)
    schema = yaml.safe_load((schema_dir / "config.schema.yaml").read_text())
    # `a.schema.yaml` becomes properties.a; `a.b.schema.yaml` becomes properties.a.properties.b
    # (parents first: files sort by nesting depth, then name).
    sections = sorted(
        (schema_dir / "config").glob("*.schema.yaml"), key=lambda p: (p.name.count("."), p.name)
    )
    for section in sections:
        parts = section.name.removesuffix(".schema.yaml").split(".")
        parent = schema
        for part in parts[:-1]:
            parent = parent["properties"][part]
        parent.setdefault("properties", {})[parts[-1]] = yaml.safe_load(section.read_text())
    return schema


def _with_defaults(validator_class):
    """A validator that also fills `default` values (objects default to {} so nested defaults apply)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if name in instance:
                    continue
                if "default" in subschema:
                    instance[name] = copy.deepcopy(subschema["default"])
                elif subschema.get("type") == "object" and "properties" in subschema:
                    instance[name] = {}
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def validate_config(config: dict, source: str = "config", schema: dict | None = None) -> dict:
    """Validate `config` in place (filling defaults) and return it; raise `ConfigError` on failure.

    A whole config's deprecated keys (`DEPRECATED_ALIASES`) are first moved to the keys that
    replaced them; a part validated against its own `schema` (a run's training section) has none.
    """
    if schema is None:
        _resolve_aliases(config, source)
    schema = schema or config_schema()
    validator = _Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for error in errors[:10]:
            key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
            lines.append(f"{source}: {key}: {error.message}")
        raise ConfigError("invalid configuration\n" + "\n".join(lines))
    return config


def load_config(path: str | os.PathLike, overrides: dict | None = None) -> dict:
    """Read a YAML config, apply `overrides` (deep merge), validate and fill defaults."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    config = yaml.safe_load(path.read_text()) or {}
    if overrides:
        config = deep_merge(config, overrides)
    return validate_config(config, str(path))


def deep_merge(base: dict, update: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def results_dir(config: dict) -> Path:
    return Path(config["results"]) / config["dataset"]["name"]


def add_config_arguments(parser) -> None:
    """`--config FILE` (standalone use) or `--config-json JSON` (what the rules pass: the already
    validated sections a stage needs, so Snakemake reruns a job only when those sections change)."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--config", help="workflow YAML config (validated, defaults filled)")
    group.add_argument(
        "--config-json", help="validated config sections as JSON (used by the rules)"
    )


def config_from_args(args) -> dict:
    import json

    if args.config_json is not None:
        return json.loads(args.config_json)
    return load_config(args.config)
