"""Masked language modelling (run_mlm_flax.py): BERT or RoBERTa learns to restore masked
tokens.

Each text is framed as the tokenizer frames one (<s> ... </s>, as run_mlm_flax.py's
tokenizer call does) and the texts packed into blocks; or with --line_by_line each
non-empty line (row) is an example of its own, truncated and padded, attention kept off
the padding. Masking happens on the device, inside the step, from the step's own random key:
15% of the tokens (never the document separators, framing or padding) are chosen; of those 80% become <mask>, 10% a
random token and 10% stay, as in BERT and the HF data collator. A step's masks are thus a
pure function of (seed, step), which keeps resume exact; evaluation uses one fixed key.
"""

from __future__ import annotations

from ..errors import DataError
from .base import TEXT_DATA_FIELDS, TaskData, TaskModel, demo_corpus


def mask_tokens(ids_BxL, rng, mask_id: int, vocab_size: int, keep_ids: tuple[int, ...],
                probability: float):  # fmt: skip
    """(ids with masking applied, which positions the loss reads): `probability` of the
    tokens (never `keep_ids`) are picked; of those 80% become the mask, 10% a random token,
    10% stay."""
    import jax
    import jax.numpy as jnp

    choose, action, random_ids = jax.random.split(rng, 3)
    maskable = ~jnp.isin(ids_BxL, jnp.asarray(keep_ids, ids_BxL.dtype))
    selected = (jax.random.uniform(choose, ids_BxL.shape) < probability) & maskable
    roll = jax.random.uniform(action, ids_BxL.shape)
    replacement = jax.random.randint(random_ids, ids_BxL.shape, 0, vocab_size)
    masked = jnp.where(selected & (roll < 0.8), mask_id, ids_BxL)
    masked = jnp.where(selected & (roll >= 0.8) & (roll < 0.9), replacement, masked)
    return masked, selected


class MaskedLM:
    name = "mlm"
    head = "masked_lm"
    inputs = "text"
    script = "run_mlm_flax.py"
    data_fields = (*TEXT_DATA_FIELDS, "text_column", "max_seq_length", "mlm_probability",
                   "line_by_line", "streaming")  # fmt: skip
    length_field = "max_seq_length"  # run_mlm_flax.py's name for the block size
    default_length = None
    examples_in_files = True  # token blocks

    def demo_data(self, folder) -> dict:
        return demo_corpus(folder)

    def prepare(self, spec, run_dir) -> TaskData:
        from ..data.tokenizer import MASKED_LM_KIND, special_token_id
        from .text_blocks import prepare_blocks

        blocks = prepare_blocks(spec, run_dir, MASKED_LM_KIND, framed=True, lines=spec.line_by_line)
        ids = {
            role: special_token_id(blocks.tokenizer, role, run_dir.tokenizer_dir)
            for role in ("mask_token", "pad_token")
        }  # the tokenizer's own: RoBERTa's <mask>, BERT's [MASK], or as its config names it
        if ids["mask_token"] is None:
            raise DataError(
                "the tokenizer has no mask token (<mask>, [MASK], or a mask_token in its "
                "tokenizer_config.json) to mask with; pass a masked-LM tokenizer, or omit "
                "--tokenizer_name to train one here"
            )
        config = {"vocab_size": blocks.vocab, "pad_token_id": ids["pad_token"] or 0}
        padding = () if blocks.pad is None else (blocks.pad,)
        return TaskData(
            train={"input_ids": blocks.train},
            eval={"input_ids": blocks.held_out},
            tokens_per_example=blocks.block_size,
            model_config={
                **config,
                **spec.model_config(),
                "mask_token_id": ids["mask_token"],
                # never masked: what the texts are joined or framed with, and the padding
                "unmasked_ids": tuple(dict.fromkeys((blocks.eos, *blocks.framing, *padding))),
                "padding_id": blocks.pad,  # --line_by_line's; packed blocks have none
            },  # fmt: skip
            tokenizer_dir=run_dir.tokenizer_dir,
            summary=blocks.summary,
        )

    def build(self, spec, data: TaskData) -> TaskModel:
        import jax.numpy as jnp

        from ..models import token_loss
        from ..models.family import get_family
        from .base import weighted_sums
        from .text_blocks import language_model, noise_and_dropout

        family = get_family(spec.model_type)
        start = family.start(spec, data.model_config, self.head)
        config = start.config
        module = start.module(spec)
        mask_id, keep_ids = data.model_config["mask_token_id"], data.model_config["unmasked_ids"]
        padding = data.model_config["padding_id"]

        def projected(params, ids_BxL, rng):
            """What the logits are made of (the head called with project=False: the loss
            projects a chunk at a time, token_loss.py), which positions were masked, and
            each example's count of them (at least 1)."""
            mask_rng, rngs = noise_and_dropout(rng)  # evaluation: the same masks every time
            masked, selected = mask_tokens(ids_BxL, mask_rng, mask_id, config.vocab_size,
                                           tuple(keep_ids), spec.mlm_probability)  # fmt: skip
            real_BxL = None if padding is None else ids_BxL != padding  # attend to text only
            head = module.apply({"params": params}, masked, rngs is None, real_BxL,
                                project=False, rngs=rngs)  # fmt: skip
            return head, selected, jnp.maximum(selected.sum(-1, keepdims=True), 1)

        def loss(params, batch, rng):
            """The mean over examples of each one's mean loss over its masked positions."""
            ids_BxL = batch["input_ids"]
            head, selected, count_Bx1 = projected(params, ids_BxL, rng)
            weights_BxL = selected / count_Bx1 / len(ids_BxL)
            return token_loss.weighted_loss(head, ids_BxL, weights_BxL), {}

        def eval_sums(params, batch):
            ids_BxL = batch["input_ids"]
            head, selected, count_Bx1 = projected(params, ids_BxL, None)
            losses_BxL, hits_BxL = token_loss.token_losses_and_hits(head, ids_BxL)
            return weighted_sums(
                batch["weights"],
                loss=(losses_BxL * selected / count_Bx1).sum(-1),
                accuracy=(hits_BxL & selected).sum(-1) / count_Bx1[:, 0],
            )

        return language_model(start, data, loss, eval_sums)


RECIPE = MaskedLM()
