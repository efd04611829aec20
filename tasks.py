#!/usr/bin/env python3
"""Set-up and everyday commands; needs nothing but Python >= 3.10.

    python3 tasks.py example   # the example site on http://127.0.0.1:8000/ (manage.py runserver)
    python3 tasks.py manage ARGS  # the example's manage.py (createsuperuser, shell, ...)
    python3 tasks.py test      # lint, type-check and run the whole test suite
    python3 tasks.py bench     # run the echo benchmark (--loop uvloop: on uvicorn[standard])
    python3 tasks.py bench --peers  # every peer, side by side (benchmarks/peers.py; --check)
    python3 tasks.py conformance  # the Autobahn TestSuite (--full: every case everywhere)

Each command first makes (or reuses) a virtual environment in .venv and installs the
project into it. ``DJANGO`` picks the Django series (``DJANGO=6.1 python3 tasks.py test``);
``VENV`` names another environment folder. ``bench --peers`` (and ``bench --loop uvloop``)
use two benchmark-only environments instead, with the peers the library is compared with:
``.venv-peers`` (this Python) and ``.venv-bolt`` (django-bolt needs Python >= 3.12, found
with pyenv or on PATH); the peers are never dependencies of the library.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent

# The benchmark-only environments of ``bench --peers``: what each installs.
PEER_REQUIREMENTS = [
    "-e", ".[bench,redis]",
    "uvicorn[standard]",  # uvloop and httptools: the second loop of every run
    "channels~=4.3.0", "channels-redis~=4.3.0", "daphne>=4.2",
    "django-socket~=0.3.0",
    "flask>=3", "flask-sock>=0.7", "gunicorn>=23", "gevent>=24.2",
    "matplotlib>=3.8",
]  # fmt: skip
BOLT_REQUIREMENTS = ["django-bolt~=0.13.0"]
BOLT_PYTHONS = ("3.13", "3.12")  # the newest first


def _venv() -> Path:
    folder = ROOT / os.environ.get("VENV", ".venv")
    python = folder / "bin" / "python"
    stamp = folder / ".installed"
    wanted = (
        f"{sys.version}|{os.environ.get('DJANGO', '')}|{(ROOT / 'pyproject.toml').stat().st_mtime}"
    )
    if not python.exists():
        print(f"creating {folder.name} with Python {sys.version.split()[0]}", flush=True)
        venv.EnvBuilder(with_pip=True).create(folder)
    if not stamp.exists() or stamp.read_text() != wanted:
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        django = os.environ.get("DJANGO")
        extra = [f"Django~={django}.0"] if django else []
        subprocess.run([*pip, "-e", ".[dev,bench,conformance]", *extra], cwd=ROOT, check=True)
        stamp.write_text(wanted)
    return python


def _environment(folder: Path, python: str, requirements: list[str]) -> Path:
    """Make (or reuse) the virtual environment ``folder`` with ``requirements``."""
    target = folder / "bin" / "python"
    stamp = folder / ".installed"
    wanted = f"{python}|{requirements}|{(ROOT / 'pyproject.toml').stat().st_mtime}"
    if stamp.exists() and stamp.read_text().split("|")[0] != python:
        shutil.rmtree(folder)  # made with another Python
    if not target.exists():
        print(f"creating {folder.name} with {python}", flush=True)
        subprocess.run([python, "-m", "venv", str(folder)], check=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        pip = [str(target), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *requirements], cwd=ROOT, check=True)
        stamp.write_text(wanted)
    return target


def _python_at_least_312() -> str | None:
    """A CPython >= 3.12: pyenv's newest of ``BOLT_PYTHONS``, or one on PATH."""
    if sys.version_info >= (3, 12):
        return sys.executable
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for series in BOLT_PYTHONS:
        found = sorted(versions.glob(f"{series}.*/bin/python"), key=lambda p: p.parent.parent.name)
        if found:
            return str(found[-1])
        if on_path := shutil.which(f"python{series}"):
            return on_path
    return None


def _peer_venvs() -> Path:
    """Make ``.venv-peers`` and, where a Python >= 3.12 is found, ``.venv-bolt``."""
    python = _environment(ROOT / ".venv-peers", sys.executable, PEER_REQUIREMENTS)
    bolt = _python_at_least_312()
    if bolt is None:
        print("no Python >= 3.12 found: django-bolt is skipped", flush=True)
    else:
        _environment(ROOT / ".venv-bolt", bolt, BOLT_REQUIREMENTS)
    return python


def _run(*args: str, env: dict[str, str] | None = None) -> None:
    try:
        result = subprocess.run(args, cwd=ROOT, env={**os.environ, **(env or {})})
    except KeyboardInterrupt:  # Ctrl+C stops the server: not an error
        sys.exit(130)
    if result.returncode:
        sys.exit(result.returncode)


def test(args: list[str]) -> None:
    python = str(_venv())
    _run(python, "-m", "ruff", "check", ".")
    _run(python, "-m", "ruff", "format", "--check", ".")
    _run(python, "-m", "mypy")
    _run(python, "-m", "pytest", *args)


def example(args: list[str]) -> None:
    python = str(_venv())
    _run(python, "example/manage.py", "migrate", "--noinput")
    _run(python, "example/manage.py", "runserver", *(args or ["127.0.0.1:8000"]))


def manage(args: list[str]) -> None:
    """Run the example site's ``manage.py`` with ``args`` in the project's environment.

    The database is migrated first, so ``createsuperuser`` works on a fresh clone.
    """
    python, env = str(_venv()), {"DJANGO_SETTINGS_MODULE": "example.settings"}
    if args[:1] != ["migrate"]:
        _run(python, "example/manage.py", "migrate", "--noinput", "-v", "0", env=env)
    _run(python, "example/manage.py", *args, env=env)


def bench(args: list[str]) -> None:
    if "--peers" in args:
        rest = [arg for arg in args if arg != "--peers"]
        _run(str(_peer_venvs()), "benchmarks/peers.py", *rest)
    elif "uvloop" in args:  # --loop uvloop: uvloop and httptools live in .venv-peers
        _run(str(_peer_venvs()), "benchmarks/echo.py", *args)
    else:
        _run(str(_venv()), "benchmarks/echo.py", *args)


def conformance(args: list[str]) -> None:
    _run(str(_venv()), "conformance/run.py", *args)


COMMANDS = {
    "test": test,
    "example": example,
    "manage": manage,
    "bench": bench,
    "conformance": conformance,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
