"""Causal language modelling (run_clm_flax.py): next-token cross-entropy on packed blocks."""

from __future__ import annotations

from .base import TEXT_DATA_FIELDS, TaskData, TaskModel, demo_corpus, weighted_sums


class CausalLM:
    name = "clm"
    head = "causal_lm"
    inputs = "text"
    script = "run_clm_flax.py"
    data_fields = (*TEXT_DATA_FIELDS, "text_column", "block_size", "streaming")
    length_field = "block_size"
    default_length = None
    examples_in_files = True  # token blocks

    def demo_data(self, folder) -> dict:
        return demo_corpus(folder)

    def prepare(self, spec, run_dir) -> TaskData:
        from ..data.tokenizer import GPT2_KIND
        from .text_blocks import prepare_blocks

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

        from ..models import token_loss
        from ..models.family import get_family
        from .text_blocks import language_model

        family = get_family(spec.model_type)
        start = family.start(spec, data.model_config, self.head)
        module = start.module(spec)

        def projected(params, ids_BxL, rng):
            """What the logits are made of (a causal_lm head called with project=False:
            the loss projects a chunk at a time, token_loss.py), and each token's next one
            (the last token has none: 0, weighted 0 by `has_next`)."""
            deterministic = rng is None
            rngs = None if deterministic else {"dropout": rng}
            head = module.apply(
                {"params": params}, ids_BxL, deterministic, project=False, rngs=rngs
            )
            return head, jnp.pad(ids_BxL[:, 1:], ((0, 0), (0, 1)))

        def has_next(next_BxL):
            length = next_BxL.shape[1]
            return jnp.broadcast_to(jnp.arange(length) < length - 1, next_BxL.shape)

        def loss(params, batch, rng):
            head, next_BxL = projected(params, batch["input_ids"], rng)
            return token_loss.mean_loss(head, next_BxL, has_next(next_BxL)), {}

        def eval_sums(params, batch):
            head, next_BxL = projected(params, batch["input_ids"], None)
            losses_BxL = token_loss.token_losses(head, next_BxL)
            return weighted_sums(batch["weights"], loss=losses_BxL[:, :-1].mean(axis=-1))

        return language_model(start, data, loss, eval_sums)


RECIPE = CausalLM()
