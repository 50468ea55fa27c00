"""The house's rules, read from the source: no import cycle among pipeline's modules (imports
made only for the type checker count too), at most 12 modules loose at the top of the
package, no reach into another object's private names, and one exception root."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pipeline
from pipeline.errors import ArgilBatchError

PACKAGE = Path(pipeline.__file__).parent
MAX_LOOSE_MODULES = 12


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The pipeline modules ``name`` imports, at any depth of its code (a function's lazy
    import and an ``if TYPE_CHECKING:`` block included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from pipeline.cli import run` names the module pipeline.cli.run.
                child = f"{base}.{alias.name}"
                targets.add(child if child in MODULES else base)
    return {t for t in targets if t in MODULES and t != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return groups


def test_no_import_cycle_counting_type_checking_and_lazy_imports() -> None:
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    # A package's __init__ gathering its own modules is how a package shows its API: the
    # edges from a package to its own modules are not a cycle of the design.
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    assert _cycles(graph) == []


def test_the_checker_sees_a_cycle_made_only_for_the_type_checker() -> None:
    graph = {"a": {"b"}, "b": {"a"}, "c": set()}
    assert _cycles(graph) == [["a", "b"]]


def test_at_most_twelve_modules_lie_loose_at_the_top() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= MAX_LOOSE_MODULES, loose


def _private_reaches(path: Path) -> list[str]:
    """``x._name`` where ``x`` is not ``self``/``cls`` (a dunder is public protocol)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: .{name}")
    return found


# Each with its reason; nothing else in the package reaches into another object's privates.
ALLOWED_REACHES = {
    # os._exit: the standard library's exit without interpreter cleanup (``__main__``: a
    # Ctrl-C while the command line is still importing).
    "._exit",
    # openpyxl has no public way to copy a cell's whole style: its style array (``_style``)
    # is copied, once per write, as openpyxl itself does when it copies a cell.
    "._style",
}


def test_no_reach_into_another_objects_private_names() -> None:
    reaches = [r for path in MODULES.values() for r in _private_reaches(path)]
    unexplained = [r for r in reaches if r.rsplit(": ", 1)[1] not in ALLOWED_REACHES]
    assert unexplained == []


def test_every_exception_of_the_package_has_one_root() -> None:
    strays = []
    for info in pkgutil.walk_packages(pipeline.__path__, "pipeline."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if name.startswith("_") or not inspect.isclass(value):
                continue
            if value.__module__ != module.__name__ or not issubclass(value, BaseException):
                continue
            if not issubclass(value, ArgilBatchError):
                strays.append(f"{info.name}.{name}")
    assert strays == []


def test_the_root_and_its_exit_codes_are_exported_from_the_package() -> None:
    from pipeline import ArgilBatchError as exported
    from pipeline import ConfigError, JobError, LockedError, OutputError, RunStopped, SheetError

    assert exported is ArgilBatchError
    codes = {
        kind.__name__: kind.exit_code
        for kind in (ConfigError, SheetError, JobError, LockedError, OutputError, RunStopped)
    }
    assert codes == {
        "ConfigError": 2,
        "SheetError": 2,
        "JobError": 2,
        "LockedError": 4,
        "OutputError": 3,
        "RunStopped": 3,
    }
