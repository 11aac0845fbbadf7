"""What a run can pick: recipes, model families and their named sizes.

Plain data with no heavy imports, so specs validate in milliseconds.
"""

# Named GPT-2 sizes in Hugging Face config names; vocab_size comes from the tokenizer.
GPT2_SIZES = {
    "demo": {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128},
    "tiny": {"n_embd": 128, "n_layer": 4, "n_head": 4, "n_positions": 256},
    "small": {"n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024},
    "medium": {"n_embd": 1024, "n_layer": 24, "n_head": 16, "n_positions": 1024},
    "large": {"n_embd": 1280, "n_layer": 36, "n_head": 20, "n_positions": 1024},
    "xl": {"n_embd": 1600, "n_layer": 48, "n_head": 25, "n_positions": 1024},
}

# Named ViT sizes (HF ViTConfig names); num_labels comes from the image folder's classes.
_VIT_PATCH16 = {"image_size": 224, "patch_size": 16}
VIT_SIZES = {
    "demo": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "intermediate_size": 128, "image_size": 32, "patch_size": 8},
    "tiny": {"hidden_size": 192, "num_hidden_layers": 12, "num_attention_heads": 3,
             "intermediate_size": 768, **_VIT_PATCH16},
    "small": {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6,
              "intermediate_size": 1536, **_VIT_PATCH16},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, **_VIT_PATCH16},
}  # fmt: skip

# Named BERT sizes (HF BertConfig names; demo for CPU, the rest as Google's BERT releases).
BERT_SIZES = {
    "demo": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "intermediate_size": 128, "max_position_embeddings": 128},
    "tiny": {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 512, "max_position_embeddings": 512},
    "small": {"hidden_size": 512, "num_hidden_layers": 4, "num_attention_heads": 8,
              "intermediate_size": 2048, "max_position_embeddings": 512},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "max_position_embeddings": 512},
}  # fmt: skip

# RoBERTa's sizes are BERT's, with two more positions: its count starts after the pad id.
ROBERTA_SIZES = {
    name: {**size, "max_position_embeddings": size["max_position_embeddings"] + 2}
    for name, size in BERT_SIZES.items()
}

MODEL_SIZES = {"gpt2": GPT2_SIZES, "bert": BERT_SIZES, "roberta": ROBERTA_SIZES, "vit": VIT_SIZES}

# Recipe name -> (module under tpudeck.core.recipes, model types it trains).
RECIPES = {
    "clm": ("clm", ("gpt2",)),
    "mlm": ("mlm", ("bert", "roberta")),
    "image_classification": ("image_classification", ("vit",)),
}

IMAGE_FILE_TYPES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")

DATA_FILE_TYPES = {
    ".txt": "text",
    ".text": "text",
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
}
