"""Shared fixtures: a migrated store per test on SQLite and on PostgreSQL, an app client, and people.

Every test that asks for a store (`store`, `session`, `demo_people`, `app_client`, `any_store`, and the modules'
fixtures built on them) runs twice: on SQLite and on PostgreSQL (the `postgres` marker; `-m "not postgres"`
leaves those out). Browser tests, and tests marked `sqlite_only` (each with its reason, `# TODO(pg)` where it is
work left), run on SQLite alone.

PostgreSQL comes from a throwaway cluster started from /usr/lib/postgresql/15/bin (as the OS user
`passage_pg` when the suite runs as root, since initdb refuses root), one per session (so one per xdist
worker), unless PASSAGE_TEST_POSTGRES_URL names a server to use. Each test gets a fresh database: a file copy
of a migrated SQLite template, or `CREATE DATABASE ... TEMPLATE` of a migrated template database on PostgreSQL
(a file-level copy inside the server, tens of milliseconds). Templates with more in them (the demo people, a
module's demo records) are built once per session and store kind with `derived_template`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from passage.core.db import dispose_engines, get_engine, unit_of_work
from passage.core.schema import upgrade_database
from passage.core.settings import reset_settings_cache
from passage.security.crypto import reset_cipher

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_OS_USER = "passage_pg"


def _configure(data_dir: Path, url: str) -> None:
    os.environ["PASSAGE_ENVIRONMENT"] = "test"
    # the demo's synthetic registry is 100,000 people; tests load the demo often, and the identification
    # tests that need a registry set a small size themselves
    os.environ.setdefault("PASSAGE_DEMO_REGISTRY_SIZE", "0")
    # one blind-index key for every copied test store (the key file is not copied with the database)
    os.environ.setdefault("PASSAGE_BLIND_INDEX_KEY", "dGVzdC1ibGluZC1pbmRleC1rZXktMzItYnl0ZXMhISE=")
    os.environ["PASSAGE_DATA_DIR"] = str(data_dir)
    os.environ["PASSAGE_DATABASE_URL"] = url
    os.environ["PASSAGE_KEY_FILE"] = str(data_dir / "keys.json")
    # no background sealer in the suite: tests seal explicitly (`audit.seal_all`), so what they see is deterministic
    os.environ["PASSAGE_AUDIT_SEALER_THREAD"] = "false"
    os.environ.pop("PASSAGE_KEK", None)
    reset_settings_cache()
    dispose_engines()
    reset_cipher()
    from passage.security.blind_index import reset_keys

    reset_keys()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sqlite-template")
    url = f"sqlite:///{directory / 'passage.db'}"
    _configure(directory, url)
    upgrade_database(url=url)
    dispose_engines()
    return directory


class PostgresCluster:
    def __init__(self) -> None:
        self.run_as = PG_OS_USER if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="passage-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        # listen_addresses is empty: the port only names the socket file in this cluster's own directory, so
        # several clusters (one per xdist worker) never collide
        self.port = 5439

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if self.run_as:
            try:
                pwd.getpwnam(self.run_as)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", self.run_as], check=True)
            shutil.chown(self.root, user=self.run_as)
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C")
        options = f"-k {self.socket_dir} -c listen_addresses='' -p {self.port} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l", str(self.root / "log"), "start")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def stop(self) -> None:
        try:
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PostgresServer:
    admin_url: str
    template_db: str
    template_dir: Path

    def url_for(self, database: str) -> str:
        base, _, query = self.admin_url.partition("?")
        base = base.rsplit("/", 1)[0]
        return f"{base}/{database}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    given = os.environ.get("PASSAGE_TEST_POSTGRES_URL")
    cluster: PostgresCluster | None = None
    if given:
        admin_url = given
    else:
        if not (PG_BIN / "initdb").exists():
            pytest.skip("PostgreSQL 15 binaries are not installed")
        cluster = PostgresCluster()
        cluster.start()
        admin_url = cluster.url("postgres")
    template = f"passage_template_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{template}"'))
    template_dir = tmp_path_factory.mktemp("pg-template")
    server = PostgresServer(admin_url=admin_url, template_db=template, template_dir=template_dir)
    url = server.url_for(template)
    _configure(template_dir, url)
    upgrade_database(url=url)
    dispose_engines()
    try:
        yield server
    finally:
        dispose_engines()
        admin.dispose()
        if cluster is not None:
            cluster.stop()


def _fresh_sqlite(template: Path, tmp_path: Path) -> str:
    data_dir = tmp_path / f"var-{uuid.uuid4().hex[:8]}"
    data_dir.mkdir()
    shutil.copy(template / "passage.db", data_dir / "passage.db")
    shutil.copy(template / "keys.json", data_dir / "keys.json")
    url = f"sqlite:///{data_dir / 'passage.db'}"
    _configure(data_dir, url)
    return url


STORE_KINDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses a store on both kinds; browser and `sqlite_only` tests on SQLite alone."""
    if "store_kind" not in metafunc.fixturenames:
        return
    only_sqlite = metafunc.definition.get_closest_marker("browser") or metafunc.definition.get_closest_marker("sqlite_only")
    only_postgres = metafunc.definition.get_closest_marker("postgres_only")
    kinds = [] if only_postgres else [pytest.param("sqlite", id="sqlite")]
    if not only_sqlite:
        kinds.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))
    metafunc.parametrize("store_kind", kinds, indirect=True)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """`sqlite` or `postgresql`: which store this run of the test uses (parametrised by `pytest_generate_tests`)."""
    return str(getattr(request, "param", "sqlite"))


@dataclass(frozen=True)
class Template:
    """A migrated store to copy per test: a folder with `passage.db` and `keys.json`, or a PostgreSQL template
    database (its key file in `folder`)."""

    kind: str
    folder: Path
    database: str | None = None


_derived: dict[tuple[str, str], Template] = {}


def base_template(request: pytest.FixtureRequest, kind: str) -> Template:
    if kind == "sqlite":
        return Template("sqlite", request.getfixturevalue("sqlite_template"))
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return Template("postgresql", server.template_dir, server.template_db)


def derived_template(request: pytest.FixtureRequest, kind: str, name: str, parent: Template, build: Callable[[], None]) -> Template:
    """`parent` plus what `build` adds (run once per session and store kind, on the configured store)."""
    key = (kind, name)
    if key in _derived:
        return _derived[key]
    folder = request.getfixturevalue("tmp_path_factory").mktemp(f"{kind}-{name}")
    shutil.copy(parent.folder / "keys.json", folder / "keys.json")
    if kind == "sqlite":
        shutil.copy(parent.folder / "passage.db", folder / "passage.db")
        template = Template("sqlite", folder)
        _configure(folder, f"sqlite:///{folder / 'passage.db'}")
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        database = f"passage_{name}_{uuid.uuid4().hex[:8]}"
        _create_database(server, database, parent.database or server.template_db)
        template = Template("postgresql", folder, database)
        _configure(folder, server.url_for(database))
    try:
        build()
    finally:
        dispose_engines()
    _derived[key] = template
    return template


def _create_database(server: PostgresServer, name: str, template: str | None = None) -> None:
    """`CREATE DATABASE name` on the session's server, copied from `template` or empty."""
    admin = create_engine(server.admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    admin.dispose()


def empty_store_url(request: pytest.FixtureRequest, kind: str, directory: Path, *, prefix: str) -> str:
    """The URL of a new, empty (not migrated) store of `kind`: a SQLite file in `directory`, or a new database
    named `prefix_...` on the session's PostgreSQL server. For tests that migrate or restore into a store."""
    if kind == "sqlite":
        return f"sqlite:///{directory / 'passage.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _create_database(server, name)
    return server.url_for(name)


def fresh_store(request: pytest.FixtureRequest, template: Template, tmp_path: Path) -> str:
    """A new store copied from `template`, configured as *the* database of this test; returns its URL."""
    data_dir = tmp_path / f"var-{uuid.uuid4().hex[:8]}"
    data_dir.mkdir()
    shutil.copy(template.folder / "keys.json", data_dir / "keys.json")
    if template.kind == "sqlite":
        shutil.copy(template.folder / "passage.db", data_dir / "passage.db")
        url = f"sqlite:///{data_dir / 'passage.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = f"t_{uuid.uuid4().hex[:12]}"
        _create_database(server, name, template.database or server.template_db)
        url = server.url_for(name)
    _configure(data_dir, url)
    return url


@pytest.fixture
def store(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database configured as *the* database for this test, on SQLite and on PostgreSQL."""
    fresh_store(request, base_template(request, store_kind), tmp_path)
    yield get_engine()
    dispose_engines()


@pytest.fixture
def any_store(store: Engine) -> Engine:
    """The same test on SQLite and on PostgreSQL (every `store` is that now; kept for the tests that say so)."""
    return store


@pytest.fixture
def sqlite_store(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database alone, for tests about SQLite itself (its file, its locking)."""
    _fresh_sqlite(sqlite_template, tmp_path)
    yield get_engine()
    dispose_engines()


@pytest.fixture
def session(store: Engine) -> Iterator[Session]:
    with unit_of_work() as s:
        yield s


def totp_now(secret: str) -> str:
    """The current code of a demo secret. A code is accepted once only (RFC 6238 §5.2), and the suite signs
    the same demo user in many times within one 30-second step, so the user's last used step is forgotten
    first (in the database this test configured). Tests of the replay rule reuse one code instead."""
    _forget_used_step(secret)
    return pyotp.TOTP(secret).now()


def _forget_used_step(secret: str) -> None:
    from sqlalchemy import update

    from passage.security.demo import DEMO_USERS
    from passage.security.models import User

    usernames = [str(spec["username"]) for spec in DEMO_USERS if demo_secret(str(spec["username"])) == secret]
    if not usernames or not os.environ.get("PASSAGE_DATABASE_URL"):
        return
    try:
        with unit_of_work() as s:
            s.execute(update(User).where(User.username.in_(usernames)).values(totp_last_step=None))
    except Exception:  # noqa: BLE001,S110 - no migrated database configured for this test: nothing to forget
        pass


def demo_secret(username: str) -> str:
    return base64.b32encode(hashlib.sha256(f"passage-demo:{username}".encode()).digest()[:20]).decode()


def _people_ids() -> dict[str, str]:
    from sqlalchemy import select

    from passage.security.models import User

    with unit_of_work() as s:
        return {u.username: u.id for u in s.scalars(select(User))}


def _load_people() -> None:
    from passage.security.demo import _create_people

    with unit_of_work() as s:
        _create_people(s)


def people_template(request: pytest.FixtureRequest, kind: str) -> Template:
    """The migrated template plus the demo organisations and users (Argon2 hashing once per session and kind)."""
    return derived_template(request, kind, "people", base_template(request, kind), _load_people)


@pytest.fixture(scope="session")
def sqlite_people_template(request: pytest.FixtureRequest) -> Path:
    """The SQLite people template's folder (for fixtures that copy it by hand)."""
    return people_template(request, "sqlite").folder


@pytest.fixture
def demo_people(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A fresh store, SQLite or PostgreSQL, with the demo organisations and users; returns username -> user id."""
    fresh_store(request, people_template(request, store_kind), tmp_path)
    yield _people_ids()
    dispose_engines()


@pytest.fixture
def any_store_people(demo_people: dict[str, str]) -> dict[str, str]:
    """`any_store` with the demo organisations and users (the same as `demo_people`)."""
    return demo_people


@pytest.fixture
def app_client(demo_people: dict[str, str]) -> Iterator[object]:
    """A TestClient on a fresh store with the demo people."""
    from fastapi.testclient import TestClient

    from passage.core.app import create_app
    from passage.security.service import rate_limiter
    from tests.contract import ContractCheck

    rate_limiter.clear()
    app = create_app()
    with TestClient(app) as client:
        # every response of the suite is checked against the OpenAPI document (issue 20)
        client.event_hooks["response"].append(ContractCheck(app.openapi()).hook)
        yield client


def api_headers(client: object, username: str, password: str = "passage-demo-2026") -> dict[str, str]:
    """Sign in through the API as a demo user and return the bearer header."""
    from passage.security.demo import DEMO_USERS

    needs_code = any(spec["username"] == username and spec["totp"] for spec in DEMO_USERS)
    body = {"username": username, "password": password}
    if needs_code:
        body["totp_code"] = totp_now(demo_secret(username))
    response = client.post("/api/v1/auth/token", json=body)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


class LiveServer:
    """Uvicorn serving the real application in a background thread on a free loopback port."""

    def __init__(self) -> None:
        import socket
        import threading

        import uvicorn

        from passage.core.app import create_app

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(), host="127.0.0.1", port=self.port, log_level="warning", workers=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        import httpx

        self.thread.start()
        for _ in range(200):
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the test server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(demo_people: dict[str, str]) -> Iterator[LiveServer]:
    from passage.security.service import rate_limiter

    rate_limiter.clear()
    with LiveServer() as server:
        yield server


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (Playwright's own browser download is not possible here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run `make system-deps` (as root) or `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: object, live_server: LiveServer) -> Iterator[object]:
    """A fresh browser context (no cookies) on the live server; `page.base_url` is the server's address."""
    context = chromium.new_context(base_url=live_server.url, locale="en-GB")  # type: ignore[attr-defined]
    browser_page = context.new_page()
    browser_page.set_default_timeout(15000)
    yield browser_page
    context.close()


def browser_sign_in(page: object, username: str, password: str = "passage-demo-2026") -> None:
    """Sign in through the real pages, typing the current TOTP code where the role needs one."""
    from passage.security.demo import DEMO_USERS

    page.goto("/login")  # type: ignore[attr-defined]
    page.get_by_label("Username").fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Continue").click()  # type: ignore[attr-defined]
    if any(spec["username"] == username and spec["totp"] for spec in DEMO_USERS):
        page.get_by_label("Code").fill(totp_now(demo_secret(username)))  # type: ignore[attr-defined]
        page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.wait_for_url("**/")  # type: ignore[attr-defined]
