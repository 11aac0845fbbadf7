"""What a checkpoint does, read from its config.json without jax: its family, its head
and the task the Hub's inference widget (pipeline_tag) names for that head."""

from __future__ import annotations

from ..errors import SpecError
from ..registry import FAMILIES

# Each head's task, as the Hub's pipeline_tag names it.
TASKS = {
    "causal_lm": "text-generation",
    "masked_lm": "fill-mask",
    "sequence_classification": "text-classification",
    "seq2seq_lm": "summarization",
    "image_classification": "image-classification",
}
GENERATING = ("text-generation", "summarization")  # the tasks that write text


def family_and_head(config: dict, where: str) -> tuple[str, str]:
    """The family and head of a checkpoint's config.json (its model_type and the
    transformers class its architectures name)."""
    family = config.get("model_type")
    architecture = (config.get("architectures") or [None])[0]
    if family not in FAMILIES:
        raise SpecError(
            f"{where} is a {family or 'model of no model_type'} checkpoint; tpudeck runs "
            f"{', '.join(FAMILIES)}"
        )
    heads = FAMILIES[family].heads
    head = next((h for h, cls in heads.items() if cls == architecture), next(iter(heads)))
    return family, head
