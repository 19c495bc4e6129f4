"""Where a record of any module is shown, so that one module links to another's page without importing it.

Each module's `views.py` registers the pages of its records (`register_record_path("readmission.agreement",
"/readmission/agreements/{id}")`) when the application loads it; a page or an API answer asks `record_href`.
A type no module registered is shown unlinked rather than guessed.
"""

from __future__ import annotations

_PATHS: dict[str, str] = {}


def register_record_path(linked_type: str, template: str) -> None:
    """`linked_type` is `module.entity`; `template` holds `{id}`."""
    if "." not in linked_type or "{id}" not in template:
        raise ValueError("register a `module.entity` type with a path template holding {id}")
    _PATHS[linked_type] = template


def record_href(linked_type: str | None, linked_id: str | None) -> str | None:
    """The page of a record, or None when its module registered no page for its type."""
    if not linked_type or not linked_id:
        return None
    template = _PATHS.get(linked_type)
    return template.format(id=linked_id) if template else None
