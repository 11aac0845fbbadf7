"""T5 span-corruption pre-training (run_t5_mlm_flax.py): the encoder reads a block with
random spans each replaced by a sentinel, the decoder writes those spans back.

Blocks are cut long enough that their corrupted form is exactly --max_seq_length tokens
(span_corruption.SpanLengths); the spans are drawn on the device inside the step from the
step's random key, so a step is a pure function of (seed, step) and resume stays exact.
"""

from __future__ import annotations

from .base import TEXT_DATA_FIELDS, TaskData, TaskModel, demo_corpus
from .span_corruption import SpanLengths


class SpanCorruption:
    name = "t5_mlm"
    head = "seq2seq_lm"
    inputs = "text"
    script = "run_t5_mlm_flax.py"
    data_fields = (*TEXT_DATA_FIELDS, "text_column", "max_seq_length", "mlm_probability",
                   "mean_noise_span_length", "streaming")  # fmt: skip
    length_field = "max_seq_length"  # the corrupted inputs' length, as the script has it
    default_length = 512
    examples_in_files = True  # token blocks

    def demo_data(self, folder) -> dict:
        return demo_corpus(folder)

    def prepare(self, spec, run_dir) -> TaskData:
        from ..data.tokenizer import T5_KIND, sentinel_ids, special_token_id
        from .text_blocks import prepare_blocks

        lengths = self.lengths(spec)
        blocks = prepare_blocks(spec, run_dir, T5_KIND, lengths.block)
        pad = special_token_id(blocks.tokenizer, "pad_token", run_dir.tokenizer_dir) or 0
        config = {"vocab_size": blocks.vocab, "pad_token_id": pad, "eos_token_id": blocks.eos,
                  "decoder_start_token_id": pad}  # fmt: skip
        return TaskData(
            train={"input_ids": blocks.train},
            eval={"input_ids": blocks.held_out},
            tokens_per_example=lengths.inputs,
            model_config={
                **config,
                **spec.model_config(),
                "sentinel_ids": sentinel_ids(blocks.tokenizer, lengths.spans),
            },  # fmt: skip
            tokenizer_dir=run_dir.tokenizer_dir,
            summary=f"{blocks.summary}, corrupted to {lengths.inputs} input and "
            f"{lengths.targets} target tokens ({lengths.spans} spans)",
        )

    @staticmethod
    def lengths(spec) -> SpanLengths:
        return SpanLengths.for_inputs(spec.example_length(), spec.mlm_probability,
                                      spec.mean_noise_span_length)  # fmt: skip

    def build(self, spec, data: TaskData) -> TaskModel:
        import dataclasses

        import jax.numpy as jnp

        from ..models import token_loss
        from ..models.family import get_family
        from .base import weighted_sums
        from .span_corruption import corrupt, shift_right
        from .text_blocks import language_model, noise_and_dropout

        family = get_family(spec.model_type)
        start = family.start(spec, data.model_config, self.head)
        config = start.config
        module = start.module(spec)
        lengths = self.lengths(spec)
        sentinels_P = jnp.asarray(data.model_config["sentinel_ids"], jnp.int32)

        def projected(params, ids_BxN, rng):
            """What the decoder's logits are made of (the head called with project=False:
            the loss projects a chunk at a time, token_loss.py), and the targets [B, T]."""
            span_rng, rngs = noise_and_dropout(rng)  # evaluation: the same spans every time
            inputs, targets = corrupt(ids_BxN, span_rng, lengths, sentinels_P, config.eos_token_id)
            head = module.apply({"params": params}, inputs,
                                shift_right(targets, config.decoder_start_token_id),
                                rngs is None, project=False, rngs=rngs)  # fmt: skip
            return head, targets

        def loss(params, batch, rng):
            """The mean over the targets (as many in every example: the mean of each
            example's mean)."""
            head, targets_BxT = projected(params, batch["input_ids"], rng)
            return token_loss.mean_loss(head, targets_BxT, jnp.ones(targets_BxT.shape)), {}

        def eval_sums(params, batch):
            head, targets_BxT = projected(params, batch["input_ids"], None)
            losses_BxT, hits_BxT = token_loss.token_losses_and_hits(head, targets_BxT)
            return weighted_sums(batch["weights"], loss=losses_BxT.mean(-1),
                                 accuracy=hits_BxT.mean(-1))  # fmt: skip

        model = language_model(start, data, loss, eval_sums)
        flops = config.flops_per_example(lengths.inputs, self.head, targets=lengths.targets)
        return dataclasses.replace(model, flops_per_example=flops)


RECIPE = SpanCorruption()
