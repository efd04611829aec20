#!/usr/bin/env python
"""``manage.py`` of the conformance project: ``runserver`` serves the echo views."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    sys.path[:0] = [str(HERE), str(HERE.parent / "benchmarks")]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autobahnproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
