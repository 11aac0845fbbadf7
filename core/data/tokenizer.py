"""Tokenizers: load a local HF tokenizer dir or train a byte-level BPE one on the data.

Uses the `tokenizers` library directly; the files written are the ones transformers'
AutoTokenizer reads. transformers is imported only to convert a checkpoint's slow
tokenizer files into a tokenizer.json, as AutoTokenizer itself converts them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Tokenizer
from tokenizers.implementations import ByteLevelBPETokenizer

from ..errors import DataError
from .tokenizer_files import slow_files

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"


@dataclasses.dataclass(frozen=True)
class TokenizerKind:
    """The special tokens a trained tokenizer gets, by role, and its transformers class."""

    tokenizer_class: str
    roles: dict  # "bos_token" etc. -> token
    algorithm: str = "byte-level BPE"  # or "unigram", SentencePiece's (T5's)

    @property
    def special_tokens(self) -> list[str]:
        return list(dict.fromkeys(self.roles.values()))


# GPT-2's one <|endoftext|>, and RoBERTa's set, which run_mlm_flax.py's README trains.
GPT2_KIND = TokenizerKind("GPT2Tokenizer", {"bos_token": EOS, "eos_token": EOS, "unk_token": EOS})
MASKED_LM_KIND = TokenizerKind(
    "RobertaTokenizer",
    {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>",
     "mask_token": "<mask>", "cls_token": "<s>", "sep_token": "</s>"},
)  # fmt: skip


# T5's: <pad> 0, </s> 1, <unk> 2, and (added after training) its sentinels, <extra_id_0>
# the last id, as T5's own tokenizer has them.
T5_KIND = TokenizerKind(
    "T5Tokenizer", {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}, "unigram"
)
EXTRA_IDS = 100


def sentinel_token(n: int) -> str:
    return f"<extra_id_{n}>"


def train_unigram(texts: Iterable[str], vocab_size: int, out_dir: Path, max_len: int) -> Tokenizer:
    """Train a SentencePiece-style unigram tokenizer with T5's special tokens and
    EXTRA_IDS sentinels (as run_t5_mlm_flax.py's README does with t5_tokenizer_model.py,
    sentinels included), appending </s> to each text as T5's does, and save it."""
    from tokenizers.implementations import SentencePieceUnigramTokenizer
    from tokenizers.processors import TemplateProcessing

    unigram = SentencePieceUnigramTokenizer()
    unigram.train_from_iterator(texts, vocab_size=max(vocab_size - EXTRA_IDS, 16),
                                special_tokens=T5_KIND.special_tokens, unk_token="<unk>",
                                show_progress=False)  # fmt: skip
    tokenizer = unigram._tokenizer
    tokenizer.add_special_tokens([sentinel_token(n) for n in reversed(range(EXTRA_IDS))])
    eos = T5_KIND.roles["eos_token"]
    tokenizer.post_processor = TemplateProcessing(
        single=f"$A {eos}", pair=f"$A {eos} $B {eos}",
        special_tokens=[(eos, tokenizer.token_to_id(eos))],
    )  # fmt: skip
    extra = {"extra_ids": EXTRA_IDS,
             "additional_special_tokens": [sentinel_token(n) for n in range(EXTRA_IDS)]}  # fmt: skip
    save_tokenizer(tokenizer, out_dir, max_len, T5_KIND, extra)
    return tokenizer


def sentinel_ids(tokenizer: Tokenizer, count: int) -> list[int]:
    """The ids of <extra_id_0> .. <extra_id_{count-1}>, which span corruption puts in place
    of its spans; a DataError if the tokenizer has fewer."""
    ids = [tokenizer.token_to_id(sentinel_token(n)) for n in range(count)]
    if None in ids:
        have = ids.index(None)
        raise DataError(
            f"the tokenizer has {have} sentinel tokens (<extra_id_N>) but span corruption "
            f"needs {count}: pass a T5 tokenizer with enough extra ids, or lower "
            "--max_seq_length or --mlm_probability (fewer spans)"
        )
    return ids


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: Path, max_len: int,
                    kind: TokenizerKind) -> Tokenizer:  # fmt: skip
    """A new tokenizer of `kind`'s algorithm and special tokens, trained on `texts`, saved."""
    if kind.algorithm == "unigram":
        return train_unigram(texts, vocab_size, out_dir, max_len)
    return train_byte_level_bpe(texts, vocab_size, out_dir, max_len, kind)


def train_byte_level_bpe(
    texts: Iterable[str], vocab_size: int, out_dir: Path, max_len: int, kind=GPT2_KIND
) -> Tokenizer:
    """Train byte-level BPE (as the HF Flax examples' README does) and save it."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts,
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=kind.special_tokens,
        show_progress=False,
    )
    if mask := kind.roles.get("mask_token"):
        # As roberta-base's own: the mask takes the space before it ("is <mask>." reads as
        # "is" + " blue"-shaped slot), else a lone space token the model never trained on
        # stands before every typed mask.
        bpe.add_special_tokens([AddedToken(mask, lstrip=True, special=True, normalized=False)])
    save_tokenizer(bpe._tokenizer, out_dir, max_len, kind)
    return bpe._tokenizer


def save_tokenizer(tokenizer: Tokenizer, out_dir: Path, max_len: int, kind=GPT2_KIND,
                   extra: dict | None = None) -> None:  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": kind.tokenizer_class,
        **kind.roles,
        "model_max_length": max_len,
        "add_prefix_space": False,
        **(extra or {}),
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out_dir / "special_tokens_map.json").write_text(json.dumps(kind.roles, indent=2) + "\n")


def convert_slow_tokenizer(source: str | Path, out_dir: Path) -> None:
    """Save `source`'s slow tokenizer (vocab.json and merges.txt, vocab.txt, a SentencePiece
    model) in `out_dir` as tokenizer.json and its config, converted by transformers as
    AutoTokenizer converts it on load: the same ids the checkpoint was trained on."""
    files = ", ".join(slow_files(source))
    try:
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(out_dir))
    except Exception as exc:  # transformers raises whatever its converter meets
        raise DataError(
            f"{source}: its tokenizer ({files}) did not convert to a tokenizer.json "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); save it "
            "once with transformers (AutoTokenizer.from_pretrained(ID).save_pretrained(DIR)) "
            "and pass --tokenizer_name DIR"
        ) from None
    log.info("converted the tokenizer of %s (%s) to a tokenizer.json", source, files)


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """A tokenizer.json, without the padding and truncation a checkpoint's file may carry
    for inference (every line padded to 128 would make packed blocks mostly padding):
    the recipes decide lengths themselves."""
    path = Path(directory, "tokenizer.json")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust library raises a bare Exception on bad files
        raise DataError(
            f"{path} is not a valid tokenizer ({exc}); pass another --tokenizer_name"
        ) from None
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


# Spellings of the special tokens by role, for tokenizers that do not name theirs in
# tokenizer_config.json / special_tokens_map.json: RoBERTa's and GPT-2's, then BERT's.
_SPELLINGS = {"mask_token": ("<mask>", "[MASK]"), "pad_token": ("<pad>", "[PAD]")}


def special_token_id(tokenizer: Tokenizer, role: str, directory: str | Path | None) -> int | None:
    """The id of the tokenizer's `role` token ("mask_token", "pad_token"): as its own
    configuration in `directory` names it, else by the usual spellings; None if it has none."""
    candidates = (*_configured(directory, role), *_SPELLINGS[role])
    ids = (tokenizer.token_to_id(token) for token in candidates)
    return next((i for i in ids if i is not None), None)


def _configured(directory: str | Path | None, role: str) -> list[str]:
    """The token `role` names in tokenizer_config.json and special_tokens_map.json."""
    found = []
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = Path(directory, name) if directory is not None else None
        if path is None or not path.is_file():
            continue
        try:
            token = json.loads(path.read_text()).get(role)
        except ValueError:
            continue  # an unreadable side file: the usual spellings still apply
        if isinstance(token, dict):  # {"content": "[MASK]", ...}, as transformers saves it
            token = token.get("content")
        if isinstance(token, str):
            found.append(token)
    return found


def eos_id(tokenizer: Tokenizer) -> int:
    """The document separator: GPT-2's <|endoftext|>, else the tokenizer's eos/sep token."""
    for token in (EOS, "</s>", "[SEP]", "<eos>"):
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return token_id
    raise DataError("the tokenizer has no end-of-text token (<|endoftext|> or </s>); add one")
