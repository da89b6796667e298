"""The programs behind ``tools/benchmark.py`` (one module per subcommand) and, in ``reference/``, the
reference-style baselines they time hrpose against.

Not part of the installed ``hrpose`` package: ``tools/benchmark.py`` loads this folder by its location.
Everything here uses the library through its public API; nothing in ``hrpose`` imports it.
"""
