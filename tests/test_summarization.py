"""Summarization (run_summarization_flax.py) end to end: a tiny T5 learns the generated
demo task on 8 CPU devices, its ROUGE-L clearly beats the untrained model's, evaluation
generates with beam search inside the eval step, and the export's `generate` in
transformers writes the same summaries. Bad inputs are one line before the accelerator."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from tpudeck.core.registry import get_recipe
from tpudeck.core.spec import RunSpec

from .builders import one_line_error, tpudeck


@pytest.fixture(scope="module")
def trained(trained_demo):
    """The summarization demo, 100 steps, evaluated with beam 2 on 48 examples."""
    return trained_demo("summarization")


@pytest.mark.slow
def test_rouge_after_training_clearly_beats_the_untrained_model(trained):
    assert "8 x cpu" in trained.log_path.read_text()
    [evaluation] = trained.read_events("eval")
    spec = RunSpec.load(trained.path / "spec.json")
    recipe = get_recipe("summarization")
    data = recipe.prepare(spec, trained)  # the run's own tokenizer, read again
    model = recipe.build(spec, data)
    untrained = model.eval_outputs(model.init_params(jax.random.key(0)),
                                   {k: v[:48] for k, v in data.eval.items()})  # fmt: skip
    before = model.eval_scores(jax.device_get(untrained))
    assert evaluation["rougeL"] > 70 and evaluation["rougeL"] > before["rougeL"] + 40
    assert {"rouge1", "rouge2", "rougeLsum", "gen_len", "loss"} <= set(evaluation)


@pytest.mark.slow
def test_the_export_generates_the_same_summaries_in_transformers(trained):
    import torch
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    from tpudeck.core.generation.decoder import Decoder
    from tpudeck.core.generation.search import Generator, Settings
    from tpudeck.core.models.family import get_family

    tokenizer = AutoTokenizer.from_pretrained(trained.model_dir)
    theirs = T5ForConditionalGeneration.from_pretrained(trained.model_dir).eval()
    t5 = get_family("t5")
    config, params = t5.load(trained.model_dir)
    pairs = Path(RunSpec.load(trained.path / "spec.json").train_file).read_text().splitlines()
    rows = [json.loads(line) for line in pairs]
    texts, references = [row["text"] for row in rows[:4]], [row["summary"] for row in rows[:4]]
    batch = tokenizer(texts, return_tensors="np", padding=True)
    settings = Settings(max_new_tokens=32, num_beams=2, eos_token_id=config.eos_token_id,
                        pad_token_id=config.pad_token_id)  # fmt: skip
    ours = Generator(Decoder(t5, config, "seq2seq_lm"), settings)(
        params, batch["input_ids"], batch["attention_mask"]
    )
    with torch.no_grad():
        out = theirs.generate(torch.tensor(batch["input_ids"]),
                              attention_mask=torch.tensor(batch["attention_mask"]),
                              max_new_tokens=32, num_beams=2, early_stopping=False)  # fmt: skip
    written = tokenizer.batch_decode(out, skip_special_tokens=True)
    assert tokenizer.batch_decode(np.asarray(ours), skip_special_tokens=True) == written
    for summary, reference in zip(written, references, strict=True):  # the task was learnt
        assert summary.startswith("The ") and summary.endswith(".")
        assert len(set(summary.split()) & set(reference.split())) >= 6, (summary, reference)


def demo_line(tmp_path, *flags: str) -> str:
    return one_line_error(tpudeck("train", "--demo", "--recipe", "summarization", *flags,
                                  "--output_dir", str(tmp_path / "run")))  # fmt: skip


def test_bad_inputs_are_one_line_before_the_accelerator(tmp_path):
    texts = tmp_path / "articles.jsonl"
    texts.write_text(json.dumps({"article": "a long text", "highlights": "short"}) + "\n")
    missing = demo_line(tmp_path, "--train_file", str(texts), "--text_column", "body")
    assert "has no column 'body' (columns: article, highlights); pass --text_column" in missing
    no_summary = demo_line(tmp_path, "--train_file", str(texts), "--summary_column", "abstract")
    assert "has no column 'abstract' (columns: article, highlights)" in no_summary
    reach = demo_line(tmp_path, "--max_target_length", "600")
    assert "--max_target_length 600 is beyond the model's 512 positions" in reach
    beams = demo_line(tmp_path, "--num_beams", "0")
    assert "--num_beams must be at least 1" in beams
    assert not (tmp_path / "run").exists()


async def test_run_screen_shows_rouge_beside_the_loss_of_a_summarizer(tpudeck_home):
    from tpudeck.tui.app import TpudeckApp

    from .builders import make_run, text_of, wait_for

    run = make_run(tpudeck_home, "20260101-000000-t5-0001", "training")
    run.emit("eval", step=200, loss=0.0404, rouge1=93.92, rouge2=86.1, rougeL=93.9,
             rougeLsum=93.9, gen_len=19.8)  # fmt: skip
    app = TpudeckApp()
    async with app.run_test(size=(140, 45)) as pilot:
        app.open_run(run.run_id)
        await wait_for(pilot, lambda: "ROUGE-L 93.9" in text_of(app, "#summary"), 10)
        summary = text_of(app, "#summary")
        assert "eval 0.0404" in summary and "ROUGE-1 93.9" in summary
        assert "ROUGE-2 86.1" in summary
