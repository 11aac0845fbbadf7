"""Shared test set-up. jax must see 8 CPU devices, so XLA_FLAGS is set before any import."""

import os

DEVICES_FLAG = "--xla_force_host_platform_device_count=8"
# The tests' own processes compile many programs and run each for a step or two: LLVM's O0
# takes a third off their time (the modules that train in-process: 370 -> 246 s, 2 cores).
# The trainers they start run steps by the dozen and keep XLA's default, as users run them.
IN_PROCESS_FLAG = "--xla_backend_optimization_level=0"
# Without ours: xdist's workers inherit them from the process that started them.
GIVEN_FLAGS = " ".join(
    f for f in os.environ.get("XLA_FLAGS", "").split() if f not in (DEVICES_FLAG, IN_PROCESS_FLAG)
)
STARTED_FLAGS = f"{GIVEN_FLAGS} {DEVICES_FLAG}".strip()  # what the processes tests start get
os.environ["XLA_FLAGS"] = f"{STARTED_FLAGS} {IN_PROCESS_FLAG}"
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import fcntl  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
from collections.abc import Callable  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from .builders import train_colours, train_demo  # noqa: E402


def pytest_configure(config):
    """A SIGTERM (a CI timeout, `timeout make test`) tears down like Ctrl-C does, so the
    fixtures below still end the trainers that tests started."""

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


@pytest.fixture(autouse=True)
def tpudeck_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own run store and UI settings, so none sees another's; every
    process a test's runs left alive (detached trainers, script supervisors) is ended after
    it, passed, failed or interrupted. Hub downloads go to the test's own cache."""
    home = tmp_path / "home"
    monkeypatch.setenv("TPUDECK_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    yield home
    end_live_runs(home)


def end_live_runs(home: Path) -> None:
    """SIGKILL the process tree of every run of `home` that a live process still runs."""
    from tpudeck.core.runs.procs import is_alive, process_tree
    from tpudeck.core.runs.rundir import FINAL_STATES

    ours = _ancestors(os.getpid())
    for status_path in (home / "runs").glob("*/status.json"):
        try:
            status = json.loads(status_path.read_text())
        except (OSError, ValueError):
            continue
        pid, started = status.get("pid"), status.get("pid_start")
        if status.get("state") in FINAL_STATES or pid in ours or started is None:
            continue  # hand-made runs name this process, pid 1 or a sleeper: never those
        if not is_alive(pid, started):
            continue
        for member in reversed(process_tree(pid)):
            try:
                os.kill(member, signal.SIGKILL)
            except ProcessLookupError:
                continue


def _ancestors(pid: int) -> set[int]:
    """This process and every one above it, up to init: never a test's to kill."""
    found = {0, 1}
    while pid not in found:
        found.add(pid)
        try:  # /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found


def session_root(tmp_path_factory) -> Path:
    """The folder that every worker of this session shares: pytest-xdist (`make test` runs
    two) gives each worker its own base temp under one parent."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def session_lock(tmp_path_factory, name: str):
    """Held by one worker of the session at a time."""
    with open(session_root(tmp_path_factory) / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session", autouse=True)
def in_process_compiles():
    """XLA reads XLA_FLAGS once, as jax starts its CPU client: started here with the
    in-process flag, before any test; the processes that tests start go without it."""
    import jax

    jax.devices()
    os.environ["XLA_FLAGS"] = STARTED_FLAGS


@pytest.fixture(scope="session", autouse=True)
def shared_compile_cache(tmp_path_factory):
    """Every trainer the session starts compiles through one jax cache (the workers'
    too), so a step compiled once is loaded by the next run of that shape, whatever its
    schedule; a test that needs a cold cache unsets JAX_COMPILATION_CACHE_DIR."""
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(session_root(tmp_path_factory) / "jax-cache")
    yield
    os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)


# Modules of a minute or more (CI's slowest, `make test` prints them), heaviest first.
# xdist hands the workers the modules with the most tests first; among modules with as many
# tests, these go before the rest (all of them first would need --no-loadscope-reorder).
HEAVY_MODULES = ("test_data_scale.py", "test_training_e2e.py", "test_try_screen.py",
                 "test_demos.py", "test_space.py", "test_try.py", "test_layers.py",
                 "test_text_classification.py", "test_mlm.py", "test_data_parallel_step.py",
                 "test_pretrained_layouts.py", "test_image_classification.py",
                 "test_processes.py")  # fmt: skip


def pytest_collection_modifyitems(items):
    def weight(item) -> int:
        name = item.path.name
        return HEAVY_MODULES.index(name) if name in HEAVY_MODULES else len(HEAVY_MODULES)

    items.sort(key=weight)  # stable: each module's own order stays


def made_once(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder that `make` fills once a session, whichever worker asks first; the others
    wait for it. A `make` that fails leaves nothing, so the next to ask tries again."""
    where = session_root(tmp_path_factory) / name
    with session_lock(tmp_path_factory, name):
        if not (where / ".made").exists():
            shutil.rmtree(where, ignore_errors=True)
            where.mkdir()
            make(where)
            (where / ".made").touch()
    return where


def unix_user(tmp_path_factory, name: str, group: str | None = None):
    """A real second Unix user (created once; CI runs as root, which useradd needs)."""
    import grp
    import pwd

    if os.geteuid() != 0:
        pytest.skip("creating a second Unix user needs root; CI runs the suite as root")
    with session_lock(tmp_path_factory, "unix-users"):  # useradd fails on a locked passwd
        if group:
            subprocess.run(["groupadd", "-f", group], capture_output=True)
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        *(["-g", group] if group else []), name], capture_output=True)  # fmt: skip
    user = pwd.getpwnam(name)
    assert not group or user.pw_gid == grp.getgrnam(group).gr_gid, f"{name} is not in {group}"
    return user


@pytest.fixture(scope="session")
def other_user(tmp_path_factory):
    return unix_user(tmp_path_factory, "tpudeck-other")


@pytest.fixture(scope="session")
def team(tmp_path_factory):
    """Two users of one Unix group, as a team sharing a VM is."""
    return (
        unix_user(tmp_path_factory, "tpudeck-alice", "tpudeck-team"),
        unix_user(tmp_path_factory, "tpudeck-bob", "tpudeck-team"),
    )


@pytest.fixture
def sleeper():
    """A live process to stand in for a run's trainer."""
    child = subprocess.Popen(["sleep", "600"])
    yield child
    child.kill()
    child.wait()


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory) -> Path:
    from tpudeck.core.data.demo_corpus import write_demo_corpus

    return write_demo_corpus(tmp_path_factory.mktemp("corpus") / "stories.txt")


@pytest.fixture(scope="session")
def finished_run_template(tmp_path_factory) -> Path:
    """A real finished demo run (4 steps, checkpoints at 2 and 4, exported model)."""
    flags = ("--max_steps", "4", "--save_steps", "2", "--logging_steps", "1")
    return made_once(tmp_path_factory, "finished", lambda where: train_demo(where, *flags)) / "run"


# Each recipe's demo as the tests read it: the loss falls (test_demos.py) and, where a
# module checks more of the same run (ROUGE, the export in transformers), long enough for
# that too. Trained once a session, the first time a test asks: read, never launch into.
DEMO_RUNS = {
    "summarization": ("--max_steps", "100", "--eval_steps", "100", "--num_beams", "2",
                      "--max_eval_samples", "48"),
    "t5_mlm": ("--max_steps", "100", "--eval_steps", "100", "--max_eval_samples", "48"),
}  # fmt: skip
SHORT_DEMO = ("--max_steps", "50", "--eval_steps", "50", "--max_eval_samples", "16")


@pytest.fixture(scope="session")
def trained_demo(tmp_path_factory):
    """trained_demo(recipe) -> the RunDir of the recipe's demo run, trained on 8 devices."""
    from tpudeck.core.runs.rundir import RunDir

    def get(recipe: str) -> RunDir:
        flags = ("--recipe", recipe, *DEMO_RUNS.get(recipe, SHORT_DEMO))
        where = made_once(tmp_path_factory, f"demo-{recipe}", lambda w: train_demo(w, *flags))
        return RunDir(where / "run")

    return get


@pytest.fixture(scope="session")
def colours_run(tmp_path_factory) -> Path:
    """A masked LM that learned which colour follows which thing (builders.THING_COLOURS)."""
    return made_once(tmp_path_factory, "colours", train_colours) / "run"


@pytest.fixture
def finished_run(finished_run_template, tmp_path) -> Path:
    """A copy of the finished demo run, for a test to launch into."""
    return Path(shutil.copytree(finished_run_template, tmp_path / "run", symlinks=True))
