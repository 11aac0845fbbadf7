"""Causal language modelling (run_clm_flax.py): next-token cross-entropy on packed blocks."""

from __future__ import annotations

import logging
import math
import shutil

from ..data import packing, text_files
from ..data import tokenizer as tokenizers_
from ..errors import DataError
from .base import TaskData, TaskModel

log = logging.getLogger(__name__)


class CausalLM:
    name = "clm"

    def prepare(self, spec, run_dir) -> TaskData:
        config = spec.model_config()
        block_size = spec.resolved_block_size()
        train_texts, eval_texts = text_files.load_text_splits(spec)
        tokenizer_dir = run_dir.tokenizer_dir
        if spec.tokenizer_name:
            tokenizer = tokenizers_.load_tokenizer(spec.tokenizer_name)
            if not tokenizer_dir.exists():
                shutil.copytree(spec.tokenizer_name, tokenizer_dir)
        elif tokenizer_dir.is_dir():  # a resumed run reuses the tokenizer it trained
            tokenizer = tokenizers_.load_tokenizer(tokenizer_dir)
        else:
            log.info(
                "training a byte-level BPE tokenizer (vocab %d) on the training data",
                spec.vocab_size,
            )
            tokenizer = tokenizers_.train_byte_level_bpe(
                train_texts, spec.vocab_size, tokenizer_dir, config["n_positions"]
            )
        eos = tokenizers_.eos_id(tokenizer)
        vocab = tokenizer.get_vocab_size()
        if spec.model_name_or_path and config.get("vocab_size", vocab) < vocab:
            raise DataError(
                f"the tokenizer has {vocab} tokens but the model only {config['vocab_size']}; "
                "pass the model's own tokenizer with --tokenizer_name"
            )
        train = packing.pack_blocks(train_texts, tokenizer, eos, block_size)
        held_out = packing.pack_blocks(eval_texts, tokenizer, eos, block_size)
        for name, blocks in (("training", train), ("validation", held_out)):
            if len(blocks) == 0:
                raise DataError(
                    f"the {name} data has fewer than {block_size} tokens, not one block; "
                    "add data or lower --block_size"
                )
        config = {"vocab_size": vocab, "bos_token_id": eos, "eos_token_id": eos, **config}
        return TaskData(
            train={"input_ids": train},
            eval={"input_ids": held_out},
            tokens_per_example=block_size,
            model_config=config,
            tokenizer_dir=tokenizer_dir,
            summary=f"{len(train)} training and {len(held_out)} validation blocks of "
            f"{block_size} tokens, vocabulary {vocab}",
        )

    def build(self, spec, data: TaskData) -> TaskModel:
        import jax
        import jax.numpy as jnp
        import optax

        from ..models.family import FAMILIES

        family = FAMILIES[spec.model_type]
        dropout = {
            "resid_pdrop": spec.dropout,
            "embd_pdrop": spec.dropout,
            "attn_pdrop": spec.dropout,
        }
        if spec.model_name_or_path:
            config, loaded = family.load(spec.model_name_or_path)
            config = family.config(config.to_hf(), **dropout)
        else:
            config, loaded = family.config(data.model_config, **dropout), None
        module = family.module(config, spec.dtype)
        seq = data.tokens_per_example

        def init_params(rng):
            return loaded if loaded is not None else family.init_params(config, rng, seq)

        def token_losses(params, ids_BxL, rng):
            deterministic = rng is None
            rngs = None if deterministic else {"dropout": rng}
            logits_BxLxV = module.apply({"params": params}, ids_BxL, deterministic, rngs=rngs)
            return optax.softmax_cross_entropy_with_integer_labels(
                logits_BxLxV[:, :-1], ids_BxL[:, 1:]
            )

        def loss(params, batch, rng):
            value = token_losses(params, batch["input_ids"], rng).mean()
            return value, {}

        def eval_sums(params, batch):
            per_example_B = token_losses(params, batch["input_ids"], None).mean(axis=-1)
            weights_B = batch["weights"]
            return {"loss": jnp.sum(per_example_B * weights_B), "weight": jnp.sum(weights_B)}

        def eval_report(means):
            return {**means, "perplexity": math.exp(min(means["loss"], 50.0))}

        def export(params, directory):
            family.save(directory, config, jax.device_get(params))
            if data.tokenizer_dir:
                for f in data.tokenizer_dir.iterdir():
                    shutil.copy2(f, directory / f.name)

        return TaskModel(
            init_params=init_params,
            loss=loss,
            eval_sums=eval_sums,
            eval_report=eval_report,
            flops_per_example=config.flops_per_token(seq) * seq,
            param_count=config.param_count(),
            export=export,
        )


RECIPE = CausalLM()
