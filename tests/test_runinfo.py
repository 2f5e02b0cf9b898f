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


def test_clean_checkout_records_its_commit(checkout):
    head = git(checkout, "rev-parse", "HEAD")
    assert git_state(checkout) == {"commit": head, "dirty": False}


def test_changed_or_new_files_make_the_tree_dirty(checkout):
    (checkout / "new.py").write_text("x = 1\n")
    assert git_state(checkout)["dirty"] is True
    (checkout / "new.py").unlink()
    (checkout / "__init__.py").write_text("# edited\n")
    assert git_state(checkout)["dirty"] is True


def test_package_outside_a_checkout_of_its_own_records_nulls(tmp_path, checkout):
    unknown = {"commit": None, "dirty": None}
    assert git_state(tmp_path / "not-a-repo") == unknown
    # An installed copy inside some other repository must not claim that repository's commit.
    installed = checkout.parents[1] / ".venv" / "site-packages" / "sgns"
    installed.mkdir(parents=True)
    assert git_state(installed) == unknown


def test_missing_git_records_nulls(checkout, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert git_state(checkout) == {"commit": None, "dirty": None}


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
    monkeypatch.setattr(runinfo, "git_state", lambda _: {"commit": "abc", "dirty": True})
    path = write_run_info(tmp_path, torch.device("cpu"))
    info = json.loads(path.read_text())
    assert path == tmp_path / "run_info.json"
    assert info["git"] == {"commit": "abc", "dirty": True}
    assert {"torch", "lightning", "hydra-core", "numpy"} <= set(info["versions"])
    assert all(info["versions"][name] for name in ("torch", "lightning", "hydra-core", "numpy"))
    assert info["device"] == "cpu"
    assert info["hostname"]
    assert info["python"].count(".") == 2
    assert info["started"][:2] == "20"
    assert "T" in info["started"]
    assert not list(tmp_path.glob(".run_info*"))  # no temporary file left behind
