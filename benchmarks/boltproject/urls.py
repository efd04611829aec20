"""No Django URLs: ``runbolt`` discovers ``boltproject.api``."""

urlpatterns: list[object] = []
