"""The mlm recipe: BERT masking as the HF collator does, trained from the CLI, and an
export that transformers' fill-mask pipeline runs."""

import json
import os

import jax
import numpy as np
import pytest

from tpudeck.core.errors import SpecError
from tpudeck.core.recipes.mlm import mask_tokens
from tpudeck.core.spec import RunSpec

from .builders import tpudeck

MASK_ID, SEPARATOR, PAD = 4, 3, 1
# A config's values are the whole model (HF's defaults fill what they leave out: a base model).
SMALL = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
         "intermediate_size": 128, "max_position_embeddings": 64}  # fmt: skip


@pytest.mark.parametrize("probability", [0.15, 0.4])  # HF's default, and --mlm_probability 0.4
def test_masking_picks_the_share_asked_and_masks_80_randomises_10_keeps_10(probability):
    ids = np.random.default_rng(0).integers(5, 500, (64, 512)).astype(np.int32)
    ids[:, ::10] = SEPARATOR
    ids[:, -50:] = PAD  # --line_by_line's padding
    keep = (SEPARATOR, PAD)
    masked, selected = (
        np.asarray(a) for a in mask_tokens(ids, jax.random.key(7), MASK_ID, 500, keep, probability)
    )
    assert not selected[np.isin(ids, keep)].any()  # separators and padding are never masked
    share = selected.sum() / (~np.isin(ids, keep)).sum()
    assert probability - 0.01 < share < probability + 0.01
    chosen, original = masked[selected], ids[selected]
    assert 0.78 < np.mean(chosen == MASK_ID) < 0.82
    assert 0.08 < np.mean(chosen == original) < 0.12
    assert 0.08 < np.mean((chosen != MASK_ID) & (chosen != original)) < 0.12
    assert (masked[~selected] == ids[~selected]).all()
    again, _ = mask_tokens(ids, jax.random.key(7), MASK_ID, 500, keep, probability)
    assert (np.asarray(again) == masked).all()  # a pure function of the key: resume is exact


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_the_chunked_loss_and_scores_are_the_whole_logits(demo_corpus, family):
    """The recipe's loss projects a chunk of tokens at a time (token_loss.py); its value,
    gradients and evaluation sums are those of the whole logits, padding and an example
    with nothing to mask included."""
    import jax.numpy as jnp
    import optax

    from tpudeck.core.models.family import get_family
    from tpudeck.core.recipes.base import TaskData
    from tpudeck.core.recipes.mlm import RECIPE
    from tpudeck.core.recipes.text_blocks import noise_and_dropout

    spec = RunSpec(recipe="mlm", model_type=family, model_size="demo", max_seq_length=32,
                   train_file=str(demo_corpus), mlm_probability=0.3)  # fmt: skip
    ids = np.array(jax.random.randint(jax.random.key(0), (4, 32), 5, 96), np.int32)
    ids[1, 20:] = PAD  # a short line, padded
    ids[3] = SEPARATOR  # nothing it may mask
    keep = (SEPARATOR, PAD)
    values = {"vocab_size": 96, "pad_token_id": PAD, "mask_token_id": MASK_ID,
              "unmasked_ids": keep, "padding_id": PAD, **SMALL}  # fmt: skip
    data = TaskData({"input_ids": ids}, {"input_ids": ids}, 32, values, None, "")
    model = RECIPE.build(spec, data)
    module = get_family(family).start(spec, values, "masked_lm").module(spec)
    params = model.init_params(jax.random.key(1))

    def whole(params, rng):  # the recipe as it was: the whole logits, per-example means
        mask_rng, rngs = noise_and_dropout(rng)
        masked, selected = mask_tokens(jnp.asarray(ids), mask_rng, MASK_ID, 96, keep, 0.3)
        logits = module.apply({"params": params}, masked, rngs is None, ids != PAD, rngs=rngs)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, ids)
        count = jnp.maximum(selected.sum(-1), 1)
        hits = (jnp.argmax(logits, -1) == ids) & selected
        return (losses * selected).sum(-1) / count, hits.sum(-1) / count

    rng = jax.random.key(2)
    loss, grads = jax.value_and_grad(lambda p: model.loss(p, {"input_ids": ids}, rng)[0])(params)
    expected, expected_grads = jax.value_and_grad(lambda p: whole(p, rng)[0].mean())(params)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), grads, expected_grads)
    weights = jnp.array([1.0, 1.0, 0.0, 1.0])  # the third: the last batch's padding
    sums = model.eval_sums(params, {"input_ids": ids, "weights": weights})
    losses, accuracy = whole(params, None)
    np.testing.assert_allclose(sums["loss"], (losses * weights).sum(), rtol=1e-5)
    np.testing.assert_allclose(sums["accuracy"], (accuracy * weights).sum(), rtol=1e-6)
    assert losses[3] == 0 and sums["weight"] == 3


def test_roberta_blocks_leave_room_for_its_position_offset(demo_corpus):
    spec = RunSpec(
        recipe="mlm", model_type="roberta", model_size="demo", train_file=str(demo_corpus)
    )
    assert spec.example_length() == 128  # 130 positions, the first two before any token
    with pytest.raises(SpecError, match="larger than the model's 128 positions"):
        spec.replace(max_seq_length=130)


def test_mlm_spec_errors_name_the_fix(demo_corpus):
    with pytest.raises(SpecError, match="recipe 'mlm' trains bert, roberta, not 'gpt2'"):
        RunSpec(recipe="mlm", train_file=str(demo_corpus)).validate()
    with pytest.raises(
        SpecError, match="--max_seq_length 256 is larger than the model's 128 positions"
    ):
        RunSpec(recipe="mlm", model_type="bert", model_size="demo", max_seq_length=256,
                train_file=str(demo_corpus)).validate()  # fmt: skip
    with pytest.raises(SpecError, match=r"mlm takes --max_seq_length \(as run_mlm_flax.py "
                       r"names it\), not --block_size: pass that instead"):  # fmt: skip
        RunSpec(recipe="mlm", model_type="bert", block_size=64,
                train_file=str(demo_corpus)).validate()  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("family", "examples"), [("bert", "packed"), ("roberta", "line_by_line")])
def test_train_with_mlm_and_fill_masks_with_transformers(tmp_path, demo_corpus, family, examples):
    from transformers import AutoModelForMaskedLM, AutoTokenizer, pipeline

    run = tmp_path / "run"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    lines = ["--line_by_line"] if examples == "line_by_line" else []
    result = tpudeck("train", "--recipe", "mlm", "--model_type", family, "--model_size", "demo",
                     "--train_file", str(demo_corpus), "--vocab_size", "512", "--max_seq_length", "64",
                     *lines, "--max_steps", "150", "--logging_steps", "25", "--eval_steps", "75",
                     "--learning_rate", "3e-3", "--warmup_steps", "20", "--dropout", "0",
                     "--platform", "cpu", "--output_dir", str(run), env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    kind = "lines padded to" if lines else "blocks of"
    assert f"validation {kind} 64 tokens" in result.stderr
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    evals = [e for e in events if e["kind"] == "eval"]
    assert evals[-1]["loss"] < np.log(512) - 1 and evals[-1]["accuracy"] > 0.1
    assert evals[-1]["loss"] < evals[0]["loss"]
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    assert tokenizer.mask_token == "<mask>"
    if lines:  # the export frames a text as the training lines were: <s> ... </s>
        framed = tokenizer.convert_ids_to_tokens(tokenizer("On Friday")["input_ids"])
        assert (framed[0], framed[-1]) == ("<s>", "</s>")
    model = AutoModelForMaskedLM.from_pretrained(run / "model").eval()
    assert model.config.model_type == family
    guesses = pipeline("fill-mask", model=model, tokenizer=tokenizer)(
        "On Friday the old <mask> went to the market."
    )
    assert len(guesses) == 5 and all(g["token_str"] for g in guesses)


async def test_the_launch_screen_sizes_an_mlm_run(demo_corpus):
    from tpudeck.tui.app import TpudeckApp

    from .builders import judged, text_of, wait_for

    app = TpudeckApp(launch_values={"train_file": str(demo_corpus), "max_seq_length": 64})
    async with app.run_test(size=(140, 45)) as pilot:
        assert not app.screen.query_one("#line_by_line").display  # clm's form has no such choice
        app.screen.query_one("#recipe").value = "mlm"
        await wait_for(pilot, lambda: "mlm bert-" in text_of(app, "#summary"), 10)
        await judged(pilot)  # the summary of the family the recipe picked, not the recipe's
        assert app.screen.query_one("#model_type").value == "bert"
        assert "of 64 tokens" in text_of(app, "#summary")
        assert "ready to launch" in text_of(app, "#error")
        assert app.screen.query_one("#line_by_line").display
