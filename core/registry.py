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

MODEL_SIZES = {"gpt2": GPT2_SIZES}

# Recipe name -> (module under tpudeck.core.recipes, model types it trains).
RECIPES = {"clm": ("clm", ("gpt2",))}

DATA_FILE_TYPES = {
    ".txt": "text",
    ".text": "text",
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
}
