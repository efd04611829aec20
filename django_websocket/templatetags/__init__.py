"""Template tags of django_websocket: ``{% load websocket %}``."""
