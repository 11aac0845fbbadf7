"""The run store's compile cache stays bounded: jax evicts the programs least recently used
once it would pass its size (10 GiB unless JAX_COMPILATION_CACHE_MAX_SIZE says otherwise)."""

import os
import subprocess
import sys

PROGRAMS = """
import pathlib, sys
import jax.numpy as jnp
from tpudeck.core.train.backend import start_backend
import jax
start_backend("cpu", pathlib.Path(sys.argv[1]))
print(jax.config.jax_compilation_cache_max_size)
for width in (64, 65, 66, 67):  # four programs, each its own cache entry
    jax.jit(lambda x: jnp.tanh(x @ x.T).sum())(jnp.ones((width, width))).block_until_ready()
"""


def entries(cache) -> dict[str, int]:
    """jax's cache entries (KEY-cache; KEY-atime beside each says when it was last used)."""
    return {p.name: p.stat().st_size for p in cache.glob("*-cache")}


def compile_into(cache, env=None) -> str:
    env = {k: v for k, v in {**os.environ, **(env or {})}.items()
           if k != "JAX_COMPILATION_CACHE_DIR"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", PROGRAMS, str(cache)], capture_output=True,
                          text=True, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[0]


def test_the_compile_cache_evicts_programs_past_its_bound(tmp_path):
    """Which ones is jax's (least recently used first); the bound is ours."""
    assert compile_into(tmp_path / "unbounded") == str(10 * 2**30)  # the default bound
    sizes = entries(tmp_path / "unbounded")  # the four, and the small programs around them
    assert len(sizes) >= 4
    bound = sum(sizes.values()) // 2
    compile_into(tmp_path / "bounded", {"JAX_COMPILATION_CACHE_MAX_SIZE": str(bound)})
    kept = entries(tmp_path / "bounded")
    assert kept and len(kept) < len(sizes) and sum(kept.values()) <= bound
