"""Evaluation metrics that are not sums over examples, as the GLUE metric reports them:
accuracy, F1 and Matthews correlation for classes; MSE, Pearson and Spearman for scores;
and ROUGE for generated summaries (the rouge-score package, as 🤗 evaluate uses).

Computed on the host from every validation example's prediction. Small enough to write in
numpy (tested against scikit-learn); the correlations are scipy's, which jax depends on.
"""

from __future__ import annotations

import math
import re

import numpy as np


def classification_scores(predicted, labels, classes: int) -> dict[str, float]:
    """F1 is the positive class's (id 1) for two classes, the unweighted mean over classes
    otherwise (scikit-learn's "binary" and "macro")."""
    confusion = np.zeros((classes, classes), np.int64)  # [true, predicted]
    np.add.at(confusion, (np.asarray(labels), np.asarray(predicted)), 1)
    true_positives = np.diag(confusion).astype(np.float64)
    predicted_n, actual_n = confusion.sum(0), confusion.sum(1)
    f1_per_class = _divide(2 * true_positives, predicted_n + actual_n)
    return {
        "accuracy": float(true_positives.sum() / confusion.sum()),
        "f1": float(f1_per_class[1] if classes == 2 else f1_per_class.mean()),
        "matthews_correlation": _matthews(confusion),
    }


def _matthews(confusion: np.ndarray) -> float:
    """The multi-class Matthews correlation (Gorodkin's R_K); 0 where it is undefined."""
    total, correct = confusion.sum(), np.trace(confusion)
    predicted_n, actual_n = confusion.sum(0), confusion.sum(1)
    covariance = correct * total - predicted_n @ actual_n
    spread = math.sqrt(
        float(total**2 - predicted_n @ predicted_n) * float(total**2 - actual_n @ actual_n)
    )
    return float(covariance / spread) if spread else 0.0


def _divide(numerator, denominator):
    return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=np.float64),
                     where=denominator > 0)  # fmt: skip


def regression_scores(predicted, labels) -> dict[str, float]:
    """MSE always; the correlations only where defined (not for constant predictions)."""
    from scipy import stats

    predicted, labels = np.asarray(predicted, np.float64), np.asarray(labels, np.float64)
    scores = {"mse": float(np.mean((predicted - labels) ** 2))}
    if np.ptp(predicted) > 0 and np.ptp(labels) > 0:
        scores["pearson"] = float(stats.pearsonr(predicted, labels)[0])
        scores["spearman"] = float(stats.spearmanr(predicted, labels)[0])
    return scores


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def rouge_scores(predictions: list[str], references: list[str]) -> dict[str, float]:
    """ROUGE-1, -2, -L and -Lsum F-measures x 100, means over examples, with the Porter
    stemmer, as run_summarization_flax.py reports them. Lsum reads sentences split after
    . ! or ? (the script splits them with nltk, whose sentence model is a download)."""
    from rouge_score import rouge_scorer

    kinds = ("rouge1", "rouge2", "rougeL", "rougeLsum")
    scorer = rouge_scorer.RougeScorer(list(kinds), use_stemmer=True)
    totals = dict.fromkeys(kinds, 0.0)
    for predicted, reference in zip(predictions, references, strict=True):
        lines = ("\n".join(_SENTENCE_END.split(t.strip())) for t in (reference, predicted))
        for kind, score in scorer.score(*lines).items():
            totals[kind] += score.fmeasure
    return {kind: 100 * total / max(len(predictions), 1) for kind, total in totals.items()}
