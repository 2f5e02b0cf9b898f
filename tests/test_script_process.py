"""tests/script_process.py runs a script as a fresh interpreter would: the same exit status,
output, folder, environment and arguments."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import script_process

# Processes: the forkserver, which imports torch, Lightning and Hydra once, and fresh
# interpreters to compare with.
pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import os, sys
    print("cwd", os.getcwd())
    print("argv", sys.argv[1:])
    print("env", os.environ.get("SGNS_TEST_VALUE"))
    print("name", __name__)
    print("to stderr", file=sys.stderr)
    if sys.argv[1] == "raise":
        raise ValueError("boom")
    if sys.argv[1] == "message":
        sys.exit("error: said on exit")
    sys.exit(int(sys.argv[1]))
    """
)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "script.py"
    path.write_text(SCRIPT)
    (tmp_path / "work").mkdir()
    return path


@pytest.mark.parametrize("arg", ["0", "3", "raise", "message"])
def test_a_script_ends_as_it_would_in_a_fresh_interpreter(script, arg):
    env = {**os.environ, "SGNS_TEST_VALUE": "forty two"}
    cwd = script.parent / "work"
    ours = script_process.run(script, [arg], cwd=cwd, env=env, timeout=60)
    fresh = subprocess.run(
        [sys.executable, str(script), arg], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert ours.returncode == fresh.returncode == {"0": 0, "3": 3}.get(arg, 1)
    assert ours.stdout == fresh.stdout
    assert f"cwd {cwd}\nargv ['{arg}']\nenv forty two\nname __main__\n" == ours.stdout
    assert ours.stderr == fresh.stderr  # tracebacks included, line for line
    if arg == "raise":
        assert ours.stderr.rstrip().endswith("ValueError: boom")


def test_a_started_script_can_be_waited_for_and_killed(tmp_path):
    script = tmp_path / "sleeper.py"
    script.write_text("import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    log = tmp_path / "log"
    process = script_process.start(
        script, [], cwd=tmp_path, env=dict(os.environ), stdout=log, stderr=log
    )
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.2)
    assert process.poll() is None
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
