"""Data at scale (issue #14): a corpus is tokenised in batches into a memory-mapped block
file, so the trainer's peak memory does not grow with the corpus; the next launch on the
same data and tokenizer reads the blocks again instead of tokenising anew. (Time, and the
HF scripts' way beside it: bench/data_pipeline.py.)"""

import os
import subprocess
import sys

import pytest

from tpudeck.core.data.tokenizer import train_byte_level_bpe
from tpudeck.core.runs.rundir import RunDir

pytestmark = pytest.mark.slow

# The trainer's peak anonymous memory may grow by at most this from a 1 MB to a 1 GB corpus.
# Holding the texts and their encodings, as tpudeck did before, grew it by about 70 MB per MB
# of corpus. Resident pages of the memory-mapped corpus and Arrow files are the kernel's page
# cache (reclaimed under pressure) and are not counted; the whole RSS is reported beside.
# Tokenising 1 GB peaks 44-97 MB above the 1 MB run (this machine, alone and under CI's
# load); 64 MB held only while the torch that tensorboardX imported (~180 MB, loaded after
# the data) raised both runs' later peak above the tokenising one.
GROWTH_BOUND_MB = 160
SCALE_MB = 1024
MEASURED = """
import resource, subprocess, sys, threading, time
from tpudeck.core.runs.procs import process_tree
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
stderr = []
reader = threading.Thread(target=lambda: stderr.extend(child.stderr))
reader.start()

def anonymous_kb(pid):  # RssAnon: the resident memory that no file backs
    try:
        with open(f"/proc/{pid}/status") as status:
            line = next(line for line in status if line.startswith("RssAnon:"))
    except (OSError, StopIteration):  # it has just ended
        return 0
    return int(line.split()[1])

peak = 0
while child.poll() is None:  # sampled: the trainer and the child preparing its data
    peak = max(peak, sum(anonymous_kb(pid) for pid in process_tree(child.pid)) // 1024)
    time.sleep(0.05)
reader.join()
print(child.returncode, peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
print("".join(stderr), file=sys.stderr)
"""


def write_corpus(path, demo_corpus, megabytes: int):
    stories = demo_corpus.read_text().splitlines()
    lines = (f"{stories[n % len(stories)]} (story {n})" for n in range(10**9))
    with open(path, "w") as out:
        while out.tell() < megabytes * 2**20:
            out.write(next(lines) + "\n")
    return path


def train(corpus, tokenizer, run) -> tuple[int, int, str]:
    """(the peak anonymous memory of the trainer and its children, the largest process's
    peak RSS, in MB; its stderr), measured in a process of its own."""
    argv = [sys.executable, "-m", "tpudeck", "train", "--train_file", str(corpus),
            "--tokenizer_name", str(tokenizer), "--model_size", "demo", "--block_size", "128",
            "--max_steps", "1", "--max_eval_samples", "64", "--platform", "cpu",
            "--output_dir", str(run)]  # fmt: skip
    # Each run compiles into a cache of its own: a step loaded from the session's shared cache
    # costs far less memory than one compiled, which would weigh more than the corpus does.
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(run) + "-jax-cache"}
    done = subprocess.run([sys.executable, "-c", MEASURED, *argv], capture_output=True, text=True,
                          env=env)  # fmt: skip
    code, anonymous, rss = map(int, done.stdout.split())
    assert code == 0, done.stderr
    return anonymous, rss, done.stderr


def test_memory_stays_flat_from_1_mb_to_1_gb_and_a_relaunch_reuses_the_blocks(
    tmp_path, demo_corpus
):
    tokenizer = tmp_path / "tokenizer"
    train_byte_level_bpe(demo_corpus.read_text().splitlines(), 2000, tokenizer, 128)
    small = write_corpus(tmp_path / "small.txt", demo_corpus, 1)
    large = write_corpus(tmp_path / "large.txt", demo_corpus, SCALE_MB)
    small_peak, small_rss, _ = train(small, tokenizer, tmp_path / "small")
    large_peak, large_rss, log = train(large, tokenizer, tmp_path / "large")
    peaks = f"anonymous {small_peak} -> {large_peak} MB, RSS {small_rss} -> {large_rss} MB"
    print(f"1 MB -> {SCALE_MB} MB corpus: {peaks}")
    assert large_peak - small_peak < GROWTH_BOUND_MB, peaks
    first = RunDir(tmp_path / "large")
    assert [e for e in first.read_events("prepare") if e["stage"] == "tokenising"]
    *_, again_log = train(large, tokenizer, tmp_path / "again")
    again = RunDir(tmp_path / "again")
    assert not again.read_events("prepare")  # the blocks came from the cache
    summary = next(line for line in log.splitlines() if "training and" in line)
    assert summary.split("data: ")[1] in again_log  # the same blocks


def test_a_disk_that_fills_while_blocks_are_written_is_one_line_and_leaves_no_partial_file(
    tmp_path, demo_corpus, tpudeck_home
):
    """Line by line, 2,000 lines padded to 128 tokens are 1 MB of blocks from 140 kB of
    text: a 512 kB limit on file size (RLIMIT_FSIZE, as a full disk would) stops only them."""
    import resource

    from .builders import one_line_error

    corpus = tmp_path / "lines.txt"
    corpus.write_text("\n".join(demo_corpus.read_text().splitlines()[:2000]))
    limit = 2**19
    refused = subprocess.run(
        [sys.executable, "-m", "tpudeck", "train", "--recipe", "mlm", "--model_type", "roberta",
         "--train_file", str(corpus), "--line_by_line", "--max_seq_length", "128",
         "--model_size", "demo", "--max_steps", "1",
         "--platform", "cpu", "--output_dir", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=600,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )  # fmt: skip
    line = one_line_error(refused)
    assert "file too large after" in line and "--streaming" in line, line
    written = list(tpudeck_home.rglob("*.int32*"))  # the store's token-block cache
    assert not written, written
