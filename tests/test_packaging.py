"""The package as PyPI gets it: metadata, README, and the built wheel in a fresh venv.

The last test builds the sdist and, from it, the wheel (``python -m build``), checks both
with ``twine check --strict``, installs the wheel into a new virtual environment (its
dependencies from the package index, at the versions this environment runs), and then
follows the README's Quickstart there: a ``startproject`` site with the README's own
``views.py`` and ``urls.py``, served by the README's uvicorn command.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import shlex
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib
from trove_classifiers import classifiers as known_classifiers
from websockets.sync.client import connect

from .conftest import ROOT, free_port

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
README = (ROOT / "README.md").read_text()
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REPOSITORY = "https://github.com/django-websocket-views/django-websocket-views"


def test_classifiers_exist_and_name_every_django_ci_tests() -> None:
    tested = set(re.findall(r"\bDJANGO=(\d+\.\d+)\b", (ROOT / ".ci/run").read_text()))
    assert tested  # .ci/run names the series it tests
    classifiers = PROJECT["classifiers"]
    for series in tested:
        assert f"Framework :: Django :: {series}" in classifiers
    assert set(classifiers) <= known_classifiers  # PyPI refuses unknown ones


def test_license_and_urls_are_declared() -> None:
    assert PROJECT["license"] == "BSD-3-Clause"
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text()
    urls = PROJECT["urls"]
    assert {"Homepage", "Documentation", "Repository", "Issues", "Changelog"} <= set(urls)
    assert all(url.startswith(REPOSITORY) for url in urls.values())


def test_readme_links_are_absolute_so_they_work_on_pypi() -> None:
    links = re.findall(r"\]\(([^)]+)\)", README)
    assert links
    relative = [link for link in links if not link.startswith("https://")]
    assert relative == []
    for link in links:
        if link.startswith(f"{REPOSITORY}/blob/main/"):
            path = link.removeprefix(f"{REPOSITORY}/blob/main/").split("#")[0]
            assert (ROOT / path).is_file(), link


def test_docs_name_only_extras_that_exist() -> None:
    extras = set(PROJECT["optional-dependencies"])
    for page in DOCS:
        text = page.read_text()
        for named in re.findall(r"django-websocket-views\[([^\]]+)\]", text):
            assert set(named.split(",")) <= extras, (page.name, named)
        assert "the one tested today" not in text, page.name


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel built from it, as ``python -m build`` makes them."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return out


def test_the_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    files = sorted(str(path) for path in dist.iterdir())
    assert len(files) == 2  # the sdist and the wheel
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_wheel_holds_the_licence_the_types_and_the_browser_client(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    for shipped in ("py.typed", "static/django_websocket/client.js", "patch.py"):
        assert f"django_websocket/{shipped}" in names
    assert not any(name.startswith(("tests/", "example/", "benchmarks/")) for name in names)
    assert "License-Expression: BSD-3-Clause" in metadata
    assert f"Project-URL: Documentation, {REPOSITORY}/tree/main/docs" in metadata
    assert "Description-Content-Type: text/markdown" in metadata


def readme_file(name: str) -> str:
    """The README's code block that is the whole file ``name`` (its first line names it)."""
    for block in re.findall(r"```python\n(.*?)```", README, re.S):
        if block.startswith(f"# {name}:"):
            return str(block)
    raise AssertionError(f"the README has no block for {name}")


def readme_command(program: str) -> list[str]:
    """The README's shell command that starts with ``program``, continuations joined."""
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            if line.startswith(program + " "):
                return shlex.split(line)
    raise AssertionError(f"the README has no {program} command")


@contextlib.contextmanager
def running(command: list[str], cwd: Path, env: dict[str, str], port: int) -> Iterator[Path]:
    log_path = cwd / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield log_path
    finally:
        process.terminate()
        process.wait(20)


def test_the_wheel_in_a_fresh_venv_serves_the_readme_quickstart(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python, bin_dir = env_dir / "bin/python", env_dir / "bin"
    # The dependencies at this environment's versions, so the Django series is CI's.
    pinned = [
        f"{name}=={importlib.metadata.version(name)}"
        for name in ("Django", "asgiref", "uvicorn", "websockets")
    ]
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         str(wheel), *pinned],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    clean = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")
    }
    where = subprocess.run(
        [str(python), "-c", "import django_websocket, django_websocket.asgi, "
         "django_websocket.wsgi; print(django_websocket.__file__)"],
        cwd=tmp_path, env=clean, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(env_dir)  # the installed wheel, not this checkout

    # The Quickstart, as a newcomer follows it.
    site = tmp_path / "site"
    site.mkdir()
    subprocess.run(
        [str(bin_dir / "django-admin"), "startproject", "mysite", "."],
        cwd=site, env=clean, check=True, capture_output=True,
    )  # fmt: skip
    settings = site / "mysite/settings.py"
    text = settings.read_text()
    assert "INSTALLED_APPS = [\n" in text
    settings.write_text(
        text.replace("INSTALLED_APPS = [\n", 'INSTALLED_APPS = [\n    "django_websocket",\n', 1)
    )
    for name in ("mysite/views.py", "mysite/urls.py"):
        (site / name).write_text(textwrap.dedent(readme_file(name)))
    checked = subprocess.run(
        [str(python), "manage.py", "check"], cwd=site, env=clean, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    command = readme_command("uvicorn")
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    command[0] = str(bin_dir / "uvicorn")  # startproject's asgi.py, unchanged
    with running(command, site, clean, port) as log:
        with connect(f"ws://127.0.0.1:{port}/echo_once/", open_timeout=20) as ws:
            ws.send("Hello, World")
            assert ws.recv(timeout=10) == "Hello, World"
        with connect(f"ws://127.0.0.1:{port}/async_echo/", open_timeout=20) as ws:
            ws.send(b"\x00bytes")
            assert ws.recv(timeout=10) == b"\x00bytes"
        url = f"http://127.0.0.1:{port}/lower_case/?message=ShOuT"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == b"shout"
    assert "Traceback" not in log.read_text()
