"""Loading and validating agreement files (the shipped presets and administrators' own).

A file is refused as a whole with every problem named by its field path
(`versions.0.readmission.reply_limit.value`), never half-loaded.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from passage.core.errors import FieldError, InvalidInput, NotFound
from passage.core.files import decode_json_bytes
from passage.core.i18n import T_
from passage.core.memo import ByIdentity
from passage.readmission.schemas import Agreement

PRESET_PACKAGE = "passage.readmission.data.agreements"


def _path_of(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "(file)"


def parse_agreement(data: Any, *, source: str = "agreement") -> Agreement:
    """Validate a decoded JSON document; raise `InvalidInput` listing each field path at fault."""
    try:
        return Agreement.model_validate(data)
    except ValidationError as exc:
        fields = [FieldError(path=_path_of(err["loc"]), message=err["msg"]) for err in exc.errors()]
        raise InvalidInput(T_("{source}: not a valid agreement", source=source), fields=fields) from None


def parse_agreement_bytes(raw: bytes, *, source: str = "agreement") -> Agreement:
    return parse_agreement(decode_json_bytes(raw, source=source), source=source)


def load_agreement_file(path: str | Path) -> Agreement:
    file_path = Path(path)
    if not file_path.is_file():
        raise InvalidInput(T_("{name}: file not found", name=file_path.name))
    return parse_agreement_bytes(file_path.read_bytes(), source=file_path.name)


def without_translations(node: Any) -> Any:
    """The document without its `translations` (the published text in other languages): a checksum covers the
    figures and the source text, so adding or correcting a translation does not make a version "changed"."""
    if isinstance(node, dict):
        return {k: without_translations(v) for k, v in node.items() if k != "translations"}
    if isinstance(node, list):
        return [without_translations(v) for v in node]
    return node


def agreement_checksum(agreement: Agreement) -> str:
    """SHA-256 of the canonical JSON, stored with each loaded version to detect silent edits."""
    canonical = json.dumps(without_translations(agreement.model_dump(mode="json")), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=1)
def preset_agreements() -> dict[str, Agreement]:
    """The presets shipped in `data/agreements/`, by id."""
    result: dict[str, Agreement] = {}
    for entry in sorted(resources.files(PRESET_PACKAGE).iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        agreement = parse_agreement_bytes(entry.read_bytes(), source=entry.name)
        if agreement.id in result:
            raise InvalidInput(T_("{name}: duplicate agreement id {id}", name=entry.name, id=agreement.id))
        result[agreement.id] = agreement
    return result


def get_preset(agreement_id: str) -> Agreement:
    try:
        return preset_agreements()[agreement_id]
    except KeyError:
        raise NotFound(T_("no agreement with id {agreement_id}", agreement_id=agreement_id), extra={"known": sorted(preset_agreements())}) from None


_UNVERIFIED: ByIdentity[tuple[str, ...]] = ByIdentity()


def unverified_figures(agreement: Agreement) -> list[str]:
    """Field paths of every citation marked `verified: false`, for the UI's "unverified" badges (remembered per
    agreement object: a case read asks for them every time, and the catalogue's objects do not change)."""
    return list(_UNVERIFIED.get(agreement, lambda: tuple(_unverified_figures(agreement))))


def _unverified_figures(agreement: Agreement) -> list[str]:
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if {"source", "article", "verified"} <= node.keys():
                if not node["verified"]:
                    found.append(path)
                return
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else key)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}.{index}")

    walk(agreement.model_dump(mode="json"), "")
    return found
