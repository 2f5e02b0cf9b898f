"""run_info.json: what a run ran on, with nulls where something cannot be known."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from sgns.run import runinfo
from sgns.run.runinfo import device_name, git_state, package_versions, write_run_info


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A git repository laid out like the project: src/sgns/ tracked and committed."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    package = tmp_path / "repo" / "src" / "sgns"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    git(tmp_path / "repo", "init", "-q")
    git(tmp_path / "repo", "add", ".")
    git(tmp_path / "repo", "commit", "-q", "-m", "init")
    return package


def test_clean_checkout_records_its_commit(checkout, tmp_path, monkeypatch):
    head = git(checkout, "rev-parse", "HEAD")
    assert git_state(checkout) == {"commit": head, "dirty": False, "patch": None}
    monkeypatch.setattr(runinfo, "SOURCE_DIR", checkout)
    info = json.loads(write_run_info(tmp_path).read_text())
    assert info["git"] == {"commit": head, "dirty": False, "patch": None}
    assert not (tmp_path / "git.diff").exists()


def test_a_dirty_checkout_leaves_a_patch_that_gives_its_tree_back(checkout, tmp_path, monkeypatch):
    repo = checkout.parents[1]
    (repo / ".gitignore").write_text("outputs/\n")
    (repo / "data.bin").write_bytes(bytes(range(256)))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "more")
    (checkout / "__init__.py").write_text("# edited\n")  # changed
    (checkout / "new.py").write_text("x = 'naïve'\n")  # untracked
    (repo / "data.bin").write_bytes(bytes(range(255, -1, -1)))  # binary, changed
    git(repo, "add", "src/sgns/__init__.py")  # staged: the real index must stay as it is
    (repo / "outputs").mkdir()
    (repo / "outputs" / "run.txt").write_text("ignored\n")
    status = git(repo, "status", "--porcelain")
    monkeypatch.setattr(runinfo, "SOURCE_DIR", checkout)

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    info = json.loads(write_run_info(run_dir).read_text())

    assert info["git"] == {
        "commit": git(repo, "rev-parse", "HEAD"),
        "dirty": True,
        "patch": "git.diff",
    }
    assert git(repo, "status", "--porcelain") == status
    copy = tmp_path / "copy"
    git(tmp_path, "clone", "-q", str(repo), str(copy))
    git(copy, "apply", str(run_dir / "git.diff"))
    for name in ("src/sgns/__init__.py", "src/sgns/new.py", "data.bin"):
        assert (copy / name).read_bytes() == (repo / name).read_bytes(), name
    assert not (copy / "outputs").exists()  # ignored files stay out


def test_a_patch_over_the_limit_is_left_out_and_said_so(checkout, tmp_path, monkeypatch):
    (checkout / "big.txt").write_text("x" * 2000)
    monkeypatch.setattr(runinfo, "SOURCE_DIR", checkout)
    monkeypatch.setattr(runinfo, "MAX_PATCH_BYTES", 1000)
    info = json.loads(write_run_info(tmp_path).read_text())
    assert info["git"]["dirty"] is True
    assert info["git"]["patch"].startswith("left out: over")
    assert not (tmp_path / "git.diff").exists()


def test_changed_or_new_files_make_the_tree_dirty(checkout):
    (checkout / "new.py").write_text("x = 1\n")
    assert git_state(checkout)["dirty"] is True
    (checkout / "new.py").unlink()
    (checkout / "__init__.py").write_text("# edited\n")
    assert git_state(checkout)["dirty"] is True


def test_package_outside_a_checkout_of_its_own_records_nulls(tmp_path, checkout):
    unknown = {"commit": None, "dirty": None, "patch": None}
    assert git_state(tmp_path / "not-a-repo") == unknown
    # An installed copy inside some other repository must not claim that repository's commit.
    installed = checkout.parents[1] / ".venv" / "site-packages" / "sgns"
    installed.mkdir(parents=True)
    assert git_state(installed) == unknown


def test_missing_git_records_nulls(checkout, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert git_state(checkout) == {"commit": None, "dirty": None, "patch": None}


def test_versions_of_installed_and_missing_packages():
    versions = package_versions(["torch", "no-such-package-sgns"])
    assert versions["torch"] == torch.__version__
    assert versions["no-such-package-sgns"] is None


def test_device_names():
    assert device_name("cpu") == "cpu"
    assert device_name(torch.device("cpu")) == "cpu"
    assert device_name(None) is None


@pytest.mark.gpu
def test_cuda_device_name_includes_the_model():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    assert device_name("cuda:0") == f"cuda:0 ({torch.cuda.get_device_name(0)})"


def test_run_info_json_records_code_versions_device_and_host(tmp_path, monkeypatch):
    monkeypatch.setattr(runinfo, "git_state", lambda _: {"commit": "abc", "dirty": False})
    path = write_run_info(tmp_path, torch.device("cpu"))
    info = json.loads(path.read_text())
    assert path == tmp_path / "run_info.json"
    assert info["git"] == {"commit": "abc", "dirty": False}
    assert {"torch", "lightning", "hydra-core", "numpy"} <= set(info["versions"])
    assert all(info["versions"][name] for name in ("torch", "lightning", "hydra-core", "numpy"))
    assert info["device"] == "cpu"
    assert info["hostname"]
    assert info["python"].count(".") == 2
    assert info["started"][:2] == "20"
    assert "T" in info["started"]
    assert not list(tmp_path.glob(".run_info*"))  # no temporary file left behind
