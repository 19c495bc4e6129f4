"""Pull submissions from an ODK Central server through pyodk (https://getodk.github.io/pyodk/).

Configured by the server URL, a project id, the form's Central id and an API session token (an app
user's or web user's bearer token; never a password, never written to disk). Submissions are read
from Central's OData feed (`Submissions?$expand=*`: groups nested, repeats as lists, ODK Central
API, "OData Form Service"), page by page, and handed back in the same `{"value": [...]}` shape that
`passage.forms.exports` reads from a JSON export, so a pull is imported exactly like a downloaded file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from passage.core.errors import InvalidInput
from passage.core.i18n import T_

PAGE_SIZE = 1_000


@dataclass(frozen=True)
class CentralSource:
    base_url: str
    project_id: int
    form_id: str
    token: str

    def __repr__(self) -> str:  # the token never appears in logs or errors
        return f"CentralSource(base_url={self.base_url!r}, project_id={self.project_id}, form_id={self.form_id!r})"


def _client(source: CentralSource) -> Any:
    from pyodk._utils.config import CentralConfig, Config
    from pyodk._utils.session import Session
    from pyodk.client import Client

    # pyodk wants a user name and password, but logs in only when no Authorization header is present:
    # the bearer token is set up front, and the placeholders are never sent.
    unused = "(bearer token)"
    session = Session(base_url=source.base_url, api_version="v1", username=unused, password=unused, cache_path=None)
    session.headers["Authorization"] = "Bearer " + source.token
    config = Config(central=CentralConfig(base_url=source.base_url, username=unused, password=unused))
    return Client(session=session, config=config, project_id=source.project_id)


def pull_submissions(source: CentralSource, *, progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Every submission of the form on the server, as OData records; InvalidInput naming what failed."""
    from pyodk.errors import PyODKError

    client = _client(source)
    records: list[dict[str, Any]] = []
    try:
        while True:
            page = client.submissions.get_table(form_id=source.form_id, expand="*", skip=len(records), top=PAGE_SIZE, count=True)
            values = page.get("value") or []
            records.extend(values)
            if progress is not None:
                progress(len(records))
            total = page.get("@odata.count")
            if not values or len(values) < PAGE_SIZE or (total is not None and len(records) >= int(total)):
                break
    except PyODKError as exc:
        raise InvalidInput(
            f"ODK Central {source.base_url}, project {source.project_id}, form {source.form_id}: the pull failed ({str(exc).splitlines()[0][:200]})"
        ) from None
    except OSError as exc:
        raise InvalidInput(T_("ODK Central {base_url}: not reachable ({error})", base_url=source.base_url, error=type(exc).__name__)) from None
    return records


def write_pull(records: list[dict[str, Any]], path: Path) -> Path:
    """The pulled records as an ODK Central JSON export file (what `import_export` reads)."""
    path.write_text(json.dumps({"value": records}, ensure_ascii=False), encoding="utf-8")
    return path
