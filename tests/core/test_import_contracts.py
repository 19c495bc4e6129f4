"""The boundary contracts (`lint-imports`, run by `make test`) stay strict: no exemption list, every module
covered, and the public-interface check reads what each module declares."""

from __future__ import annotations

import tomllib
from pathlib import Path

from scripts.import_contracts import declared_public

from passage import MODULES

ROOT = Path(__file__).resolve().parents[2]
FOUNDATION = {"core", "security", "web"}


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["importlinter"]["contracts"])


def test_no_contract_carries_an_exemption() -> None:
    for contract in _contracts():
        assert not {"ignore_imports", "skip_descendants", "unmatched_ignore_imports_alerting"} & set(contract), contract["id"]


def test_every_module_is_in_the_layers_and_the_public_interface_contract() -> None:
    modules = {m for m in MODULES if m not in FOUNDATION}
    contracts = {str(c["id"]): c for c in _contracts()}
    top_layer = {name.strip() for name in str(contracts["layers"]["layers"][0]).split(":")}  # type: ignore[index]
    assert top_layer == modules
    assert {m.removeprefix("passage.") for m in contracts["public-interface"]["modules"]} == modules  # type: ignore[union-attr]
    assert [str(layer) for layer in contracts["layers"]["layers"][1:]] == ["security", "web", "core"]  # type: ignore[index]


def test_a_module_offers_its_service_and_what_its_init_declares() -> None:
    assert declared_public("passage.forms") == {"passage.forms", "passage.forms.service", "passage.forms.evaluation"}
    assert "passage.readmission.workflow" in declared_public("passage.readmission")
    assert "passage.readmission.models" not in declared_public("passage.readmission")
