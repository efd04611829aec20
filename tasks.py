#!/usr/bin/env python3
"""Set-up and everyday commands; needs nothing but Python >= 3.10.

    python3 tasks.py example   # the example site on http://127.0.0.1:8000/ (manage.py runserver)
    python3 tasks.py manage ARGS  # the example's manage.py (createsuperuser, shell, ...)
    python3 tasks.py test      # lint, type-check and run the whole test suite
    python3 tasks.py bench     # run the echo benchmark
    python3 tasks.py conformance  # the Autobahn TestSuite (--full: every case everywhere)

Each command first makes (or reuses) a virtual environment in .venv and installs the
project into it. ``DJANGO`` picks the Django series (``DJANGO=6.1 python3 tasks.py test``);
``VENV`` names another environment folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent


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
    """Run the example site's ``manage.py`` with ``args`` in the project's environment."""
    _run(
        str(_venv()), "example/manage.py", *args, env={"DJANGO_SETTINGS_MODULE": "example.settings"}
    )


def bench(args: list[str]) -> None:
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
