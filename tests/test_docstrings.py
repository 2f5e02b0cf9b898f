"""Every ``>>>`` example in the package's docstrings runs and shows what it prints.

Examples that need a trained run, a GPU, a download or minutes of work are written as plain
code blocks instead, without prompts; the last test keeps any prompt from hiding where
doctest does not look.
"""

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import sgns

SRC = Path(sgns.__file__).parent
MODULES = sorted(m.name for m in pkgutil.walk_packages(sgns.__path__, "sgns."))
FINDER = doctest.DocTestFinder(exclude_empty=True)


def examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    # Only the module's own objects: not what it imports from elsewhere.
    return [test for test in FINDER.find(module, name) if test.examples]


WITH_EXAMPLES = [name for name in MODULES if examples(name)]


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write their files into the working folder
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    for test in examples(name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
    assert runner.tries > 0


def test_every_prompt_in_the_source_is_a_doctest_example():
    prompts = {
        str(path.relative_to(SRC)): len(re.findall(r"^\s*>>> ", path.read_text(), re.MULTILINE))
        for path in SRC.rglob("*.py")
    }
    found = {}
    for name in MODULES:
        path = importlib.import_module(name).__file__
        found[str(Path(path).relative_to(SRC))] = sum(len(t.examples) for t in examples(name))
    assert {k: v for k, v in found.items() if v} == {k: v for k, v in prompts.items() if v}
    assert set(WITH_EXAMPLES) >= {"sgns.io", "sgns.eval.vectors", "sgns.eval.neighbors"}
