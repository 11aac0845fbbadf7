"""What the text recipes share: texts in, a tokenizer, packed blocks out; and on the model
side perplexity, FLOPs per block and an export with the tokenizer beside the weights.

The tokenizer is the one given (--tokenizer_name), the one this run trained before (a
resume), the checkpoint's own, or a byte-level BPE trained now with the recipe's special
tokens.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
from pathlib import Path

from ..data import text_files
from ..data import tokenizer as tokenizers_
from ..data.sentence_pairs import pad_id, with_framing
from ..data.token_blocks import line_blocks, packed_blocks, text_batches
from ..data.tokenizer_files import TOKENIZER_FILES, slow_files
from ..errors import DataError
from ..registry import RECIPES
from ..runs.home import tpudeck_home
from .base import TaskModel

log = logging.getLogger(__name__)

TOKENIZER_ROWS = 100_000  # --streaming with no tokenizer given: a new one learns from these


@dataclasses.dataclass
class Blocks:
    train: object  # [N, block_size] int32
    held_out: object
    block_size: int
    tokenizer: object
    eos: int
    vocab: int
    # line by line: the padding id, and the ids of the framing (<s>, </s>, [CLS], [SEP])
    pad: int | None = None
    framing: tuple[int, ...] = ()

    @property
    def summary(self) -> str:
        kind = "lines padded to" if self.pad is not None else "blocks of"
        train = f"{len(self.train)}" if hasattr(self.train, "__len__") else "streamed"
        return (
            f"{train} training and {len(self.held_out)} validation {kind} "
            f"{self.block_size} tokens, vocabulary {self.vocab}"
        )


def prepare_blocks(spec, run_dir, kind: tokenizers_.TokenizerKind,
                   block_size: int | None = None, framed: bool = False,
                   lines: bool = False) -> Blocks:  # fmt: skip
    """Blocks of the run's texts (of `block_size` tokens, else the example length), packed
    or, with `lines`, a text each; tokenised once into the store's cache (a relaunch or a
    resume on the same data and tokenizer reads them again) and memory-mapped; with
    --max_train_samples or --max_eval_samples, only about as many as the run keeps. Packed
    texts are joined by the eos token, or with `framed` each framed as the tokenizer frames
    a text (<s> ... </s>, [CLS] ... [SEP]), as run_mlm_flax.py's tokenizer call frames
    them; lines are always framed."""
    block_size, column = block_size or spec.example_length(), spec.text_column
    if spec.streaming:
        return _streamed_blocks(spec, run_dir, kind, block_size, framed)
    train_rows, eval_rows = text_files.load_text_splits(spec)
    tokenizer = run_tokenizer(
        spec, run_dir, text_batches(train_rows, column), kind, spec.example_length()
    )
    tokenizer, framing = _framing(tokenizer, run_dir) if framed or lines else (tokenizer, ())
    eos, cache = tokenizers_.eos_id(tokenizer), _block_cache()
    pad = pad_id(tokenizer) if lines else None
    separator = None if framing else eos  # None: each text framed (packed_ids)
    blocks = {}
    for name, rows, first in (("training", train_rows, spec.max_train_samples),
                              ("validation", eval_rows, spec.max_eval_samples)):  # fmt: skip
        progress = _tokenising(run_dir, name)
        blocks[name] = (
            line_blocks(rows, column, tokenizer, pad, block_size, cache, progress, first)
            if lines
            else packed_blocks(
                rows, column, tokenizer, separator, block_size, cache, progress, first
            )
        )
        if len(blocks[name]) == 0:
            raise DataError(
                f"the {name} data has no text in column {column!r}; add data to it"
                if next(text_batches(rows, column), None) is None
                else f"the {name} data has fewer than {block_size} tokens, not one block; "
                f"add data or lower --{RECIPES[spec.recipe].length_field}"
            )
    return Blocks(blocks["training"], blocks["validation"], block_size, tokenizer, eos,
                  tokenizer.get_vocab_size(), pad, framing)  # fmt: skip


def _streamed_blocks(spec, run_dir, kind, block_size: int, framed: bool) -> Blocks:
    """--streaming: training blocks packed from the stream as steps ask for them (a new
    tokenizer learns from its first TOKENIZER_ROWS rows); validation blocks from the
    held-out rows, cached as packed_blocks caches them."""
    from ..data.token_stream import TokenStream

    column = spec.text_column
    open_rows, eval_rows = text_files.stream_text_splits(spec, spec.max_eval_samples or 1000)
    first_rows = text_batches(open_rows(0).take(TOKENIZER_ROWS), column)
    tokenizer = run_tokenizer(spec, run_dir, first_rows, kind, spec.example_length())
    tokenizer, framing = _framing(tokenizer, run_dir) if framed else (tokenizer, ())
    eos, cache = tokenizers_.eos_id(tokenizer), _block_cache()
    separator = None if framing else eos
    held_out = packed_blocks(eval_rows, column, tokenizer, separator, block_size, cache)
    if len(held_out) == 0:
        raise DataError(f"the validation rows have fewer than {block_size} tokens, not one "
                        "block; pass a larger --max_eval_samples or a --validation_file")  # fmt: skip
    train = TokenStream(open_rows, column, tokenizer, separator, block_size)
    return Blocks(train, held_out, block_size, tokenizer, eos, tokenizer.get_vocab_size(),
                  framing=framing)  # fmt: skip


def _framing(tokenizer, run_dir) -> tuple[object, tuple[int, ...]]:
    """The tokenizer framing each text as it frames one (<s> ... </s>, [CLS] ... [SEP]),
    and the ids it frames with; saved so in the run directory, so that the export's
    AutoTokenizer frames alike."""
    framed = with_framing(tokenizer)
    if framed is not tokenizer:
        framed.save(str(run_dir.tokenizer_dir / "tokenizer.json"))
    return framed, tuple(framed.encode("").ids)


def _block_cache() -> Path:
    """The store's token-block cache, shared by every run of the store (block_cache.py)."""
    return tpudeck_home() / "cache" / "blocks"


def _tokenising(run_dir, name: str):
    def report(done: int, total: int) -> None:
        run_dir.emit("prepare", stage="tokenising", what=f"{name} texts", done=done,
                     total=total, unit="texts")  # fmt: skip
        log.info("tokenising the %s texts: %s of %s", name, f"{done:,}", f"{total:,}")

    return report


def run_tokenizer(spec, run_dir, texts, kind: tokenizers_.TokenizerKind, max_len: int):
    """The run's tokenizer, copied into its run directory: --tokenizer_name's, else the one
    this run trained before (a resume), else the checkpoint's own (--model_name_or_path,
    as the HF scripts default to), else a byte-level BPE trained now on `texts` (an
    iterable of texts or batches of them, read only if it is trained). A given tokenizer
    of slow files only is converted into the run directory's tokenizer.json."""
    tokenizer_dir = run_dir.tokenizer_dir
    given = spec.tokenizer_name
    if not given and spec.model_name_or_path and not tokenizer_dir.is_dir():
        own = spec.model_name_or_path
        mine = Path(own, "tokenizer.json").is_file() or slow_files(own)
        given = own if mine else None
    if given and slow_files(given) and not tokenizer_dir.is_dir():
        tokenizers_.convert_slow_tokenizer(given, tokenizer_dir)
        given = tokenizer_dir
    if given:
        tokenizer = tokenizers_.load_tokenizer(given)
        if not tokenizer_dir.exists():
            tokenizer_dir.mkdir(parents=True)
            for name in TOKENIZER_FILES:
                if Path(given, name).is_file():
                    shutil.copy2(Path(given, name), tokenizer_dir / name)
    elif tokenizer_dir.is_dir():
        tokenizer = tokenizers_.load_tokenizer(tokenizer_dir)
    else:
        log.info("training a %s tokenizer (vocab %d) on the training data", kind.algorithm,
                 spec.vocab_size)  # fmt: skip
        tokenizer = tokenizers_.train_tokenizer(texts, spec.vocab_size, tokenizer_dir, max_len,
                                                kind)  # fmt: skip
    check_vocab(spec, tokenizer.get_vocab_size())
    return tokenizer


def check_vocab(spec, vocab: int) -> None:
    """Token ids past the embedding train to NaN: the model must have room for them all."""
    config = spec.model_config()
    if config.get("vocab_size", vocab) < vocab:
        source = (
            f"--model_name_or_path {spec.model_name_or_path}"
            if spec.model_name_or_path
            else f"--config_name {spec.config_name}"
        )
        raise DataError(
            f"the tokenizer has {vocab} tokens but the model config ({source}) only "
            f"{config['vocab_size']}: pass the model's own tokenizer with --tokenizer_name, "
            "or a config with a larger vocab_size"
        )


def language_model(start, data, loss, eval_sums) -> TaskModel:
    """A TaskModel for a token-level language model from its per-device functions."""
    seq, config = data.tokens_per_example, start.config

    def eval_report(means):
        return {**means, "perplexity": math.exp(min(means["loss"], 50.0))}

    def export(params, directory):
        import jax

        start.family.save(directory, config, jax.device_get(params), start.head)
        copy_tokenizer(data.tokenizer_dir, directory)

    return TaskModel(
        init_params=lambda rng: start.params(rng, seq),
        loss=loss,
        eval_sums=eval_sums,
        eval_report=eval_report,
        flops_per_example=config.flops_per_example(seq, start.head),
        param_count=config.param_count(start.head),
        export=export,
    )


def noise_and_dropout(rng):
    """(the key that draws a step's noise, the model's dropout rngs) from a step's key;
    rng None (evaluation): the same noise every time and no dropout."""
    import jax

    if rng is None:
        return jax.random.key(0), None
    noise_rng, dropout_rng = jax.random.split(rng)
    return noise_rng, {"dropout": dropout_rng}


def copy_tokenizer(tokenizer_dir, directory) -> None:
    """The tokenizer beside the weights, as the Hub expects."""
    if tokenizer_dir:
        for f in tokenizer_dir.iterdir():
            shutil.copy2(f, directory / f.name)
