"""The Django project the Autobahn TestSuite runs against (see ``docs/conformance.md``)."""
