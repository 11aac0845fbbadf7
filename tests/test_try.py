"""`tpudeck try`: a run's model (or any checkpoint folder) run on an input by the task its
head does, printed or as JSON; generated text streams as it is produced; it never takes
the accelerator from a run (held: the CPU, said in one line) and holds the run lock while
it uses it; bad inputs are one line."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from tpudeck.core.data.tokenizer import train_unigram
from tpudeck.core.errors import DataError
from tpudeck.core.models.family import get_family
from tpudeck.core.runs.lock import AcceleratorLock
from tpudeck.core.runs.queue import RunQueue, ticket
from tpudeck.core.runs.rundir import RunDir
from tpudeck.core.trying.model import Generation, TriedModel

from .builders import THING_COLOURS, make_run, one_line_error, tpudeck

PROMPT = "On Monday Ada and the small cat went to the"


def test_a_runs_model_generates_the_same_text_streamed_printed_and_as_json(finished_run):
    args = ("try", str(finished_run), "--text", PROMPT, "--max_new_tokens", "12")
    printed, as_json = tpudeck(*args), tpudeck(*args, "--json")
    assert printed.returncode == 0 and as_json.returncode == 0, printed.stderr + as_json.stderr
    answer = json.loads(as_json.stdout.splitlines()[-1])
    assert answer["task"] == "text-generation" and answer["model"].endswith("model")
    written = answer["result"]["text"]
    assert written and printed.stdout.strip() == written.strip()
    pieces = []
    result = TriedModel(finished_run / "model").generate(PROMPT, Generation(max_new_tokens=12),
                                                          pieces.append)  # fmt: skip
    assert result["text"] == written
    assert len(pieces) in (result["tokens"], result["tokens"] + 1)  # one per step, its end too
    assert all(
        later.startswith(earlier) for earlier, later in zip(pieces, pieces[1:], strict=False)
    )
    assert pieces[-1] == written  # streamed piece by piece, ending with the whole text


def test_a_held_or_awaited_accelerator_sends_the_model_to_the_cpu_and_a_free_one_is_locked(
    finished_run, tpudeck_home
):
    lock = AcceleratorLock(tpudeck_home)
    assert lock.try_acquire("20260101-000000-someones-run")
    held = tpudeck("try", str(finished_run), "--text", PROMPT, "--max_new_tokens", "4")
    lock.release()
    assert held.returncode == 0, held.stderr
    assert "the accelerator is held by run 20260101-000000-someones-run of" in held.stderr
    assert "trying on the CPU" in held.stderr
    queue = RunQueue(tpudeck_home)
    queue.add("20260101-000000-waiting-run", ticket())  # a run waits: trying must not go first
    waited = tpudeck("try", str(finished_run), "--text", PROMPT, "--max_new_tokens", "4")
    queue.remove("20260101-000000-waiting-run")
    assert "1 run(s) wait for the accelerator: trying on the CPU" in waited.stderr
    free = tpudeck("try", str(finished_run), "--text", PROMPT, "--max_new_tokens", "4")
    assert free.returncode == 0 and "CPU" not in free.stderr
    log = [json.loads(line) for line in lock.log_path.read_text().splitlines()]
    tried = [e for e in log if str(e.get("run_id")).startswith("try-")]
    assert [e["event"] for e in tried] == ["acquired", "released"]  # held while it ran
    assert not lock.is_held()


def test_bad_inputs_are_one_line(finished_run, tpudeck_home, tmp_path):
    empty = tpudeck("try", str(finished_run), "--text", "  ")
    assert empty.returncode == 2 and "the prompt is empty" in one_line_error(empty)
    long = tpudeck("try", str(finished_run), "--text", PROMPT * 40, "--max_new_tokens", "8")
    assert long.returncode == 0
    assert "the input was cut to the last 120 of its" in long.stderr  # 128 positions - 8
    make_run(tpudeck_home, "20260101-000000-young-0001", "training")
    young = one_line_error(tpudeck("try", "20260101-000000-young-0001", "--text", PROMPT))
    assert "run 20260101-000000-young-0001 has no model yet" in young
    nowhere = one_line_error(tpudeck("try", str(tmp_path / "nothing"), "--text", PROMPT))
    assert "is not a checkpoint folder or Hub id, and no run" in nowhere


def test_an_image_classifier_says_which_image_it_cannot_read(tmp_path):
    vit = get_family("vit")
    config = vit.config({"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                         "intermediate_size": 64, "image_size": 32, "patch_size": 8,
                         "id2label": {"0": "cat", "1": "dog"}})  # fmt: skip
    vit.save(tmp_path / "vit", config, vit.init_params(config, jax.random.key(0), 1))
    (tmp_path / "notes.txt").write_text("not an image")
    bad = tpudeck("try", str(tmp_path / "vit"), "--image", str(tmp_path / "notes.txt"))
    assert bad.returncode == 2 and "cannot be read as an image" in one_line_error(bad)
    from PIL import Image

    Image.new("RGB", (40, 40), (200, 30, 30)).save(tmp_path / "red.png")
    labels = TriedModel(tmp_path / "vit").classify_image(tmp_path / "red.png")
    assert sorted(row["label"] for row in labels) == ["cat", "dog"]
    assert abs(sum(row["score"] for row in labels) - 1) < 1e-5


@pytest.mark.parametrize("beams", [1, 2])
def test_prompts_in_one_length_bucket_share_one_compiled_search_and_answer_as_unpadded(
    finished_run_template, beams
):
    """Typed prompts are right-padded to 16, 32, ... tokens: two prompts of other lengths
    compile the search once, and each answers as the search does on the unpadded prompt."""
    model = TriedModel(RunDir(finished_run_template).model_dir)
    texts = ("On Monday", PROMPT)  # 2 and 10 tokens: one bucket of 16
    answers = [model.generate(t, Generation(max_new_tokens=8, num_beams=beams)) for t in texts]
    (generator,) = model._generators.values()
    assert generator._search._cache_size() == 1
    for text, answer in zip(texts, answers, strict=True):
        ids = np.asarray([model.tokenizer.encode(text, add_special_tokens=False).ids], np.int32)
        unpadded = model._until_end(np.asarray(generator(model.params, ids))[0])
        assert answer["text"] == model.tokenizer.decode(unpadded, skip_special_tokens=True)


def test_a_t5_summarizes_with_beam_search_and_streams_its_greedy_text(tmp_path, demo_corpus):
    texts = demo_corpus.read_text().splitlines()[:400]
    tokenizer = train_unigram(texts, 300, tmp_path / "t5", 64)
    t5 = get_family("t5")
    config = t5.config({**t5.descriptor.sizes["demo"], "vocab_size": tokenizer.get_vocab_size()})
    t5.save(tmp_path / "t5", config, t5.init_params(config, jax.random.key(0), 8))
    model = TriedModel(tmp_path / "t5")
    assert model.task == "summarization"
    pieces = []
    greedy = model.generate(texts[0], Generation(max_new_tokens=6), pieces.append)
    assert pieces[-1] == greedy["text"] and greedy["tokens"] <= 6
    beams = model.generate(texts[0], Generation(max_new_tokens=6, num_beams=3))
    assert beams["tokens"] <= 6 and isinstance(beams["text"], str)
    with pytest.raises(DataError, match="the prompt is empty"):
        model.generate("", Generation())


@pytest.mark.parametrize(
    ("architecture", "family", "widget"),
    [("RobertaForMaskedLM", "roberta", 'pipeline_tag: fill-mask\nwidget:\n- text: "On Monday <mask>'),
     ("T5ForConditionalGeneration", "t5", 'pipeline_tag: summarization\nwidget:\n- text: "On'),
     ("ViTForImageClassification", "vit", "pipeline_tag: image-classification\ntags:")],
)  # fmt: skip
def test_the_pushed_card_names_the_task_and_an_example_for_the_hub_widget(
    architecture, family, widget, tmp_path
):
    from tpudeck.core.hub.card import model_card
    from tpudeck.core.runs.rundir import RunDir

    (tmp_path / "data.txt").write_text("\nOn Monday Ada went\n")
    run = RunDir(tmp_path / "run")
    run.create(json.dumps({"model_type": family, "train_file": str(tmp_path / "data.txt")}))
    run.model_dir.mkdir()
    config = {"model_type": family, "architectures": [architecture]}
    (run.model_dir / "config.json").write_text(json.dumps(config))
    (run.model_dir / "tokenizer_config.json").write_text(json.dumps({"mask_token": "<mask>"}))
    assert widget in model_card(run, "tester/model")


async def test_the_try_screen_streams_a_runs_model_in_its_own_process(
    finished_run_template, tpudeck_home
):
    import shutil

    from tpudeck.tui.app import TpudeckApp

    from .builders import open_try, text_of, wait_for

    run_id = "20260101-000000-demo-gpt2-0001"
    shutil.copytree(finished_run_template, tpudeck_home / "runs" / run_id, symlinks=True)
    expected = TriedModel(tpudeck_home / "runs" / run_id / "model").generate(PROMPT)["text"]
    app = TpudeckApp()
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await open_try(pilot, app, "text-generation")
        assert "on the cpu" in text_of(app, "#try-status")
        assert AcceleratorLock(tpudeck_home).is_held()  # the worker holds it while open
        await pilot.press(*PROMPT, "enter")
        await wait_for(pilot, lambda: text_of(app, "#try-answer").strip() == expected.strip(), 60)
        assert screen.query_one("#pane-try").pieces >= 2  # it came in pieces, as produced
        await pilot.press("escape")
        await wait_for(pilot, lambda: not AcceleratorLock(tpudeck_home).is_held(), 20)


async def test_the_run_screen_opens_try_and_a_run_without_a_model_says_so(
    finished_run_template, tpudeck_home
):
    import shutil

    from tpudeck.tui.app import TpudeckApp
    from tpudeck.tui.screens.run import RunScreen
    from tpudeck.tui.screens.try_model import TryScreen

    from .builders import wait_for

    shutil.copytree(finished_run_template, tpudeck_home / "runs" / "20260101-000000-done-0001")
    make_run(tpudeck_home, "20260101-000000-young-0001", "training")
    app = TpudeckApp()
    async with app.run_test(size=(140, 45)) as pilot:
        app.open_run("20260101-000000-young-0001")
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause(0.5)
        assert isinstance(app.screen, RunScreen)  # nothing to try: a note instead
        await pilot.press("escape")
        app.open_run("20260101-000000-done-0001")
        await pilot.pause()
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TryScreen), 10)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), 10)


def test_fill_mask_and_classification_answer_with_the_models_own_tokens_and_labels(
    tmp_path, demo_corpus
):
    from tpudeck.core.data.tokenizer import MASKED_LM_KIND, train_byte_level_bpe

    texts = demo_corpus.read_text().splitlines()[:400]
    tokenizer = train_byte_level_bpe(texts, 400, tmp_path / "mlm", 64, MASKED_LM_KIND)
    roberta = get_family("roberta")
    values = {**roberta.descriptor.sizes["demo"], "vocab_size": tokenizer.get_vocab_size(),
              "id2label": {"0": "negative", "1": "positive"}}  # fmt: skip
    for head in ("masked_lm", "sequence_classification"):
        config = roberta.config(values)
        params = roberta.init_params(config, jax.random.key(0), 8, head)
        roberta.save(tmp_path / head, config, params, head)
        train_byte_level_bpe(texts, 400, tmp_path / head, 64, MASKED_LM_KIND)
    filled = tpudeck("try", str(tmp_path / "masked_lm"), "--json",
                     "--text", "On Monday Ada and the <mask> cat went to the forest.")  # fmt: skip
    assert filled.returncode == 0, filled.stderr
    answer = json.loads(filled.stdout.splitlines()[-1])
    assert answer["task"] == "fill-mask" and len(answer["result"]) == 5
    scores = [row["score"] for row in answer["result"]]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1 + 1e-6
    for row in answer["result"]:  # the token put where the mask was
        sequence = row["sequence"]
        assert sequence.startswith("On Monday Ada and the")
        assert sequence.endswith(" cat went to the forest.") and row["token"] in sequence
    unmasked = tpudeck("try", str(tmp_path / "masked_lm"), "--text", "no mask here")
    assert unmasked.returncode == 2 and "the text has no <mask>" in one_line_error(unmasked)
    labels = TriedModel(tmp_path / "sequence_classification").classify("A lovely day.")
    assert {row["label"] for row in labels} == {"negative", "positive"}
    assert labels[0]["score"] >= labels[1]["score"]


def test_fill_mask_names_the_learned_token_after_training_on_a_pattern(colours_run):
    model = TriedModel(colours_run / "model")
    for thing, colour in THING_COLOURS.items():
        best = model.fill_mask(f"{thing} <mask>")[0]
        assert (best["token"], best["sequence"]) == (colour, f"{thing} {colour}")
    printed = tpudeck("try", str(colours_run), "--text", "rose <mask>", "--json")
    assert json.loads(printed.stdout.splitlines()[-1])["result"][0]["token"] == "red"


def test_any_checkpoint_is_exported_on_demand_and_two_answer_side_by_side(finished_run):
    args = ("try", str(finished_run), "--text", PROMPT, "--max_new_tokens", "8", "--json")
    final = json.loads(tpudeck(*args).stdout.splitlines()[-1])
    both = tpudeck(*args, "--step", "2", "--step", "4")
    assert both.returncode == 0, both.stderr
    answers = [json.loads(line) for line in both.stdout.splitlines()[-2:]]
    assert [a["checkpoint"] for a in answers] == ["step 2", "step 4"]
    assert answers[1]["result"] == final["result"]  # step 4 is what the run exported last
    assert sorted(p.name for p in (finished_run / "tried").iterdir()) == ["step-2", "step-4"]
    missing = one_line_error(tpudeck(*args, "--step", "3"))
    assert "has no checkpoint at step 3 (it has: 2, 4); pass one of those" in missing


def test_the_worker_answers_a_malformed_request_with_why_and_serves_the_next(finished_run):
    from tpudeck.core.trying.worker import TryWorker

    worker = TryWorker(RunDir(finished_run).model_dir)
    try:
        assert "ready" in worker.read()
        for raw in ("garbage", json.dumps({"nope": 1}), json.dumps({"try": "text"}),
                    json.dumps({"try": {"text": PROMPT, "beams": 3}})):  # fmt: skip
            worker.process.stdin.write(raw + "\n")
            worker.process.stdin.flush()
            error = worker.read()["error"]
            assert error.startswith(("not a request", "a try request", "unknown generation"))
        worker.send({"try": {"text": PROMPT, "max_new_tokens": 2}})
        while "result" not in (message := worker.read()):
            assert "piece" in message, message
        assert message["result"]["text"].strip()  # two new tokens of text
    finally:
        worker.close()
    opened_badly = subprocess.run([sys.executable, "-m", "tpudeck.core.trying.worker"],
                                  input="[1, 2]\n", capture_output=True, text=True, timeout=60)  # fmt: skip
    assert json.loads(opened_badly.stdout)["error"].startswith("not a request: '[1, 2]'")
