"""The django-socket project of ``peers.py``: a Django app whose ``sockets.py`` it discovers.

Imported only where django-socket is installed (it is not a dependency of this project).
"""
