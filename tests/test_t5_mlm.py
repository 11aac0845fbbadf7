"""T5 span corruption as run_t5_mlm_flax.py has it (lengths, spans, sentinels), on the
device; and the t5_mlm recipe end to end: a tiny run whose export opens in transformers."""

import jax
import numpy as np
import pytest

from tpudeck.core.data.tokenizer import train_byte_level_bpe
from tpudeck.core.recipes.span_corruption import SpanLengths, corrupt

from .builders import one_line_error, tpudeck

SENTINEL_BASE = 1000  # sentinel n is SENTINEL_BASE - n, as T5's <extra_id_n> count down
EOS = 1


@pytest.mark.parametrize(
    ("inputs", "density", "mean", "block", "targets"),
    [
        (512, 0.15, 3.0, 568, 114),  # t5-base pre-training: the script's own numbers
        (128, 0.15, 3.0, 141, 29),
        (64, 0.5, 3.0, 94, 64),
    ],  # fmt: skip
)
def test_block_lengths_make_corrupted_inputs_exactly_max_seq_length(
    inputs, density, mean, block, targets
):
    lengths = SpanLengths.for_inputs(inputs, density, mean)
    assert (lengths.block, lengths.inputs, lengths.targets) == (block, inputs, targets)


def corrupted(lengths: SpanLengths, examples: int, seed: int = 0):
    ids = np.arange(2, 2 + lengths.block, dtype=np.int32)[None].repeat(examples, 0)
    sentinels = SENTINEL_BASE - np.arange(lengths.spans, dtype=np.int32)
    inputs, targets = jax.jit(corrupt, static_argnums=(2, 4))(
        ids, jax.random.key(seed), lengths, sentinels, EOS
    )
    return ids, np.asarray(inputs), np.asarray(targets)


def restore(inputs, targets) -> list[int]:
    """The block from its corrupted form: each sentinel in the inputs replaced by the
    tokens after the same sentinel in the targets."""
    spans, current = {}, None
    for token in targets[:-1]:
        if token > SENTINEL_BASE - 100:
            current = spans.setdefault(token, [])
        else:
            current.append(token)
    out = []
    for token in inputs[:-1]:
        out.extend(spans[token] if token > SENTINEL_BASE - 100 else [token])
    return out


def test_spans_have_the_asked_density_and_length_and_restore_the_block():
    lengths = SpanLengths.for_inputs(128, 0.15, 3.0)
    ids, inputs, targets = corrupted(lengths, 500)
    assert inputs.shape == (500, 128) and targets.shape == (500, lengths.targets)
    assert (inputs[:, -1] == EOS).all() and (targets[:, -1] == EOS).all()
    span_tokens = []
    for row in range(500):
        is_sentinel = inputs[row] > SENTINEL_BASE - 100
        # sentinels in order, <extra_id_0> first, in the inputs and the targets alike
        expected = list(SENTINEL_BASE - np.arange(lengths.spans))
        assert list(inputs[row][is_sentinel]) == expected
        assert list(targets[row][targets[row] > SENTINEL_BASE - 100]) == expected
        assert restore(inputs[row], targets[row]) == list(ids[row])
        span_tokens.append(len(targets[row]) - 1 - lengths.spans)
    noise = np.mean(span_tokens) / lengths.block
    assert abs(noise - 0.15) < 0.01  # the asked density
    assert abs(np.mean(span_tokens) / lengths.spans - 3.0) < 0.1  # the mean span length
    first_spans = {int(np.argmax(row > SENTINEL_BASE - 100)) for row in inputs}
    assert len(first_spans) > 20  # spans fall in many places, drawn per example


def test_a_steps_spans_are_a_pure_function_of_its_key():
    lengths = SpanLengths.for_inputs(64, 0.15, 3.0)
    _, once, _ = corrupted(lengths, 4, seed=7)
    _, again, _ = corrupted(lengths, 4, seed=7)
    _, other, _ = corrupted(lengths, 4, seed=8)
    np.testing.assert_array_equal(once, again)
    assert not np.array_equal(once, other)


@pytest.mark.slow
def test_a_tiny_span_corruption_run_exports_a_t5_that_transformers_opens(trained_demo):
    import jax.numpy as jnp
    import torch
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    from tpudeck.core.models.family import get_family

    run = trained_demo("t5_mlm")  # 100 steps, evaluated on 48 examples
    assert "8 x cpu" in run.log_path.read_text()  # the step ran over 8 devices
    [evaluation] = run.read_events("eval")
    assert evaluation["accuracy"] > 0.25 and evaluation["loss"] < 3.0
    tokenizer = AutoTokenizer.from_pretrained(run.model_dir)
    text = "On Monday Ada and the <extra_id_0> cat went to the <extra_id_1>."
    batch = tokenizer(text, return_tensors="pt")
    assert batch.input_ids[0, -1] == tokenizer.eos_token_id  # </s> appended, as T5's
    theirs = T5ForConditionalGeneration.from_pretrained(run.model_dir).eval()
    decoder_ids = torch.tensor([[0, tokenizer.convert_tokens_to_ids("<extra_id_0>"), 5, 6]])
    with torch.no_grad():
        logits = theirs(**batch, decoder_input_ids=decoder_ids).logits.numpy()
    t5 = get_family("t5")
    config, params = t5.load(run.model_dir)
    ours = t5.module(config).apply({"params": params}, jnp.asarray(batch.input_ids.numpy()),
                                   jnp.asarray(decoder_ids.numpy()))  # fmt: skip
    np.testing.assert_allclose(np.asarray(ours), logits, atol=1e-4)
    # trained on span corruption: the first thing it writes is the first sentinel
    written = theirs.generate(**batch, max_new_tokens=3)[0].tolist()
    assert written[1] == tokenizer.convert_tokens_to_ids("<extra_id_0>")


def test_a_tokenizer_without_sentinels_is_one_line_before_the_accelerator(tmp_path, demo_corpus):
    texts = demo_corpus.read_text().splitlines()
    train_byte_level_bpe(texts, 300, tmp_path / "bpe", 64)
    result = tpudeck("train", "--recipe", "t5_mlm", "--model_type", "t5", "--model_size", "demo",
                     "--train_file", str(demo_corpus), "--tokenizer_name", str(tmp_path / "bpe"),
                     "--max_seq_length", "64", "--output_dir", str(tmp_path / "run"))  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "the tokenizer has 0 sentinel tokens (<extra_id_N>) but span corruption needs 3" in (
        one_line_error(result)
    )
    assert "holding the accelerator lock" not in result.stdout + result.stderr
