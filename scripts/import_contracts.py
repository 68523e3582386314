"""Import-linter contracts of our own (registered in pyproject.toml `[tool.importlinter]`).

`private_names`: a name that starts with one underscore is its module's business. Importing it
from another module (`from simrenew.x import _y`) couples the two through something the owner
may rename or change at will, so the owner should make it public (or the caller should stop
needing it). Ruff's PLC2701 does not help here: it exempts first-party modules.

Checked statically from each module's source, so imports inside functions and under
`TYPE_CHECKING` count too. A name bound in the importing module's own package `__init__`
(`from . import _x` in `pkg/__init__.py`, re-exporting a private module) is a module import,
left to import-linter's `private_modules` contract.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _source_file(module: str) -> Path | None:
    root = module.split(".")[0]
    spec = importlib.util.find_spec(root)
    if spec is None or spec.origin is None:
        return None
    base = Path(spec.origin).parent.joinpath(*module.split(".")[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    # In a package's __init__, `.` is the package itself; in a module, its parent.
    keep = len(parts) - node.level + (1 if is_package else 0)
    base = ".".join(parts[:keep])
    return f"{base}.{node.module}" if node.module else base


class PrivateNamesContract(Contract):
    """No module imports another module's underscored names.

    Options:
        - source_modules: the packages whose modules are checked (their imports of first-party
          modules, i.e. modules in the graph).
        - ignore_imports: `importer -> imported._name` lines to tolerate (keep it empty).
    """

    type_name = "private_names"

    source_modules = fields.ListField(subfield=fields.StringField())
    ignore_imports = fields.SetField(subfield=fields.StringField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        ignored = {line.replace(" ", "") for line in (self.ignore_imports or set())}  # type: ignore[attr-defined]
        roots = [str(module) for module in self.source_modules]  # type: ignore[attr-defined]
        violations: list[dict[str, object]] = []
        for module in sorted(graph.modules):
            if not any(module == root or module.startswith(f"{root}.") for root in roots):
                continue
            path = _source_file(module)
            if path is None:
                continue
            is_package = path.name == "__init__.py"
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom):
                    continue
                source = _absolute(module, node, is_package)
                if source == module or source not in graph.modules:
                    continue
                for alias in node.names:
                    if not _is_private(alias.name) or f"{source}.{alias.name}" in graph.modules:
                        continue
                    if f"{module}->{source}.{alias.name}" in ignored:
                        continue
                    violations.append({"importer": module, "source": source, "name": alias.name, "line": node.lineno})
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for violation in check.metadata["violations"]:
            output.print_error(
                f"{violation['importer']}:{violation['line']} imports {violation['name']} from {violation['source']}",
                bold=False,
            )
            output.new_line()
