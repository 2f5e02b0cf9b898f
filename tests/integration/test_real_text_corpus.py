"""scripts/bench/real_text_corpus.py: prose from docstrings, documentation and manual pages,
once each."""

from conftest import import_script

MODULE = '''"""The module reads the configuration of every plugin before it starts.

>>> load("example")
"""


def count():
    """Return the number of apples that were counted
    in the basket today."""
    return "a string that is no docstring at all, however long it is"
'''
PAGE = (
    "<html><style>p { color: red }</style><p>The quick brown fox jumps over the &amp; lazy"
    " dog</p><pre>let answer = compute(1, 2);</pre><li>Another line of prose, long enough to"
    " keep</li></html>"
)
MAN_PAGE = (
    ".TH LS 1\n.SH NAME\nls \\- list directory contents\n.SH DESCRIPTION\n.PP\n"
    "List information about the \\fBFILEs\\fR (the current directory\nby default).\n"
)
MARKDOWN = "# Title\n\nThis paragraph spans\ntwo lines of ordinary prose.\n\n| a | b |\n|---|---|\n"


def corpus_script(*args: str, capsys) -> tuple[int, str, str]:
    """scripts/bench/real_text_corpus.py's main, in this process: exit status, stdout, stderr."""
    status = import_script("bench/real_text_corpus").main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_collects_prose_once_and_skips_code(tmp_path, capsys):
    docs = tmp_path / "docs"
    (docs / "pkg").mkdir(parents=True)
    (docs / "pkg" / "mod.py").write_text(MODULE)
    (docs / "page.html").write_text(PAGE)
    (docs / "README.md").write_text(MARKDOWN)
    (docs / "pkg" / "README.md").write_text(MARKDOWN)  # a vendored copy
    (docs / "man1").mkdir()
    (docs / "man1" / "ls.1").write_text(MAN_PAGE)
    out = tmp_path / "corpus.txt"
    status, stdout, stderr = corpus_script(str(out), "--root", str(docs), capsys=capsys)
    assert status == 0, stderr
    lines = out.read_text().splitlines()
    assert sorted(lines) == sorted([
        "The module reads the configuration of every plugin before it starts.",
        "Return the number of apples that were counted in the basket today.",
        "The quick brown fox jumps over the & lazy dog",
        "Another line of prose, long enough to keep",
        "This paragraph spans two lines of ordinary prose.",
        "ls - list directory contents",
        "List information about the FILEs (the current directory by default).",
    ])  # fmt: skip
    assert stdout.strip() == f"{sum(len(x.split()) for x in lines)} tokens in {out}"


def test_too_few_tokens_is_a_one_line_error_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("Just one short paragraph of words here.\n")
    out = tmp_path / "corpus.txt"
    args = [str(out), "--root", str(tmp_path / "docs"), "--min-tokens", "1000"]
    status, _, stderr = corpus_script(*args, capsys=capsys)
    assert status == 2
    assert stderr.strip() == "error: found 7 tokens, fewer than --min-tokens 1000"
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "docs"]
