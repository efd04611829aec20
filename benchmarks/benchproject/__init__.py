"""The Django project the echo benchmark serves (see ``benchmarks/README.md``)."""
