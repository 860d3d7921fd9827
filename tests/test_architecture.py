"""The tree's layering, read from the code's own imports: every import in srspace/ runs to the same
package or a lower floor (docs/architecture.md), and every module says in its first line what it holds."""
from __future__ import annotations

import ast
from pathlib import Path

SRSPACE = Path(__file__).resolve().parent.parent / "srspace"
# docs/architecture.md's floors: a package may import from its own and lower floors only
FLOORS = {"contract": 0, "errors": 0, "cores": 0, "__init__": 0,
          "models": 1, "imaging": 1, "serving": 1, "runtime": 2, "quality": 3,
          "buildtime": 4, "web": 4, "service": 5, "ui": 6, "cli": 6, "__main__": 7}


def _imports(path: Path) -> list[list[str]]:
    """The srspace modules ``path`` imports, as name parts below srspace (relative imports resolved)."""
    package = list(path.relative_to(SRSPACE).parent.parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                found.append(base + node.module.split("."))
            else:
                found.extend(base + [alias.name] for alias in node.names)
        elif node.module and node.module.startswith("srspace."):
            found.append(node.module.split(".")[1:])
    return found


def test_every_import_runs_down_the_floors():
    modules = sorted(SRSPACE.rglob("*.py"))
    assert len(modules) > 30
    upward = []
    for path in modules:
        own = path.relative_to(SRSPACE).with_suffix("").parts[0]
        assert own in FLOORS, f"{path}: a package docs/architecture.md and FLOORS do not place"
        for target in _imports(path):
            if target and target[0] in FLOORS and FLOORS[target[0]] > FLOORS[own]:
                upward.append(f"{path.relative_to(SRSPACE)} imports {'.'.join(target)}")
    assert upward == []


def test_the_floors_are_the_documented_ones_and_every_module_says_what_it_holds():
    doc = (SRSPACE.parent / "docs" / "architecture.md").read_text()
    for name in FLOORS:
        if name not in ("__init__",):
            assert f"srspace/{name}" in doc, f"docs/architecture.md does not place {name}"
    for path in SRSPACE.rglob("*.py"):
        text = ast.get_docstring(ast.parse(path.read_text()))
        assert text and text.strip(), f"{path.relative_to(SRSPACE)} has no first line saying what it holds"


# The browser modules mirror Python modules and say which: "pipeline.resample_taps", "srspace/imaging/png.py".
MIRRORED = {"pipeline": "runtime/pipeline.py", "tiling": "runtime/tiling.py", "colour": "imaging/colour.py",
            "decoding": "imaging/decoding.py", "networks": "models/networks.py", "results": "imaging/results.py",
            "job": "runtime/job.py", "metrics": "imaging/metrics.py", "errors": "errors.py", "contract": "contract.py"}


def test_the_browser_modules_name_only_python_that_exists():
    import re

    stale = []
    for js in sorted((SRSPACE / "web" / "browser").glob("*.js")):
        for number, line in enumerate(js.read_text().split("\n"), 1):
            for path in re.findall(r"srspace/[\w/]+\.py", line):
                if not (SRSPACE.parent / path).is_file():
                    stale.append(f"{js.name}:{number}: {path}")
            if "//" not in line and "*" not in line:
                continue  # only comments name Python
            for module, name in re.findall(r"\b(" + "|".join(MIRRORED) + r")\.([a-z_]\w*)\b", line):
                source = (SRSPACE / MIRRORED[module]).read_text()
                if name not in ("js", "py") and not re.search(rf"^\s*(def|class) {name}\b|^{name}\s*=", source, re.M):
                    stale.append(f"{js.name}:{number}: {module}.{name}")
            for name in re.findall(r"config\.py: (\w+)", line):
                if not re.search(rf"^def {name}\b", (SRSPACE / "web" / "config.py").read_text(), re.M):
                    stale.append(f"{js.name}:{number}: config.py: {name}")
    assert stale == []
