"""End to end: the example site under uvicorn, driven by a real headless Chromium.

Starts ``example/`` as ``python3 tasks.py example`` does (migrate, then uvicorn with
``--ws websockets-sansio``) on a temporary database and a free loopback port, and clicks
through the page at ``/``. Needs Debian's ``chromium`` at /usr/bin/chromium and the
``playwright`` Python package (never ``playwright install``: the system browser is used).
Without them the tests skip, except with ``CI=true``, where they fail.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

from .conftest import ROOT, Server, run_uvicorn

EXAMPLE = ROOT / "example"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERNAME, PASSWORD = "alice", "example-password-1"
TIMEOUT_MS = 30_000  # generous: CI machines can be slow


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail under CI, where the browser is supposed to be installed."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


def example_env(tmp: Path) -> dict[str, str]:
    """The environment the example site runs in, with its database in ``tmp``."""
    return {
        **os.environ,
        # pytest-django exported the test project's settings; use the example's.
        "DJANGO_SETTINGS_MODULE": "example.settings",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(EXAMPLE), str(ROOT), os.environ.get("PYTHONPATH")])
        ),
        "EXAMPLE_DATABASE_NAME": str(tmp / "db.sqlite3"),
        "DJANGO_SUPERUSER_USERNAME": USERNAME,
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        "DJANGO_SUPERUSER_EMAIL": "alice@example.com",
    }


def prepare_example(env: dict[str, str]) -> None:
    """Migrate the example's database and create its superuser."""
    manage = [sys.executable, str(EXAMPLE / "manage.py")]
    for command in (["migrate", "--noinput"], ["createsuperuser", "--noinput"]):
        subprocess.run(
            [*manage, *command], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120
        )


def run_example(
    env: dict[str, str], log_path: Path, *, port: int | None = None
) -> contextlib.AbstractContextManager[Server]:
    """Serve the example site under uvicorn until exit; ``port`` as in ``run_server``."""
    return run_uvicorn("example.asgi:application", env, log_path, "--app-dir", "example", port=port)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run the example site; yield its base URL."""
    tmp = tmp_path_factory.mktemp("example")
    env = example_env(tmp)
    prepare_example(env)
    with run_example(env, tmp / "uvicorn.log") as server:
        yield server.http


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium: Debian's, driven by Playwright."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing: pip install playwright")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, site: str) -> Iterator[Any]:
    """A fresh page (own cookies) on the example site."""
    context = browser.new_context(base_url=site)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def _entry(page: Any, view: str, kind: str) -> Any:
    # One line of the page's log, as index.html writes them.
    return page.locator(f'#log li[data-view="{view}"][data-kind="{kind}"]')


def test_echo_views_reply_in_the_page(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    page.fill("#message", "Hello From Chromium")
    page.click("#send-echo-once")
    page.click("#send-lower-case")
    page.click("#send-async-echo")

    # The README's echo_once: one reply, then the view returns and the server closes.
    expect(_entry(page, "echo_once", "message")).to_have_attribute(
        "data-text", "Hello From Chromium", timeout=TIMEOUT_MS
    )
    expect(_entry(page, "echo_once", "close")).to_have_attribute(
        "data-text", "closed, code 1000", timeout=TIMEOUT_MS
    )
    # The README's lower_case, and the async view.
    expect(_entry(page, "lower_case", "message")).to_have_attribute(
        "data-text", "hello from chromium", timeout=TIMEOUT_MS
    )
    expect(_entry(page, "async_echo", "message")).to_have_attribute(
        "data-text", "Hello From Chromium", timeout=TIMEOUT_MS
    )

    # A second message on the sockets that stay open.
    page.fill("#message", "Second MESSAGE")
    page.click("#send-lower-case")
    page.click("#send-async-echo")
    expect(_entry(page, "lower_case", "message").nth(1)).to_have_attribute(
        "data-text", "second message", timeout=TIMEOUT_MS
    )
    expect(_entry(page, "async_echo", "message").nth(1)).to_have_attribute(
        "data-text", "Second MESSAGE", timeout=TIMEOUT_MS
    )

    # Closing from the browser ends both views' loops: a clean 1000 each.
    page.click("#close-all")
    for view in ("lower_case", "async_echo"):
        expect(_entry(page, view, "close")).to_have_attribute(
            "data-text", "closed, code 1000 bye", timeout=TIMEOUT_MS
        )


def test_index_greets_an_anonymous_visitor_politely_then_answers_after_login(page: Any) -> None:
    from playwright.sync_api import expect

    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(urlsplit(socket.url).path))
    page.goto("/")
    # The login-protected demo says what it needs instead of trying and failing in red.
    whoami = page.locator("#whoami")
    expect(whoami).to_have_class("needs-login")
    expect(whoami).to_contain_text("answers logged-in users only: log in")
    expect(page.locator("body")).not_to_contain_text("Denied")
    assert "/whoami/" not in sockets
    expect(page.locator("#log li")).to_have_count(0)

    page.click("#login")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("#submit")
    page.wait_for_url(lambda url: urlsplit(url).path == "/")  # back from /login/
    expect(whoami).to_have_text(f'You are "{USERNAME}".', timeout=TIMEOUT_MS)
    assert "/whoami/" in sockets


def test_index_hint_makes_a_user_as_written(page: Any, tmp_path: Path) -> None:
    page.goto("/")
    hint = page.locator("code", has_text="createsuperuser").text_content()
    python, *arguments = shlex.split(hint)
    assert python in ("python", "python3")
    # As a newcomer runs it: the interpreter without the project's packages, in a shell
    # with no Django settings, from the repository's folder.
    base_python = getattr(sys, "_base_executable", None) or str(
        Path(sys.base_prefix) / "bin/python3"
    )
    database = tmp_path / "db.sqlite3"  # a fresh clone's: not migrated yet
    shell = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")
    }
    shell.update(
        EXAMPLE_DATABASE_NAME=str(database),
        VENV=os.path.relpath(sys.prefix, ROOT),  # the environment running these tests
        DJANGO_SUPERUSER_USERNAME="bob",
        DJANGO_SUPERUSER_PASSWORD="hint-password-1",
        DJANGO_SUPERUSER_EMAIL="bob@example.com",
    )
    made = subprocess.run(
        [base_python, *arguments, "--noinput"],
        cwd=ROOT, env=shell, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    with contextlib.closing(sqlite3.connect(database)) as db:
        users = db.execute("SELECT username FROM auth_user WHERE is_superuser").fetchall()
    assert users == [("bob",)]


def test_lower_case_answers_plain_http(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    page.click("#lower-case-http")
    expect(page.locator("body")).to_have_text("hello from http", timeout=TIMEOUT_MS)
