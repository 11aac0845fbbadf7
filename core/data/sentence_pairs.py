"""Sentences and pairs to fixed-shape token arrays, framed with the tokenizer's special
tokens as transformers frames them: [CLS] a [SEP] b [SEP] (token types 0 then 1), or
<s> a </s></s> b </s>; a tokenizer that knows neither (GPT-2's) joins a pair with its
end-of-text token.

Every example is padded on the right to one length (the longest, rounded up to a multiple
of 8, at most --max_seq_length), so the train step compiles once.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from tokenizers import Tokenizer, processors

from ..errors import DataError
from .tokenizer import eos_id, special_token_id

ROUND_TO = 8  # lengths in multiples of 8 tile well on TPU and GPU


@dataclasses.dataclass
class Encoded:
    input_ids: np.ndarray  # [N, L] int32, right-padded
    attention_mask: np.ndarray  # [N, L] int32, 1 on real tokens
    token_type_ids: np.ndarray  # [N, L] int32, 1 on a pair's second sentence (BERT)

    def arrays(self) -> dict[str, np.ndarray]:
        return dataclasses.asdict(self)


def with_framing(tokenizer: Tokenizer) -> Tokenizer:
    """The tokenizer, with a post-processor adding special tokens if it has none (a
    byte-level BPE trained here, GPT-2's); saved so, AutoTokenizer frames as we do."""
    if _adds_special_tokens(tokenizer):
        return tokenizer
    framed = Tokenizer.from_str(tokenizer.to_str())
    token = {t: framed.token_to_id(t) for t in ("<s>", "</s>", "[CLS]", "[SEP]")}
    if token["<s>"] is not None and token["</s>"] is not None:
        framed.post_processor = processors.RobertaProcessing(
            ("</s>", token["</s>"]), ("<s>", token["<s>"]), trim_offsets=False
        )
    elif token["[CLS]"] is not None and token["[SEP]"] is not None:
        framed.post_processor = processors.BertProcessing(
            ("[SEP]", token["[SEP]"]), ("[CLS]", token["[CLS]"])
        )
    else:
        eos = eos_id(framed)
        name = framed.id_to_token(eos)
        framed.post_processor = processors.TemplateProcessing(
            single="$A", pair=f"$A {name} $B:1", special_tokens=[(name, eos)]
        )
    return framed


def _adds_special_tokens(tokenizer: Tokenizer) -> bool:
    plain = tokenizer.encode("a b", add_special_tokens=False).ids
    return len(tokenizer.encode("a b").ids) > len(plain)


def pad_id(tokenizer: Tokenizer) -> int:
    """The padding token's id: <pad> or [PAD], else end-of-text (GPT-2 has no padding)."""
    found = special_token_id(tokenizer, "pad_token", None)
    return eos_id(tokenizer) if found is None else found


def encode(tokenizer: Tokenizer, splits, max_length: int) -> list[Encoded]:
    """Token ids of each split's sentences (or pairs: (firsts, seconds or None) per split),
    truncated to `max_length` longest-first as transformers truncates, all padded to one
    length fitted to the longest example."""
    if max_length < 4:
        raise DataError(f"--max_seq_length {max_length} leaves no room for text; use 8 or more")
    truncating = Tokenizer.from_str(tokenizer.to_str())  # the saved tokenizer stays unbounded
    truncating.enable_truncation(max_length, strategy="longest_first")
    encoded = [
        truncating.encode_batch(
            list(firsts) if seconds is None else list(zip(firsts, seconds, strict=True))
        )
        for firsts, seconds in splits
    ]
    longest = max(len(e.ids) for split in encoded for e in split)
    length, pad = min(max_length, -(-longest // ROUND_TO) * ROUND_TO), pad_id(tokenizer)
    return [_padded(split, length, pad) for split in encoded]


def _padded(encodings, length: int, pad: int) -> Encoded:
    ids = np.full((len(encodings), length), pad, np.int32)
    mask = np.zeros((len(encodings), length), np.int32)
    types = np.zeros((len(encodings), length), np.int32)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n], mask[row, :n], types[row, :n] = encoding.ids, 1, encoding.type_ids
    return Encoded(ids, mask, types)
