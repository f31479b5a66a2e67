"""The docs name only what exists: the README's Layout (complete: every folder of the package,
every module of the core) and every path `docs/extending.md` or the README cites."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sei_assets"
#: A name at the start of a Layout line: a folder (`core/`) or a file (`engine.py`).
NAME = re.compile(r"^[\w.-]+(?:/[\w.-]+)*(?:/|\.(?:py|md|yaml|json|toml))$")
#: Where a cited path starts.
ROOTS = ("sei_assets/", "tests/", "scenarios/", "resources/", "docs/", "bench/", "deploy/",
         "schemas/")  # fmt: skip


def layout_paths() -> list[Path]:
    """Every path the README's Layout names: a line's leading names, under the folder of the
    nearest line above it that is indented less and names a folder."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Layout\n", 1)[1].split("```\n", 2)[1]
    folders: list[tuple[int, Path]] = []  # (indent, folder) of the open folders
    named = []
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip())
        names = []
        for token in line.split():
            if not NAME.match(token):
                break
            names.append(token)
        if not names:
            continue
        while folders and folders[-1][0] >= indent:
            folders.pop()
        parent = folders[-1][1] if folders else ROOT
        named += [parent / n for n in names]
        if len(names) == 1 and names[0].endswith("/"):
            folders.append((indent, parent / names[0]))
    return named


def cited_paths(path: Path) -> list[str]:
    """Backticked repository paths in a document (no placeholders, no globs; `::test` cut)."""
    found = re.findall(r"`([^`\s]+)`", path.read_text(encoding="utf-8"))
    paths = [f.split("::")[0] for f in found if f.startswith(ROOTS)]
    return [p for p in paths if not re.search(r"[<>*]", p)]


def test_every_path_the_layout_names_exists() -> None:
    named = layout_paths()
    assert len(named) > 80
    missing = [str(p.relative_to(ROOT)) for p in named if not p.exists()]
    assert missing == []


def test_the_layout_names_every_folder_of_the_package_and_every_core_module() -> None:
    named = set(layout_paths())
    folders = {
        d
        for d in PACKAGE.rglob("*")
        if d.is_dir() and d.name != "__pycache__" and "__pycache__" not in d.parts
    }
    assert PACKAGE / "scenarios" / "dialects" / "lifecycle" / "providers" in folders
    assert sorted(str(d.relative_to(ROOT)) for d in folders - named) == []
    modules = set((PACKAGE / "core").glob("*.py")) - {PACKAGE / "core" / "__init__.py"}
    modules |= {f for f in PACKAGE.glob("*.py")}
    assert sorted(str(m.relative_to(ROOT)) for m in modules - named) == []


def test_every_path_extending_and_the_readme_cite_exists() -> None:
    extending = cited_paths(ROOT / "docs" / "extending.md")
    assert "sei_assets/core/reproducers/tools.py" in extending
    cited = extending + cited_paths(ROOT / "README.md")
    assert [p for p in cited if not (ROOT / p).exists()] == []


def test_the_checks_would_see_a_stale_path(tmp_path: Path) -> None:
    """A path that does not exist is reported (what the README named before: a stale
    `sei_assets/reproducers/`)."""
    doc = tmp_path / "doc.md"
    doc.write_text("the reproducers (`sei_assets/reproducers/`) and `tests/test_cli.py::x`\n")
    cited = cited_paths(doc)
    assert cited == ["sei_assets/reproducers/", "tests/test_cli.py"]
    assert [p for p in cited if not (ROOT / p).exists()] == ["sei_assets/reproducers/"]
