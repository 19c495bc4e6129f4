"""Turn the web entry page's posted fields back into submission data (docs/forms.md), and count repeats.

Field names on the page are the paths users see: `pop/households`, `members[2]/member_age`; a
select_multiple posts one value per ticked box; a geopoint posts `<path>__lat` and `<path>__lon`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from passage.forms.definition import FormDefinition

_REPEAT = re.compile(r"^(?P<repeat>[^\[\]]+)\[(?P<index>\d{1,3})\]/(?P<rest>.+)$")
GEO_PARTS = ("__lat", "__lon")
MAX_INSTANCES = 200


def parse_entry_form(definition: FormDefinition, pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Submission data from posted (name, value) pairs; unknown names are kept so validation reports them."""
    flat: dict[str, list[str]] = {}
    for name, value in pairs:
        if name.startswith("_") or name == "csrf_token":
            continue
        flat.setdefault(name, []).append(value)
    data: dict[str, Any] = {}
    geo: dict[str, dict[str, str]] = {}
    for name, values in flat.items():
        for suffix in GEO_PARTS:
            if name.endswith(suffix):
                geo.setdefault(name[: -len(suffix)], {})[suffix] = values[-1].strip()
                break
        else:
            _place(definition, data, name, values)
    for path, parts in geo.items():
        lat, lon = parts.get("__lat", ""), parts.get("__lon", "")
        _place(definition, data, path, [f"{lat} {lon}".strip()])
    return data


def _place(definition: FormDefinition, data: dict[str, Any], name: str, values: list[str]) -> None:
    match = _REPEAT.match(name)
    if match:
        repeat_path, index = match["repeat"], int(match["index"])
        item = definition.by_path.get(repeat_path)
        if item is not None and item.type == "repeat" and 1 <= index <= MAX_INSTANCES:
            instances = data.setdefault(repeat_path, [])
            while len(instances) < index:
                instances.append({})
            _place(definition, instances[index - 1], f"{repeat_path}/{match['rest']}", values)
            return
    item = definition.by_path.get(name)
    value: Any = " ".join(v.strip() for v in values if v.strip()) if item is not None and item.type == "select_multiple" else values[-1]
    if isinstance(value, str) and not value.strip():
        return
    data[name] = value


def repeat_counts(definition: FormDefinition, data: dict[str, Any], add: str | None = None, remove: str | None = None) -> dict[str, Any]:
    """Data with one more (`add`) or one fewer (`remove`) instance of a top-level repeat, at least one shown."""
    result = dict(data)
    for item in definition.walk():
        if item.type != "repeat" or item.repeat is not None and item.repeat != item.path:
            continue
        instances = list(result.get(item.path) or [])
        if add == item.path and len(instances) < MAX_INSTANCES:
            instances = (instances or [{}]) + [{}]
        if remove == item.path and len(instances) > 1:
            instances = instances[:-1]
        if instances:
            result[item.path] = instances
    return result
