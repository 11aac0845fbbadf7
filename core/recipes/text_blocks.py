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

from ..data import packing, text_files
from ..data import tokenizer as tokenizers_
from ..errors import DataError
from ..registry import RECIPES
from .base import TaskModel

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Blocks:
    train: object  # [N, block_size] int32
    held_out: object
    block_size: int
    tokenizer: object
    eos: int
    vocab: int

    @property
    def summary(self) -> str:
        return (
            f"{len(self.train)} training and {len(self.held_out)} validation blocks of "
            f"{self.block_size} tokens, vocabulary {self.vocab}"
        )


def prepare_blocks(spec, run_dir, kind: tokenizers_.TokenizerKind) -> Blocks:
    block_size = spec.example_length()
    train_texts, eval_texts = text_files.load_text_splits(spec)
    tokenizer = run_tokenizer(spec, run_dir, train_texts, kind, block_size)
    eos = tokenizers_.eos_id(tokenizer)
    vocab = tokenizer.get_vocab_size()
    train = packing.pack_blocks(train_texts, tokenizer, eos, block_size)
    held_out = packing.pack_blocks(eval_texts, tokenizer, eos, block_size)
    for name, blocks in (("training", train), ("validation", held_out)):
        if len(blocks) == 0:
            raise DataError(
                f"the {name} data has fewer than {block_size} tokens, not one block; "
                f"add data or lower --{RECIPES[spec.recipe].length_field}"
            )
    return Blocks(train, held_out, block_size, tokenizer, eos, vocab)


def run_tokenizer(spec, run_dir, texts, kind: tokenizers_.TokenizerKind, max_len: int):
    """The run's tokenizer, copied into its run directory: --tokenizer_name's, else the one
    this run trained before (a resume), else the checkpoint's own (--model_name_or_path,
    as the HF scripts default to), else a byte-level BPE trained now on `texts`."""
    tokenizer_dir = run_dir.tokenizer_dir
    given = spec.tokenizer_name
    if not given and spec.model_name_or_path and not tokenizer_dir.is_dir():
        own = Path(spec.model_name_or_path, "tokenizer.json")
        given = spec.model_name_or_path if own.is_file() else None
    if given:
        tokenizer = tokenizers_.load_tokenizer(given)
        if not tokenizer_dir.exists():
            tokenizer_dir.mkdir(parents=True)
            for name in tokenizers_.TOKENIZER_FILES:
                if Path(given, name).is_file():
                    shutil.copy2(Path(given, name), tokenizer_dir / name)
    elif tokenizer_dir.is_dir():
        tokenizer = tokenizers_.load_tokenizer(tokenizer_dir)
    else:
        log.info(
            "training a byte-level BPE tokenizer (vocab %d) on the training data", spec.vocab_size
        )
        tokenizer = tokenizers_.train_byte_level_bpe(
            texts, spec.vocab_size, tokenizer_dir, max_len, kind
        )
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


def copy_tokenizer(tokenizer_dir, directory) -> None:
    """The tokenizer beside the weights, as the Hub expects."""
    if tokenizer_dir:
        for f in tokenizer_dir.iterdir():
            shutil.copy2(f, directory / f.name)
