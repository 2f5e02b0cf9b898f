"""docs/reliability.md names a test for every fault and input; those tests must exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"


def test_every_test_the_document_names_exists():
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", DOC.read_text())
    assert len(named) > 40
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.MULTILINE)
    ]
    assert missing == []


def test_every_row_of_the_fault_tables_names_a_test():
    tables, table = [], []
    for line in DOC.read_text().splitlines() + [""]:
        if line.startswith("|"):
            table.append(line)
        elif table:
            tables.append(table)
            table = []
    fault_tables = [t for t in tables if t[0].rstrip().endswith("| Test |")]
    assert len(fault_tables) >= 4
    rows = [row for t in fault_tables for row in t[2:]]  # past header and separator
    assert [row for row in rows if "`tests/" not in row] == []
