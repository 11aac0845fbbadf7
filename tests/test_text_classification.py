"""The text_classification recipe (run_flax_glue.py): columns and labels chosen as the HF
script chooses them, GLUE metrics checked against scikit-learn and scipy, bad data refused
in one line before the lock, and the seed's flow end to end: pre-train with mlm, fine-tune
a classifier from that checkpoint on 8 fake devices, open the export in transformers."""

import csv
import json
import random

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as sk

from tpudeck.core.data.demo_corpus import ANIMALS, NAMES
from tpudeck.core.data.labelled_text import load_labelled_splits
from tpudeck.core.errors import DataError, SpecError
from tpudeck.core.models.family import get_family
from tpudeck.core.runs.rundir import RunDir
from tpudeck.core.spec import RunSpec
from tpudeck.core.train.metrics import classification_scores, regression_scores

from .builders import lock_was_taken, one_line_error, tpudeck

GOOD, BAD = ["wonderful", "lovely", "splendid"], ["dreadful", "awful", "gloomy"]


def write_pairs(path, rows: int = 800, seed: int = 0):
    """A pair task only the second sentence decides: is the animal in it liked?"""
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["idx", "sentence1", "sentence2", "label"])
        for i in range(rows):
            label = i % 2
            judgement = rng.choice(GOOD if label else BAD)
            out.writerow([i, f"{rng.choice(NAMES)} met a {rng.choice(ANIMALS)}.",
                          f"The {rng.choice(ANIMALS)} was {judgement}.", label])  # fmt: skip
    return path


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def spec_for(train_file, **values):
    return RunSpec.from_dict({"recipe": "text_classification", "model_type": "bert",
                              "model_size": "demo", "train_file": str(train_file), **values})  # fmt: skip


# -- choosing columns and labels, as run_flax_glue.py does -------------------------------


def test_pairs_come_from_sentence1_and_sentence2_with_integer_classes(tmp_path):
    data = load_labelled_splits(spec_for(write_pairs(tmp_path / "pairs.csv", rows=100)))
    assert data.columns == ("sentence1", "sentence2") and data.classes == ("0", "1")
    assert len(data.train) == 95 and len(data.eval) == 5  # 5% held out, seeded
    assert data.train.seconds[0].startswith("The ") and data.train.labels.dtype == np.int32


def test_without_sentence_columns_the_first_text_columns_are_read(tmp_path):
    rows = [{"id": i, "review": f"text {i}", "label": ["good", "bad", "meh"][i % 3]}
            for i in range(40)]  # fmt: skip
    data = load_labelled_splits(spec_for(jsonl(tmp_path / "d.jsonl", rows)))
    assert data.columns == ("review",) and data.train.seconds is None  # "id" is no text
    assert data.classes == ("bad", "good", "meh")
    assert "3 classes ('bad', 'good', 'meh')" in data.summary


def test_float_labels_are_a_regression(tmp_path):
    rows = [{"sentence": f"s {i}", "score": i / 7} for i in range(40)]
    data = load_labelled_splits(spec_for(jsonl(tmp_path / "d.jsonl", rows), label_column="score"))
    assert data.regression and data.train.labels.dtype == np.float32


def test_a_saved_glue_dataset_keeps_its_class_names(tmp_path):
    import datasets

    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["unacceptable", "acceptable"])})  # fmt: skip
    split = {"sentence": [f"s {i}" for i in range(20)], "label": [i % 2 for i in range(20)]}
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict(split, features=features),
         "validation": datasets.Dataset.from_dict(split, features=features)}
    ).save_to_disk(tmp_path / "cola")  # fmt: skip
    data = load_labelled_splits(spec_for(tmp_path / "cola"))
    assert data.classes == ("unacceptable", "acceptable") and len(data.eval) == 20


BAD_DATA = {
    "no label column": (
        lambda t: ["--train_file", str(jsonl(t / "d.jsonl", [{"text": "a", "y": 1}] * 30))],
        "has no column 'label' (columns: text, y); pass --label_column NAME",
    ),
    "no such text column": (
        lambda t: ["--train_file", str(write_pairs(t / "p.csv", 40)), "--sentence1_column", "body"],
        "has no column 'body' (columns: idx, sentence1, sentence2, label); pass --sentence1_column",
    ),
    "a single class": (
        lambda t: ["--train_file", str(jsonl(t / "d.jsonl", [{"text": "a", "label": "x"}] * 30))],
        "has 1 class(es) in column 'label' ('x'): a classifier needs two or more",
    ),
    "validation labels training lacks": (
        lambda t: [
            "--train_file",
            str(write_pairs(t / "p.csv", 40)),
            "--validation_file",
            str(jsonl(t / "v.jsonl", [{"sentence1": "a", "sentence2": "b", "label": 2}])),
        ],
        "has label(s) '2' that the training data lacks (it has '0', '1')",
    ),  # fmt: skip
    "longer than the model's positions": (
        lambda t: ["--train_file", str(write_pairs(t / "p.csv", 40)), "--max_seq_length", "512"],
        "--max_seq_length 512 is larger than the model's 128 positions",
    ),
}


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_is_one_line_before_the_lock(case, tmp_path, tpudeck_home):
    make_args, expected = BAD_DATA[case]
    result = tpudeck("train", "--recipe", "text_classification", "--model_type", "bert",
                     "--model_size", "demo", "--vocab_size", "300", *make_args(tmp_path))  # fmt: skip
    assert expected in one_line_error(result)
    assert not lock_was_taken(tpudeck_home)
    assert not list((tpudeck_home / "runs").glob("*"))  # no run left behind


def test_checks_raise_the_errors_the_cli_prints(tmp_path):
    with pytest.raises(DataError, match="needs two or more"):
        load_labelled_splits(spec_for(jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": 1}] * 9)))
    with pytest.raises(SpecError, match="--max_seq_length 200 is larger"):
        spec_for(tmp_path / "d.jsonl", max_seq_length=200)


# -- metrics -----------------------------------------------------------------------------


@pytest.mark.parametrize("classes", [2, 5])
def test_classification_metrics_match_scikit_learn(classes):
    rng = np.random.default_rng(classes)
    labels = rng.integers(0, classes, 300)
    predicted = np.where(rng.random(300) < 0.6, labels, rng.integers(0, classes, 300))
    ours = classification_scores(predicted, labels, classes)
    average = "binary" if classes == 2 else "macro"
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(labels, predicted))
    assert ours["f1"] == pytest.approx(sk.f1_score(labels, predicted, average=average))
    assert ours["matthews_correlation"] == pytest.approx(sk.matthews_corrcoef(labels, predicted))


def test_degenerate_predictions_score_as_scikit_learn_does():
    labels, predicted = np.array([0, 1, 1, 0]), np.zeros(4, int)  # one class predicted
    ours = classification_scores(predicted, labels, 2)
    assert ours["matthews_correlation"] == sk.matthews_corrcoef(labels, predicted) == 0.0
    assert ours["f1"] == sk.f1_score(labels, predicted, zero_division=0) == 0.0


def test_regression_metrics_match_scipy():
    rng = np.random.default_rng(0)
    labels = rng.normal(size=200)
    predicted = labels + rng.normal(scale=0.5, size=200)
    ours = regression_scores(predicted, labels)
    assert ours["mse"] == pytest.approx(sk.mean_squared_error(labels, predicted))
    assert ours["pearson"] == pytest.approx(stats.pearsonr(predicted, labels)[0])
    assert ours["spearman"] == pytest.approx(stats.spearmanr(predicted, labels)[0])
    assert set(regression_scores(np.ones(5), labels[:5])) == {"mse"}  # no correlation of a constant


# -- end to end --------------------------------------------------------------------------


@pytest.mark.slow
def test_pretrain_with_mlm_then_fine_tune_a_classifier_that_transformers_opens(
    tmp_path, demo_corpus
):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    pre, fine = RunDir(tmp_path / "pre"), RunDir(tmp_path / "fine")
    result = tpudeck("train", "--recipe", "mlm", "--model_type", "roberta", "--model_size", "demo",
                     "--train_file", str(demo_corpus), "--vocab_size", "400", "--max_seq_length", "64",
                     "--max_steps", "20", "--platform", "cpu", "--output_dir", str(pre.path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    pairs = write_pairs(tmp_path / "pairs.csv")
    result = tpudeck("train", "--recipe", "text_classification", "--model_type", "roberta",
                     "--model_name_or_path", str(pre.model_dir), "--train_file", str(pairs),
                     "--validation_split_percentage", "20", "--max_steps", "100",
                     "--learning_rate", "2e-3", "--warmup_steps", "10", "--dropout", "0",
                     "--eval_steps", "50", "--platform", "cpu", "--output_dir", str(fine.path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "has no sequence classification head of this shape (classifier_dense, " \
           "classifier_out_proj): it starts from random weights" in result.stderr  # fmt: skip
    assert "8 x cpu" in result.stderr
    final = fine.read_events("eval")[-1]
    assert final["accuracy"] > 0.85, final  # the classes are balanced: the majority is 0.5
    assert final["f1"] > 0.85 and final["matthews_correlation"] > 0.7
    # The checkpoint's own tokenizer was used, not a new one trained on the pairs.
    own = json.loads((pre.model_dir / "tokenizer.json").read_text())["model"]["vocab"]
    assert json.loads((fine.model_dir / "tokenizer.json").read_text())["model"]["vocab"] == own

    tokenizer = AutoTokenizer.from_pretrained(fine.model_dir)
    theirs = AutoModelForSequenceClassification.from_pretrained(fine.model_dir).eval()
    assert theirs.config.id2label == {0: "0", 1: "1"}
    with open(pairs) as f:
        rows = list(csv.DictReader(f))[-16:]
    batch = tokenizer([r["sentence1"] for r in rows], [r["sentence2"] for r in rows],
                      padding=True, return_tensors="pt")  # fmt: skip
    with torch.no_grad():
        their_logits = theirs(**batch).logits.numpy()
    config, params = get_family("roberta").load(fine.model_dir, "sequence_classification")
    module = get_family("roberta").module(config, "sequence_classification")
    ids, mask = (jnp.asarray(batch[k].numpy()) for k in ("input_ids", "attention_mask"))
    our_logits = np.asarray(module.apply({"params": params}, ids, True, mask))
    np.testing.assert_allclose(our_logits, their_logits, atol=1e-4)
    predicted = their_logits.argmax(-1)
    assert np.mean(predicted == np.array([int(r["label"]) for r in rows])) > 0.8


@pytest.mark.slow
def test_a_llama_regression_reports_correlations_under_shard_map(tmp_path):
    from transformers import AutoModelForSequenceClassification

    rng = random.Random(0)
    rows = []
    for _ in range(600):
        good = rng.randrange(4)
        words = [rng.choice(GOOD) for _ in range(good)] + [rng.choice(BAD) for _ in range(3 - good)]
        rng.shuffle(words)
        rows.append({"sentence": " ".join(words), "score": good / 3})
    run = RunDir(tmp_path / "run")
    result = tpudeck("train", "--recipe", "text_classification", "--model_type", "llama",
                     "--model_size", "demo", "--train_file", str(jsonl(tmp_path / "s.jsonl", rows)),
                     "--label_column", "score", "--vocab_size", "300", "--max_steps", "80",
                     "--learning_rate", "3e-3", "--dropout", "0", "--parallelism", "shard_map",
                     "--platform", "cpu", "--output_dir", str(run.path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    final = run.read_events("eval")[-1]
    assert final["pearson"] > 0.8 and final["spearman"] > 0.7 and final["mse"] < 0.05, final
    theirs = AutoModelForSequenceClassification.from_pretrained(run.model_dir)
    assert theirs.config.problem_type == "regression" and theirs.config.num_labels == 1
