"""The configuration reference page, generated from the config schemas' `description:` fields.

Every key of the workflow's configuration (the merged schema of `benchmark.config.config_schema`)
becomes one row: its dotted path, type, default and description. The page `docs/config-reference.md`
is this module's output and nothing else, so it cannot drift from the schemas: a test regenerates it
and compares, and another fails when a key has no description.

    python -m benchmark.config_reference --out docs/config-reference.md   # rewrite the page
    python -m benchmark.config_reference --check docs/config-reference.md # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from benchmark.atomic import atomic_path
from benchmark.config import config_schema

HEADER = """# Configuration reference

Generated from the config schemas (`benchmark/schemas/config.schema.yaml` and
`benchmark/schemas/config/<section>.schema.yaml`) by `python -m benchmark.config_reference --out
docs/config-reference.md`; do not edit by hand. Defaults live only in those schemas. A key
`a.<name>.b` is a map whose entries are named by you; `a[].b` is a list of objects.
"""


def schema_keys(node: dict, path: str = "") -> Iterator[tuple[str, dict]]:
    """(dotted path, schema) of every key below `node`, depth first in the schema's order."""
    for name, sub in (node.get("properties") or {}).items():
        key = f"{path}.{name}" if path else name
        yield key, sub
        yield from schema_keys(sub, key)
    if isinstance(node.get("items"), dict):
        yield from schema_keys(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from schema_keys(node["additionalProperties"], f"{path}.<name>")
    for combinator in ("oneOf", "anyOf", "allOf"):
        for sub in node.get(combinator) or []:
            yield from schema_keys(sub, path)


def undocumented_keys(schema: dict) -> list[str]:
    """Keys whose schema has no `description:` (each must say what it does)."""
    return [key for key, sub in schema_keys(schema) if not str(sub.get("description", "")).strip()]


def _type(sub: dict) -> str:
    if "enum" in sub:
        return " \\| ".join(f"`{value}`" for value in sub["enum"])
    kind = sub.get("type", "")
    return " \\| ".join(kind) if isinstance(kind, list) else str(kind)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_config_reference(schema: dict) -> str:
    """The Markdown page: one table per top-level section, one row per key."""
    sections: dict[str, list[str]] = {}
    for key, sub in schema_keys(schema):
        section = key.split(".")[0].split("[")[0]
        default = json.dumps(sub["default"], sort_keys=True) if "default" in sub else ""
        row = (
            f"| `{key}` | {_type(sub)} | {f'`{_cell(default)}`' if default else ''} | "
            f"{_cell(sub.get('description', ''))} |"
        )
        sections.setdefault(section, []).append(row)
    parts = [HEADER]
    top_level = [key for key in sections if "properties" not in schema["properties"][key]]
    if top_level:
        parts.append("## Top level\n\n| key | type | default | description |\n|---|---|---|---|")
        parts.append("\n".join(row for key in top_level for row in sections[key]) + "\n")
    for section, rows in sections.items():
        if section in top_level:
            continue
        description = _cell(schema["properties"][section].get("description", ""))
        parts.append(f"## `{section}`\n\n{description}\n")
        parts.append(
            "| key | type | default | description |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
        )
    return "\n".join(parts)


def main(argv: list[str] | None = None, prog: str = "python -m benchmark.config_reference") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description="Generate the configuration reference page."
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write the page here")
    group.add_argument("--check", type=Path, help="exit 1 if this page differs from the schemas")
    args = parser.parse_args(argv)
    schema = config_schema()
    missing = undocumented_keys(schema)
    if missing:
        print(f"config schemas: keys without a description: {', '.join(missing)}", file=sys.stderr)
        return 1
    page = render_config_reference(schema)
    if args.check:
        if not args.check.is_file() or args.check.read_text() != page:
            print(
                f"{args.check}: stale; regenerate with python -m benchmark.config_reference "
                f"--out {args.check}",
                file=sys.stderr,
            )
            return 1
        print(f"{args.check}: up to date")
        return 0
    with atomic_path(args.out) as tmp:
        Path(tmp).write_text(page)
    print(f"{args.out}: {page.count(chr(10) + '| `')} keys")
    return 0


if __name__ == "__main__":
    sys.exit(main())
