"""A package, so that tests/eval/conftest.py is not imported as the top-level `conftest`
that other tests import helpers from."""
