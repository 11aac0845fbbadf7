"""Qwen2 (and Qwen2.5) is Llama with biases on the query, key and value projections only;
its weights are named as Llama's, so it runs on the Llama Flax modules. Sliding-window
attention (off in the released checkpoints' configs) is refused."""

from __future__ import annotations

import dataclasses

from ..errors import SpecError
from .descriptor import FamilyDescriptor
from .llama_config import LlamaConfig

# Named sizes; 0.5b is Qwen2.5-0.5B's shape (its vocabulary comes from the tokenizer).
SIZES = {
    "demo": {"hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128},
    "0.5b": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
             "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768,
             "rope_theta": 1000000.0, "tie_word_embeddings": True},
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Qwen2Config(LlamaConfig):
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    use_sliding_window: bool = False

    model_type = "qwen2"
    architecture = "Qwen2ForCausalLM"
    qkv_bias = True
    output_bias = False

    def to_hf(self) -> dict:
        values = super().to_hf()
        for llama_only in ("attention_bias", "mlp_bias"):
            values.pop(llama_only)
        return values

    def check(self) -> None:
        super().check()
        if self.use_sliding_window:
            raise SpecError(
                "the model config's use_sliding_window is not supported for qwen2: "
                "use a config with use_sliding_window false"
            )
        if self.attention_bias or self.mlp_bias:
            raise SpecError("a qwen2 config has no attention_bias or mlp_bias: remove them")


QWEN2 = FamilyDescriptor(
    "qwen2",
    Qwen2Config,
    SIZES,
    {"causal_lm": "Qwen2ForCausalLM", "sequence_classification": "Qwen2ForSequenceClassification"},
    "llama:BINDING",
)
