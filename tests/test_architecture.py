"""docs/architecture.md against the code: every module of `benchmark/` and `albar/` has its line in
the layout tree, and every module over 600 lines is named (and so justified) in the page's
"Files over 600 lines" section."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "architecture.md"
LIMIT = 600


def modules() -> list[str]:
    return sorted(
        p.relative_to(ROOT).as_posix()
        for package in ("benchmark", "albar")
        for p in (ROOT / package).rglob("*.py")
        if p.name != "__init__.py"
    )


def layout_tree() -> dict[str, str]:
    """Path -> its line in the page's layout tree (the first code block), folders ending in `/`."""
    text = PAGE.read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    entries: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # (indent, folder path) of the enclosing folders
    last = ""
    for line in block.splitlines():
        match = re.match(r"^( *)(\S+)(.*)$", line)
        if not match:
            continue
        indent, name, rest = len(match.group(1)), match.group(2), match.group(3)
        if indent >= 20 and last:  # a description continued on the next line
            entries[last] += " " + line.strip()
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = (stack[-1][1] if stack else "") + name
        entries[path] = rest
        if name.endswith("/"):
            stack.append((indent, path))
        last = path
    return entries


def over_limit_section() -> str:
    return PAGE.read_text().split("## Files over 600 lines", 1)[1].split("\n## ", 1)[0]


def test_the_tree_parser_reads_nesting_and_continued_lines():
    tree = layout_tree()
    assert "benchmark/tracking/sam.py" in tree and "pipeline/rules/masks.smk" in tree
    assert "stillmix.py" in tree["albar/methods/"]  # the continued description line


def test_every_module_has_its_line_in_the_layout():
    tree = layout_tree()
    missing = []
    for module in modules():
        folder, _, name = module.rpartition("/")
        # a folder's line may name its small modules instead of giving each its own line
        if module not in tree and name not in tree.get(folder + "/", ""):
            missing.append(module)
    assert not missing, f"docs/architecture.md: modules missing from the layout: {missing}"
    gone = [p for p in tree if p.endswith(".py") and not (ROOT / p).is_file()]
    assert not gone, f"docs/architecture.md: the layout names modules that do not exist: {gone}"


def test_every_module_over_600_lines_is_justified():
    section = over_limit_section()
    long = [m for m in modules() if len((ROOT / m).read_text().splitlines()) > LIMIT]
    unjustified = [m for m in long if f"`{m}`" not in section]
    assert not unjustified, (
        f"docs/architecture.md: modules over {LIMIT} lines with no line in 'Files over 600 "
        f"lines': {unjustified}"
    )


def test_the_over_600_section_names_only_modules_over_600_lines():
    # Each entry starts a list item: "- `path` (about N ...": an entry whose module shrank or
    # moved must go, so the section stays a true list.
    entries = re.findall(r"^- `([\w/]+\.py)`", over_limit_section(), flags=re.MULTILINE)
    stale = [
        m
        for m in entries
        if not (ROOT / m).is_file() or len((ROOT / m).read_text().splitlines()) <= LIMIT
    ]
    assert not stale, (
        f"docs/architecture.md: 'Files over 600 lines' names modules that are not over {LIMIT} "
        f"lines (remove their entries): {stale}"
    )
