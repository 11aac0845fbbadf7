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
        import optax

        from ..models.family import get_family
        from .text_blocks import language_model

        family = get_family(spec.model_type)
        start = family.start(spec, data.model_config, self.head)
        module = start.module(spec)

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
            losses_B = token_losses(params, batch["input_ids"], None).mean(axis=-1)
            return weighted_sums(batch["weights"], loss=losses_B)

        return language_model(start, data, loss, eval_sums)


RECIPE = CausalLM()
