"""The layering of docs/architecture.md, checked on the source: no module imports a layer above its own.

Modules are parsed, not imported, so the walk is fast and sees function-level imports too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parent.parent / "genmedia"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"__init__", "cli", "serving", "client", "demo"}),
    frozenset({"pipelines", "jobs"}),
    frozenset({"deployments", "delivery", "enhance", "subtitles", "thumbnails", "trailer", "abtest", "report", "qa"}),
    frozenset({"analysis", "media", "models"}),
    frozenset(
        {"runtime", "storage", "config", "errors", "schemas", "progress", "security", "db", "scratch", "validation"}
    ),
)
"""The layers, top first; each name is a package or module directly under ``genmedia/``. This is the only
place the order is written: a module may import from its own layer and the ones after it."""

RAY_ALLOWED = frozenset({"runtime", "pipelines", "jobs", "serving"})
"""Where ``ray`` may be imported: the domain packages stay plain Python that any runtime can call."""


def _unit(module: str) -> str:
    """The top-level unit of ``genmedia.x.y`` (``x``); ``__init__`` for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("genmedia", *path.relative_to(PACKAGE).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import in ``path``, relative ones resolved against ``module``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.append((node.lineno, base))
            # ``from genmedia import x`` imports the unit ``x``.
            if base == "genmedia":
                out.extend((node.lineno, f"genmedia.{alias.name}") for alias in node.names)
    return out


def _layer_of(unit: str) -> int:
    for i, layer in enumerate(LAYERS):
        if unit in layer:
            return i
    raise AssertionError(f"genmedia/{unit}: not in any layer; add it to LAYERS in tests/test_layers.py")


def test_every_unit_has_a_layer() -> None:
    units = {_unit(m) for m in _modules()}
    missing = sorted(u for u in units if not any(u in layer for layer in LAYERS))
    assert missing == [], f"not in LAYERS (tests/test_layers.py): {missing}"


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for module, path in _modules().items():
        own = _layer_of(_unit(module))
        for line, imported in _imports(path, module):
            if imported == "genmedia" and _unit(module) != "__init__":
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports the genmedia package itself")
            elif imported.startswith("genmedia.") and _layer_of(_unit(imported)) < own:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {imported}")
    assert upward == [], "upward imports:\n" + "\n".join(upward)


def test_ray_only_where_allowed() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {imported}"
        for module, path in _modules().items()
        if _unit(module) not in RAY_ALLOWED
        for line, imported in _imports(path, module)
        if imported == "ray" or imported.startswith("ray.")
    ]
    assert offenders == [], "ray outside runtime.py, pipelines/, jobs/, serving/:\n" + "\n".join(offenders)


def test_the_walk_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: a lazy import inside a function and a relative import are both found."""
    package = tmp_path / "genmedia" / "enhance"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    source = package / "x.py"
    source.write_text("def f():\n    from genmedia.pipelines import enhance\n\nfrom ..media import decode\n")
    found = sorted(_imports(source, "genmedia.enhance.x"))
    assert found == [(2, "genmedia.pipelines"), (4, "genmedia.media")]
    assert _layer_of(_unit(found[0][1])) < _layer_of("enhance") < _layer_of(_unit(found[1][1]))
