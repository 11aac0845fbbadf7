"""What a run can pick: model families and recipes, one line each.

Each family describes itself in its config file (models/*_config.py) and each recipe in its
module (recipes/*.py); spec checks, the Launch form and estimates read only what is here.
Nothing imported here loads jax, numpy or a tokenizer, so specs validate in milliseconds.
"""

from __future__ import annotations

from .models.bert_config import BERT, ROBERTA
from .models.descriptor import FamilyDescriptor
from .models.gpt2_config import GPT2
from .models.llama_config import LLAMA
from .models.qwen2_config import QWEN2
from .models.t5_config import T5
from .models.vit_config import VIT
from .recipes import (
    clm,
    image_classification,
    mlm,
    summarization,
    t5_mlm,
    text_classification,
)

FAMILIES: dict[str, FamilyDescriptor] = {
    f.name: f for f in (GPT2, LLAMA, QWEN2, BERT, ROBERTA, VIT, T5)
}

RECIPES = {
    r.name: r
    for r in (
        clm.RECIPE,
        mlm.RECIPE,
        t5_mlm.RECIPE,
        summarization.RECIPE,
        text_classification.RECIPE,
        image_classification.RECIPE,
    )
}


def families_for(recipe: str) -> tuple[str, ...]:
    """The families with a head for what `recipe` trains."""
    head = RECIPES[recipe].head
    return tuple(name for name, family in FAMILIES.items() if head in family.heads)


def get_recipe(name: str):
    return RECIPES[name]
