"""Text classification (run_flax_glue.py): single sentences or sentence pairs to classes,
or to a score (regression), with the GLUE metrics.

Encoder families read the first token ([CLS] / <s>), decoder families the last real one,
as transformers' *ForSequenceClassification do. Examples are framed and padded by the
tokenizer (data/sentence_pairs.py) to one length, so the step compiles once. A checkpoint
without this head (a masked-LM pre-training run's export, say) starts the body; the head
starts anew and the log says so. The export opens in AutoModelForSequenceClassification,
its tokenizer beside it framing as training did.
"""

from __future__ import annotations

from .base import TEXT_DATA_FIELDS, TaskData, TaskModel, weighted_sums

DEFAULT_LENGTH = 128  # run_flax_glue.py's --max_seq_length


class TextClassification:
    name = "text_classification"
    head = "sequence_classification"
    inputs = "text"
    script = "run_flax_glue.py"
    data_fields = (*TEXT_DATA_FIELDS, "sentence1_column", "sentence2_column", "label_column",
                   "max_seq_length")  # fmt: skip
    length_field = "max_seq_length"
    default_length = DEFAULT_LENGTH
    examples_in_files = False

    def demo_data(self, folder) -> dict:
        from ..data.demo_reviews import write_demo_reviews

        reviews = folder / "reviews.jsonl"
        if not reviews.exists():
            write_demo_reviews(reviews)
        return {"train_file": str(reviews)}

    def prepare(self, spec, run_dir) -> TaskData:
        from ..data import labelled_text, sentence_pairs
        from ..data.tokenizer import MASKED_LM_KIND
        from ..models.labels import ClassLabels
        from .text_blocks import run_tokenizer

        data = labelled_text.load_labelled_splits(spec)
        max_length = spec.example_length()
        texts = data.train.firsts + (data.train.seconds or [])
        tokenizer = run_tokenizer(spec, run_dir, texts, MASKED_LM_KIND, max_length)
        framed = sentence_pairs.with_framing(tokenizer)
        if framed is not tokenizer:  # saved framed: the export's AutoTokenizer frames alike
            framed.save(str(run_dir.tokenizer_dir / "tokenizer.json"))
        train, held_out = sentence_pairs.encode(
            framed,
            [(data.train.firsts, data.train.seconds), (data.eval.firsts, data.eval.seconds)],
            max_length,
        )
        config = {"vocab_size": framed.get_vocab_size(), **spec.model_config()}
        if config.get("pad_token_id") is None:  # decoders read the last token before it
            config["pad_token_id"] = sentence_pairs.pad_id(framed)
        length = train.input_ids.shape[1]
        return TaskData(
            train={**train.arrays(), "labels": data.train.labels},
            eval={**held_out.arrays(), "labels": data.eval.labels},
            tokens_per_example=length,
            model_config={**config, **ClassLabels(data.classes, data.regression).to_hf()},
            tokenizer_dir=run_dir.tokenizer_dir,
            summary=f"{data.summary}, padded to {length} tokens",
        )

    def build(self, spec, data: TaskData) -> TaskModel:
        import jax
        import jax.numpy as jnp
        import optax

        from ..models.family import get_family
        from ..models.labels import HF_KEYS
        from ..train import metrics
        from .text_blocks import copy_tokenizer

        family = get_family(spec.model_type)
        # This data's classes and padding id, whatever the checkpoint was trained for.
        keep = {k: data.model_config[k] for k in (*HF_KEYS, "pad_token_id")}
        start = family.start(spec, data.model_config, self.head, keep=keep)
        config = start.config
        module = start.module(spec)
        regression = config.labels.regression

        def losses_and_predictions(params, batch, rng):
            rngs = None if rng is None else {"dropout": rng}
            inputs = (batch["input_ids"], rng is None, batch["attention_mask"],
                      batch["token_type_ids"])  # fmt: skip
            logits_BxC = module.apply({"params": params}, *inputs, rngs=rngs)
            if regression:
                scores_B = logits_BxC[:, 0]
                return (scores_B - batch["labels"]) ** 2, scores_B
            losses_B = optax.softmax_cross_entropy_with_integer_labels(logits_BxC, batch["labels"])
            return losses_B, jnp.argmax(logits_BxC, -1)

        def loss(params, batch, rng):
            return losses_and_predictions(params, batch, rng)[0].mean(), {}

        def eval_sums(params, batch):
            losses_B, _ = losses_and_predictions(params, batch, None)
            return weighted_sums(batch["weights"], loss=losses_B)

        def eval_outputs(params, batch):
            # The same forward pass as eval_sums': XLA computes it once in the eval step.
            _, predictions_B = losses_and_predictions(params, batch, None)
            return {"prediction": predictions_B, "label": batch["labels"]}

        def eval_scores(outputs):
            if regression:
                return metrics.regression_scores(outputs["prediction"], outputs["label"])
            return metrics.classification_scores(
                outputs["prediction"], outputs["label"], config.num_labels
            )

        def export(params, directory):
            family.save(directory, config, jax.device_get(params), self.head)
            copy_tokenizer(data.tokenizer_dir, directory)

        return TaskModel(
            init_params=lambda rng: start.params(rng, data.tokens_per_example),
            loss=loss,
            eval_sums=eval_sums,
            eval_report=dict,
            flops_per_example=config.flops_per_example(data.tokens_per_example, self.head),
            param_count=config.param_count(self.head),
            export=export,
            eval_outputs=eval_outputs,
            eval_scores=eval_scores,
        )


RECIPE = TextClassification()
