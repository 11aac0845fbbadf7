"""Causal language modelling (run_clm_flax.py): next-token cross-entropy on packed blocks."""

from __future__ import annotations

from ..data.tokenizer import GPT2_KIND
from .base import TaskData, TaskModel
from .text_blocks import language_model, prepare_blocks


class CausalLM:
    name = "clm"

    def prepare(self, spec, run_dir) -> TaskData:
        blocks = prepare_blocks(spec, run_dir, GPT2_KIND)
        eos = blocks.eos
        config = {"vocab_size": blocks.vocab, "bos_token_id": eos, "eos_token_id": eos}
        return TaskData(
            train={"input_ids": blocks.train},
            eval={"input_ids": blocks.held_out},
            tokens_per_example=blocks.block_size,
            model_config={**config, **spec.model_config()},
            tokenizer_dir=run_dir.tokenizer_dir,
            summary=blocks.summary,
        )

    def build(self, spec, data: TaskData) -> TaskModel:
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

        return language_model(family, config, data, init_params, loss, eval_sums)


RECIPE = CausalLM()
