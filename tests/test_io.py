"""sgns.io: atomic writes keep the old file on failure; one checkpoint loader, one wording."""

import pickle
import re
from pathlib import Path

import pytest
import torch

from sgns.errors import DataError
from sgns.eval.vectors import load_vectors_from_checkpoint
from sgns.io import atomic_path, atomic_write, atomic_write_text, load_checkpoint
from sgns.run.resume import check_resume


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "notes.txt"
    atomic_write_text(path, "first\n")
    atomic_write_text(path, "second: é\n")
    assert path.read_bytes() == "second: é\n".encode()
    with atomic_write(path, "wb") as f:
        f.write(b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert files_in(tmp_path) == ["notes.txt"]


def write_half_then_fail(path: Path, mode: str, seen: list[str]) -> None:
    """Write half of a file, note the folder's contents, then fail as a full disk does."""
    with atomic_write(path, mode) as f:
        f.write("half of the new" if mode == "w" else b"half of the new")
        f.flush()  # the half really is on disk under the temporary name
        seen.extend(files_in(path.parent))
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("mode", ["w", "wb"])
def test_failing_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, mode):
    path = tmp_path / "notes.txt"
    path.write_text("old\n")
    seen = []
    with pytest.raises(OSError, match="No space left"):
        write_half_then_fail(path, mode, seen)
    assert len(seen) == 2  # the temporary existed while writing
    assert path.read_text() == "old\n"
    assert files_in(tmp_path) == ["notes.txt"]


def interrupt_while_writing(path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"torn")
        raise KeyboardInterrupt  # not only Exceptions: Ctrl-C mid-write too


def test_failing_first_write_leaves_no_file_at_all(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        interrupt_while_writing(tmp_path / "vectors.bin")
    assert files_in(tmp_path) == []


def test_writer_that_names_the_file_itself_gets_a_hidden_path_beside_the_target(tmp_path):
    with atomic_path(tmp_path / "plot.png") as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".plot.png.tmp-")
        tmp.write_bytes(b"png")
    assert (tmp_path / "plot.png").read_bytes() == b"png"
    assert files_in(tmp_path) == ["plot.png"]


def open_and_close(path: Path, mode: str) -> None:
    with atomic_write(path, mode):
        pass


def test_modes_other_than_write_are_refused(tmp_path):
    for mode in ("a", "r", "w+"):
        with pytest.raises(ValueError, match=rf"^mode='{re.escape(mode)}' is not one of: w, wb$"):
            open_and_close(tmp_path / "x", mode)
    assert files_in(tmp_path) == []


class Payload:
    """Unpickling this runs code: it would create the file `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def malicious_checkpoint(tmp_path) -> Path:
    path = tmp_path / "evil.ckpt"
    weights = torch.zeros(2, 2)
    state = {"model.in_embed.weight": weights, "model.out_embed.weight": weights}
    torch.save({"state_dict": state, "vocab": Payload(tmp_path / "code-ran")}, path)
    return path


REFUSAL = (
    "refused to load {path}: it holds objects other than tensors and plain data ({reason}); "
    "it was not written by sgns or has been altered"
)


@pytest.mark.parametrize(
    "load",
    [
        load_checkpoint,
        load_vectors_from_checkpoint,
        lambda path: check_resume(path, {}, ["a", "b"]),
    ],
    ids=["io.load_checkpoint", "checkpoint.load_vectors_from_checkpoint", "resume.check_resume"],
)
def test_every_checkpoint_reader_refuses_code_in_the_same_words(malicious_checkpoint, load):
    expected = re.escape(REFUSAL.format(path=malicious_checkpoint, reason="@")).replace("@", ".+")
    with pytest.raises(DataError, match=f"^{expected}$") as err:
        load(malicious_checkpoint)
    assert "\n" not in str(err.value)
    assert not (malicious_checkpoint.parent / "code-ran").exists()


def test_plain_pickle_is_refused_in_the_same_words(tmp_path):
    path = tmp_path / "evil.ckpt"
    content = {"state_dict": {}, "extra": Payload(tmp_path / "code-ran")}
    path.write_bytes(pickle.dumps(content, protocol=2))  # torch's format before 1.6
    with pytest.raises(DataError, match=rf"^refused to load {re.escape(str(path))}: it holds "):
        load_checkpoint(path)
    assert not (tmp_path / "code-ran").exists()


def test_missing_unreadable_and_foreign_checkpoints_are_one_line_data_errors(tmp_path):
    missing = tmp_path / "nope.ckpt"
    with pytest.raises(DataError, match=f"^checkpoint not found: {re.escape(str(missing))}$"):
        load_checkpoint(missing)
    garbage = tmp_path / "garbage.ckpt"
    for content in (b"not a checkpoint at all", b"", b"PK\x03\x04 torn"):
        garbage.write_bytes(content)
        with pytest.raises(DataError, match=f"^cannot read checkpoint {re.escape(str(garbage))}: "):
            load_checkpoint(garbage)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(DataError, match=r"foreign.ckpt is not a training checkpoint \(no state"):
        load_checkpoint(foreign)


def test_checkpoint_tensors_are_loaded_exactly(tmp_path):
    path = tmp_path / "last.ckpt"
    weights = torch.arange(6, dtype=torch.float32).reshape(3, 2)
    torch.save({"state_dict": {"w": weights}, "epoch": 4}, path)
    checkpoint = load_checkpoint(path)
    assert checkpoint["epoch"] == 4
    torch.testing.assert_close(checkpoint["state_dict"]["w"], weights, rtol=0, atol=0)
