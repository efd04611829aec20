"""The django-bolt project of ``peers.py``: ``api.py`` beside ``settings.py``, for ``runbolt``.

Runs in its own virtual environment (django-bolt 0.13 needs Python >= 3.12); it is not a
dependency of this project.
"""
