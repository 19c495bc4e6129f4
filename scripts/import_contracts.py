"""An import-linter contract type for Passage's module boundary (configured in pyproject.toml, run by `make test`).

`public_interface`: a module (a bounded context such as `passage.readmission`) may import another module only
through that module's `service.py`, its package itself, or the submodules its `__init__.py` declares public in
`PUBLIC_MODULES = ("rules", "workflow", ...)` (read from the source, never imported). Anything else - another
module's models, views, api, cli or internals - breaks the contract, with the importing line named.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def declared_public(package: str) -> frozenset[str]:
    """The full names of what `package` offers other modules: itself, its service and its `PUBLIC_MODULES`."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ValueError(f"{package} is not importable")
    names: tuple[str, ...] = ()
    for node in ast.parse(Path(spec.origin).read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if node.value is not None and any(isinstance(t, ast.Name) and t.id == "PUBLIC_MODULES" for t in targets):  # type: ignore[attr-defined]
            names = tuple(ast.literal_eval(node.value))  # type: ignore[attr-defined]
    return frozenset({package, f"{package}.service", *(f"{package}.{name}" for name in names)})


def _owner(module: str, packages: list[str]) -> str | None:
    return next((p for p in packages if module == p or module.startswith(p + ".")), None)


class PublicInterfaceContract(Contract):
    type_name = "public_interface"

    modules = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        packages = [str(m) for m in self.modules]  # type: ignore[attr-defined]
        public = {package: declared_public(package) for package in packages}
        violations = []
        for package in packages:
            for importer in sorted(graph.find_descendants(package) | {package}):
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    owner = _owner(imported, packages)
                    if owner is None or owner == package:
                        continue
                    if imported in public[owner] or any(imported.startswith(name + ".") for name in public[owner] - {owner}):
                        continue
                    lines = sorted({d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)})
                    violations.append({"importer": importer, "imported": imported, "lines": lines})
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for violation in check.metadata["violations"]:
            lines = ", ".join(f"l.{n}" for n in violation["lines"])
            output.print_error(f"{violation['importer']} imports {violation['imported']} ({lines}): not its service.py "
                               "and not declared in that module's PUBLIC_MODULES", bold=False)
            output.new_line()
