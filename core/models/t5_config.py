"""T5's configuration, sizes and descriptor, importable without jax (the UI estimates with it).

Both T5 styles are one config: v1.0 (t5-small, t5-base: ReLU feed-forward, the LM head is
the embedding, decoder states rescaled by d_model^-0.5 before it) and v1.1 / flan-t5
(gated-GELU feed-forward, an LM head of its own, no rescale). Config names are
transformers' T5Config's.
"""

from __future__ import annotations

import dataclasses

from .descriptor import FamilyDescriptor, check_activation, refuse

# Named sizes, all v1.1-style; vocab_size comes from the tokenizer. small and base are
# t5-v1_1's shapes.
_V1_1 = {"feed_forward_proj": "gated-gelu", "tie_word_embeddings": False}
SIZES = {
    "demo": {"d_model": 64, "d_kv": 16, "d_ff": 128, "num_layers": 2, "num_heads": 4,
             "relative_attention_num_buckets": 8, "relative_attention_max_distance": 32, **_V1_1},
    "tiny": {"d_model": 256, "d_kv": 32, "d_ff": 640, "num_layers": 4, "num_heads": 8, **_V1_1},
    "small": {"d_model": 512, "d_kv": 64, "d_ff": 1024, "num_layers": 8, "num_heads": 6, **_V1_1},
    "base": {"d_model": 768, "d_kv": 64, "d_ff": 2048, "num_layers": 12, "num_heads": 12,
             **_V1_1},
}  # fmt: skip

# feed_forward_proj "gated-gelu" computes gelu_new (as transformers keeps it for old configs).
_GATED_GELU = "gated-gelu"


@dataclasses.dataclass(frozen=True)
class T5Config:
    """The subset of transformers' T5Config that determines the computation."""

    dropout_fields = ("dropout_rate",)

    vocab_size: int
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_decoder_layers: int | None = None  # None: as many as the encoder
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    initializer_factor: float = 1.0
    # "relu" (v1.0), "gated-gelu" (v1.1, flan-t5), or "ACT" / "gated-ACT" for another
    # activation of descriptor.ACTIVATIONS
    feed_forward_proj: str = "relu"
    # True: the LM head is the shared embedding and the decoder's states are rescaled by
    # d_model^-0.5 before it (v1.0); False: a head of its own, no rescale (v1.1)
    tie_word_embeddings: bool = True
    n_positions: int = 512  # relative positions have no limit; this caps example lengths
    pad_token_id: int = 0
    eos_token_id: int = 1
    decoder_start_token_id: int = 0

    @classmethod
    def from_hf(cls, values: dict) -> T5Config:
        # transformers 5 writes tie_word_embeddings true always and says whether the head
        # is rescaled (hence tied, in every T5 released) by scale_decoder_outputs.
        tied = values.get("scale_decoder_outputs", values.get("tie_word_embeddings", True))
        names = {f.name for f in dataclasses.fields(cls)} - {"tie_word_embeddings"}
        found = {k: v for k, v in values.items() if k in names and v is not None}
        return cls(tie_word_embeddings=bool(tied), **found)

    def to_hf(self) -> dict:
        values = dataclasses.asdict(self)
        return {
            "model_type": "t5",
            "architectures": ["T5ForConditionalGeneration"],
            **values,
            "num_decoder_layers": self.decoder_layers,
            "scale_decoder_outputs": self.tie_word_embeddings,
            "is_encoder_decoder": True,
        }

    @property
    def decoder_layers(self) -> int:
        return self.num_decoder_layers or self.num_layers

    @property
    def gated(self) -> bool:
        return self.feed_forward_proj.startswith("gated-")

    @property
    def activation(self) -> str:
        if self.feed_forward_proj == _GATED_GELU:
            return "gelu_new"
        return self.feed_forward_proj.removeprefix("gated-")

    def param_count(self, head: str = "seq2seq_lm") -> int:
        encoder, decoder = self._stack_params()
        lm_head = 0 if self.tie_word_embeddings else self.vocab_size * self.d_model
        return self.vocab_size * self.d_model + encoder + decoder + lm_head

    def largest_weight(self, head: str = "seq2seq_lm") -> int:
        return self.d_model * max(self.vocab_size, self.d_ff, self.num_heads * self.d_kv)

    def _stack_params(self) -> tuple[int, int]:
        d, inner = self.d_model, self.num_heads * self.d_kv
        attention = 4 * d * inner
        mlp = (3 if self.gated else 2) * d * self.d_ff
        bias_table = self.relative_attention_num_buckets * self.num_heads
        encoder = self.num_layers * (attention + mlp + 2 * d) + bias_table + d
        decoder = self.decoder_layers * (2 * attention + mlp + 3 * d) + bias_table + d
        return encoder, decoder

    def flops_per_example(self, tokens: int, head: str = "seq2seq_lm",
                          targets: int | None = None) -> float:  # fmt: skip
        """Training FLOPs of `tokens` input and `targets` target tokens (as many as the
        inputs when not named, the estimate's shape): 6 per multiplying weight per token
        in each stack, the LM head on the decoder's, plus attention (PaLM, appendix B)."""
        source, target = tokens, targets or tokens
        encoder, decoder = self._stack_params()
        lm_head = self.vocab_size * self.d_model
        inner = self.num_heads * self.d_kv
        attend_encoder = 12 * self.num_layers * inner * source * source
        # the decoder's self-attention over the targets, its cross-attention over the inputs
        attend_decoder = 12 * self.decoder_layers * inner * target * (target + source)
        return (6 * encoder * source + 6 * (decoder + lm_head) * target
                + attend_encoder + attend_decoder)  # fmt: skip

    @property
    def positions(self) -> int:
        return self.n_positions

    def example_name(self, tokens: int) -> str:
        return f"{tokens} tokens"

    def check(self) -> None:
        parts = self.feed_forward_proj.split("-")
        if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
            refuse("t5", "feed_forward_proj", self.feed_forward_proj,
                   "use 'relu', 'gated-gelu' or 'gated-ACT' for an activation ACT")  # fmt: skip
        check_activation("t5", "feed_forward_proj", self.activation)


T5 = FamilyDescriptor(
    "t5",
    T5Config,
    SIZES,
    {"seq2seq_lm": "T5ForConditionalGeneration"},
    "t5:BINDING",
    layers_differ="its first layer holds the relative position buckets the others reuse",
)
