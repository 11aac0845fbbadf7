"""Shared test set-up. jax must see 8 CPU devices, so XLA_FLAGS is set before any import."""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def tpudeck_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own run store and UI settings, so none sees another's."""
    home = tmp_path / "home"
    monkeypatch.setenv("TPUDECK_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return home


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


def tpudeck(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `tpudeck` command in a child process and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "tpudeck", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def start_tpudeck(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tpudeck", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )
