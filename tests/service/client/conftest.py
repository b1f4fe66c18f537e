"""Both services in-process on a database of their own, and a fresh virtual environment
holding only the blog-client wheel that `make client-wheel` built, with its dependencies."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from article_service import server as article_server
from article_service.config import Settings as ArticleSettings
from auth_service import keys as auth_keys
from auth_service import server as auth_server
from devstack import migrate
from tests.conftest import Database, in_process_auth_settings, start_database

ROOT = Path(__file__).resolve().parents[3]


async def run(*argv: str, cwd: Path = ROOT) -> str:
    """A command's standard output; its whole output in the failure when it fails. Not
    subprocess.run: the servers under test answer on this event loop meanwhile."""
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, f"{argv} failed:\n{out.decode()}\n{err.decode()}"
    return out.decode()


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A cluster of these tests' own: the article server's feed consumer holds one advisory
    lock per database, which the article tests' server must keep on the shared one."""
    yield from start_database(tmp_path_factory)


@pytest.fixture(scope="session")
async def services(database: Database, tmp_path_factory) -> AsyncIterator[tuple[str, str]]:
    """The auth and article servers, migrated, on port 0; yields their addresses."""
    for service in migrate.SERVICES:  # one after the other: Alembic's context is global
        await asyncio.to_thread(migrate.upgrade, service, database.urls[service])
    keys_dir = Path(tmp_path_factory.mktemp("client-keys"))
    auth_keys.ensure_key(keys_dir)
    async with contextlib.AsyncExitStack() as stack:
        auth_settings = in_process_auth_settings(database.urls["auth"], keys_dir)
        auth = await stack.enter_async_context(auth_server.running(auth_settings))
        auth_address = f"127.0.0.1:{auth.port}"
        articles_settings = ArticleSettings(
            database_url=database.urls["articles"],  # type: ignore[arg-type]
            port=0,
            worker_base_port=0,
            workers=1,
            auth_address=auth_address,
            shutdown_grace_seconds=0.5,
        )
        articles = await stack.enter_async_context(article_server.running(articles_settings))
        yield auth_address, f"127.0.0.1:{articles.port}"


@pytest.fixture(scope="session")
async def client_python(tmp_path_factory) -> Path:
    """The python of a new virtual environment where the built wheel is all of the project."""
    folder = Path(tmp_path_factory.mktemp("client"))
    wheels = folder / "wheels"
    # -o: the suite already runs inside the project's venv; make must not reinstall it.
    await run("make", "-s", "-o", ".venv/.installed", "client-wheel", f"CLIENT_WHEELS={wheels}")
    (wheel,) = wheels.glob("blog_client-*.whl")
    venv = folder / "venv"
    # No pip of its own (faster); this venv's pip installs into it. The dependencies are
    # the versions make installs here, so they come from pip's cache.
    await run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet")
    # [typing]: the stubs mypy needs besides the wheel's own, for the typed-use test.
    await run(*pip, "--constraint", str(ROOT / "requirements.lock"), f"{wheel}[typing]")
    return python
