"""The layers of the package (pyproject.toml, [tool.importlinter]) hold: no module imports from
a layer above its own, and no two modules of one package import each other, even indirectly.
`make lint` checks the same contracts; here they run in every `make test`, as CI runs it."""

import sys

from conftest import ROOT


def test_the_import_contracts_hold(monkeypatch, capsys):
    from importlinter.cli import lint_imports

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))  # lint_imports prepends the folder
    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    report = capsys.readouterr().out
    assert status == 0, report
    assert "Contracts: 2 kept, 0 broken." in report
