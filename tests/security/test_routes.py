"""Every route declares a permission or declares itself public: a walk over the whole application."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from passage.core.app import create_app, iter_routes


def _declarations(dependant: Any) -> set[str]:
    found: set[str] = set()
    call = getattr(dependant, "call", None) or getattr(dependant, "dependency", None)
    if call is not None:
        if getattr(call, "__passage_permissions__", None):
            found.add("permission")
        if getattr(call, "__passage_public__", False):
            found.add("public")
    for sub in getattr(dependant, "dependencies", None) or []:
        found |= _declarations(sub)
    return found


def undeclared_routes(app: FastAPI) -> list[str]:
    missing = []
    for info in iter_routes(list(app.routes)):
        if info.path.startswith(("/api/v1/openapi.json", "/api/v1/docs")):
            continue
        declared = _declarations(info.route.dependant)
        for dependency in info.extra_dependencies:
            declared |= _declarations(dependency)
        if not declared:
            missing.append(f"{sorted(info.methods)} {info.path}")
    return missing


def test_every_route_declares_a_permission_or_is_public(store: Any) -> None:
    app = create_app()
    assert len(list(iter_routes(list(app.routes)))) > 20
    assert undeclared_routes(app) == []


def test_the_walker_catches_an_undeclared_route() -> None:
    app = FastAPI()

    @app.get("/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    assert undeclared_routes(app) == ["['GET'] /forgotten"]
