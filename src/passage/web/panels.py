"""Home-page panels: each module's `views.py` may define `home_panel(session, user) -> HomePanel | None`."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from passage import MODULES

if TYPE_CHECKING:  # the presentation layer imports no security code at run time
    from passage.security.models import User


@dataclass(frozen=True)
class PanelItem:
    label: str
    href: str
    note: str | None = None


@dataclass(frozen=True)
class HomePanel:
    title: str
    items: list[PanelItem] = field(default_factory=list)
    more_href: str | None = None
    order: int = 50


def collect_home_panels(session: Session, user: User) -> list[HomePanel]:
    panels: list[HomePanel] = []
    for module in MODULES:
        if importlib.util.find_spec(f"passage.{module}") is None or importlib.util.find_spec(f"passage.{module}.views") is None:
            continue
        builder = getattr(importlib.import_module(f"passage.{module}.views"), "home_panel", None)
        if builder is None:
            continue
        panel = builder(session, user)
        if panel is not None:
            panels.append(panel)
    return sorted(panels, key=lambda p: p.order)
