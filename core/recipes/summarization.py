"""Summarization (run_summarization_flax.py): an encoder-decoder (T5) learns to write a
text's summary, teacher-forced, with optional label smoothing; evaluation reports the
teacher-forced loss and ROUGE of summaries it generates (greedy, or beam search with
--num_beams), in the eval step itself with fixed shapes so it compiles once.

Inputs are --source_prefix + text, truncated and padded to --max_source_length; summaries
to --max_target_length (--val_max_target_length for evaluation, which also bounds how many
tokens are generated).
"""

from __future__ import annotations

from ..errors import SpecError
from .base import TEXT_DATA_FIELDS, TaskData, TaskModel, weighted_sums


class Summarization:
    name = "summarization"
    head = "seq2seq_lm"
    inputs = "text"
    script = "run_summarization_flax.py"
    data_fields = (*TEXT_DATA_FIELDS, "text_column", "summary_column", "source_prefix",
                   "max_source_length", "max_target_length", "num_beams")  # fmt: skip
    length_field = "max_source_length"
    default_length = 1024  # the script's
    examples_in_files = False

    def demo_data(self, folder) -> dict:
        from ..data.demo_summaries import write_demo_summaries

        pairs = folder / "summaries.jsonl"
        if not pairs.exists():
            write_demo_summaries(pairs)
        # its stories are about 100 tokens, their summaries 20
        return {"train_file": str(pairs), "max_source_length": 128, "max_target_length": 32}

    @staticmethod
    def target_lengths(spec) -> tuple[int, int]:
        """Summary tokens in training and in evaluation (and generated there)."""
        return spec.max_target_length, spec.val_max_target_length or spec.max_target_length

    def check(self, spec, model) -> None:
        for flag, length in zip(("max_target_length", "val_max_target_length"),
                                self.target_lengths(spec), strict=True):  # fmt: skip
            if length > model.positions:
                raise SpecError(
                    f"--{flag} {length} is beyond the model's {model.positions} positions: "
                    f"lower --{flag}"
                )

    def prepare(self, spec, run_dir) -> TaskData:
        from ..data.summaries import encode, load_summary_splits
        from ..data.tokenizer import T5_KIND, eos_id, special_token_id
        from .text_blocks import run_tokenizer

        data = load_summary_splits(spec)
        source = spec.example_length()
        tokenizer = run_tokenizer(spec, run_dir, data.train.texts + data.train.summaries,
                                  T5_KIND, source)  # fmt: skip
        pad = special_token_id(tokenizer, "pad_token", run_dir.tokenizer_dir) or 0
        prefix = spec.source_prefix or ""
        arrays = {}
        for split, pairs, target in zip(("train", "eval"), (data.train, data.eval),
                                        self.target_lengths(spec), strict=True):  # fmt: skip
            ids, mask = encode(tokenizer, [prefix + text for text in pairs.texts], source, pad)
            labels, label_mask = encode(tokenizer, pairs.summaries, target, pad)
            arrays[split] = {"input_ids": ids, "attention_mask": mask, "labels": labels,
                             "label_mask": label_mask}  # fmt: skip
        config = {"vocab_size": tokenizer.get_vocab_size(), "pad_token_id": pad,
                  "eos_token_id": eos_id(tokenizer), "decoder_start_token_id": pad}  # fmt: skip
        return TaskData(
            train=arrays["train"],
            eval=arrays["eval"],
            tokens_per_example=source,
            model_config={**config, **spec.model_config()},
            tokenizer_dir=run_dir.tokenizer_dir,
            summary=f"{data.summary}; inputs of {source} tokens, summaries of "
            f"{' and '.join(map(str, dict.fromkeys(self.target_lengths(spec))))}",
        )

    def build(self, spec, data: TaskData) -> TaskModel:
        import dataclasses

        import jax.numpy as jnp
        import numpy as np

        from ..data.tokenizer import load_tokenizer
        from ..generation.decoder import Decoder
        from ..generation.search import Generator, Settings
        from ..models import token_loss
        from ..models.family import get_family
        from ..train.metrics import rouge_scores
        from .span_corruption import shift_right
        from .text_blocks import language_model

        family = get_family(spec.model_type)
        start = family.start(spec, data.model_config, self.head)
        config = start.config
        module = start.module(spec)

        smoothing = spec.label_smoothing_factor

        def projected(params, batch, rng):
            """What the decoder's logits are made of (the head called with project=False:
            the loss projects a chunk at a time, token_loss.py)."""
            rngs = None if rng is None else {"dropout": rng}
            decoder_ids = shift_right(batch["labels"], config.decoder_start_token_id)
            return module.apply({"params": params}, batch["input_ids"], decoder_ids, rng is None,
                                batch["attention_mask"], project=False, rngs=rngs)  # fmt: skip

        def loss(params, batch, rng):
            """The mean over the summaries' tokens (their padding weighs nothing)."""
            mask_BxT = batch["label_mask"]
            weights_BxT = mask_BxT / jnp.maximum(mask_BxT.sum(), 1)
            head = projected(params, batch, rng)
            return token_loss.weighted_loss(head, batch["labels"], weights_BxT,
                                            smoothing=smoothing), {}  # fmt: skip

        def eval_sums(params, batch):
            mask_BxT = batch["label_mask"]
            losses_BxT = token_loss.token_losses(projected(params, batch, None), batch["labels"],
                                                 smoothing)  # fmt: skip
            per_example = (losses_BxT * mask_BxT).sum(-1) / jnp.maximum(mask_BxT.sum(-1), 1)
            return weighted_sums(batch["weights"], loss=per_example)

        settings = Settings(max_new_tokens=self.target_lengths(spec)[1],
                            num_beams=spec.num_beams or 1, eos_token_id=config.eos_token_id,
                            pad_token_id=config.pad_token_id)  # fmt: skip
        generator = Generator(Decoder(family, config, self.head, spec.dtype), settings)

        def eval_outputs(params, batch):
            written = generator(params, batch["input_ids"], batch["attention_mask"])
            return {"written": written, "labels": batch["labels"]}

        tokenizer = load_tokenizer(data.tokenizer_dir)

        def eval_scores(outputs):
            written = tokenizer.decode_batch(outputs["written"].tolist(), skip_special_tokens=True)
            wanted = tokenizer.decode_batch(outputs["labels"].tolist(), skip_special_tokens=True)
            lengths = (outputs["written"] != config.pad_token_id).sum(-1)
            return {**rouge_scores(written, wanted), "gen_len": float(np.mean(lengths))}

        model = language_model(start, data, loss, eval_sums)
        flops = config.flops_per_example(data.tokens_per_example, self.head,
                                         targets=self.target_lengths(spec)[0])  # fmt: skip
        return dataclasses.replace(model, flops_per_example=flops, eval_outputs=eval_outputs,
                                   eval_scores=eval_scores)  # fmt: skip


RECIPE = Summarization()
