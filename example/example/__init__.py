"""The example site of django_websocket: ``python3 tasks.py example``."""
