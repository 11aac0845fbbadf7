"""A trained model to try: an HF checkpoint folder (a run's export, any local checkpoint or
a Hub id's snapshot) with the task its head does, as the Hub's inference widget names it.

Each task takes an input and gives JSON-able output: text generation (new text, streamed
piece by piece), fill-mask (the likeliest tokens with scores), text classification and
image classification (labels with scores), summarization (the summary).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..models.hf_io import read_config
from .tasks import TASKS, family_and_head

SHORTEST_BUCKET = 16  # prompts are padded to 16, 32, 64, ... tokens


@dataclasses.dataclass(frozen=True)
class Generation:
    """How text is generated (transformers' names); num_beams > 1 is beam search."""

    max_new_tokens: int = 40
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    num_beams: int = 1
    seed: int = 0

    def __post_init__(self):
        if self.max_new_tokens < 1 or self.num_beams < 1:
            raise DataError(
                f"max_new_tokens and num_beams must be at least 1, got {self.max_new_tokens} "
                f"and {self.num_beams}"
            )


class TriedModel:
    def __init__(self, directory: str | Path):
        from ..models.family import get_family

        self.directory = Path(directory)
        values = read_config(self.directory)
        name, self.head = family_and_head(values, str(directory))
        self.family = get_family(name)
        self.config, self.params = self.family.load(self.directory, self.head)
        self.task = TASKS[self.head]
        self.tokenizer = None
        if self.task != "image-classification":
            from ..data.tokenizer import load_tokenizer

            self.tokenizer = load_tokenizer(self.directory)
        self._generators: dict = {}

    # text generation and summarization ---------------------------------------------------

    def generate(self, text: str, settings: Generation = Generation(),
                 stream: Callable[[str], None] | None = None) -> dict:  # fmt: skip
        """{"text": the new text, "tokens": how many, "truncated": how the input was cut
        to fit the model, or None}. With `stream`, greedy and sampled text arrives in
        pieces as the tokens are produced (beam search: once, at the end)."""
        ids, truncated = self._input_ids(text, settings.max_new_tokens)
        generator = self._generator(settings, stream)
        seen: list[int] = []
        if stream is not None:

            def pieces(tokens_B):
                seen.append(int(tokens_B[0]))
                stream(self._new_text(seen))

            generator.stream = pieces
        import jax

        padded, mask = self._bucketed(ids, settings.max_new_tokens)
        rng = jax.random.key(settings.seed)
        new = np.asarray(generator(self.params, padded[None], mask[None], rng))
        tokens = self._until_end(new[0])
        written = self.tokenizer.decode(tokens, skip_special_tokens=True)
        if stream is not None and settings.num_beams > 1:
            stream(written)
        return {"text": written, "tokens": len(tokens), "truncated": truncated}

    def _input_ids(self, text: str, new_tokens: int) -> tuple[np.ndarray, str | None]:
        if not text.strip():
            raise DataError("the prompt is empty: type some text to start from")
        encoder_decoder = self.task == "summarization"
        ids = self.tokenizer.encode(text, add_special_tokens=encoder_decoder).ids
        room = self.config.positions - (0 if encoder_decoder else new_tokens)
        if len(ids) <= room:
            return np.asarray(ids, np.int32), None
        if encoder_decoder:  # the input's end (and its </s>) kept: the summary needs all
            kept = ids[: room - 1] + ids[-1:]
            return np.asarray(kept, np.int32), f"the first {room} of its {len(ids)} tokens"
        return (np.asarray(ids[-room:], np.int32),
                f"the last {room} of its {len(ids)} tokens, to leave room for "
                f"{new_tokens} new ones")  # fmt: skip

    def _bucketed(self, ids: np.ndarray, new_tokens: int) -> tuple[np.ndarray, np.ndarray]:
        """The ids right-padded to the next power of two (SHORTEST_BUCKET at least, what
        fits at most), and their mask: typed prompts of lengths in one bucket share one
        compiled search instead of compiling one each (seconds)."""
        room = self.config.positions - (0 if self.task == "summarization" else new_tokens)
        length = min(max(SHORTEST_BUCKET, 1 << (len(ids) - 1).bit_length()), room)
        padded, mask = np.zeros(length, np.int32), np.zeros(length, np.int32)
        padded[: len(ids)], mask[: len(ids)] = ids, 1
        return padded, mask

    def _generator(self, settings: Generation, stream):
        from ..generation.decoder import Decoder
        from ..generation.search import Generator, Settings

        key = (settings.max_new_tokens, settings.do_sample, settings.temperature,
               settings.top_k, settings.top_p, settings.num_beams)  # fmt: skip
        if key not in self._generators:
            eos = getattr(self.config, "eos_token_id", None)
            pad = getattr(self.config, "pad_token_id", None)
            search = Settings(max_new_tokens=settings.max_new_tokens, num_beams=settings.num_beams,
                              do_sample=settings.do_sample, temperature=settings.temperature,
                              top_k=settings.top_k, top_p=settings.top_p, eos_token_id=eos,
                              pad_token_id=pad if pad is not None else (eos or 0))  # fmt: skip
            decoder = Decoder(self.family, self.config, self.head)
            # compiled once per settings, streaming or not: the stream is swapped per call
            self._generators[key] = Generator(decoder, search, stream=lambda _tokens: None)
        generator = self._generators[key]
        generator.stream = lambda _tokens: None
        return generator

    def _until_end(self, tokens) -> list[int]:
        eos = getattr(self.config, "eos_token_id", None)
        tokens = [int(t) for t in tokens]
        return tokens[: tokens.index(eos)] if eos in tokens else tokens

    def _new_text(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(self._until_end(tokens), skip_special_tokens=True)

    # fill-mask and classification ---------------------------------------------------------

    def fill_mask(self, text: str, top_k: int = 5) -> list[dict]:
        """The `top_k` likeliest tokens for the text's mask token, each with its score and
        the text it makes."""
        import jax

        from ..data.sentence_pairs import with_framing
        from ..data.tokenizer import special_token_id

        mask_id = special_token_id(self.tokenizer, "mask_token", self.directory)
        mask_token = self.tokenizer.id_to_token(mask_id) if mask_id is not None else "<mask>"
        ids = with_framing(self.tokenizer).encode(text).ids  # <s> ... </s>, as transformers
        if mask_id is None or mask_id not in ids:
            raise DataError(f"the text has no {mask_token}: put one where a word is missing")
        module = self.family.module(self.config, self.head)
        logits = module.apply({"params": self.params}, np.asarray([ids], np.int32))
        at = ids.index(mask_id)
        scores = np.asarray(jax.nn.softmax(logits[0, at]))
        best = np.argsort(-scores)[:top_k]
        return [
            {"token": self.tokenizer.decode([int(i)]).strip(), "score": float(scores[i]),
             "sequence": self.tokenizer.decode(ids[:at] + [int(i)] + ids[at + 1 :],
                                               skip_special_tokens=True)}
            for i in best
        ]  # fmt: skip

    def classify(self, text: str) -> list[dict]:
        """Every label with its score, the likeliest first (a regression: its score)."""
        if not text.strip():
            raise DataError("the text is empty: type a sentence to classify")
        encoding = self.tokenizer.encode(text)
        ids = np.asarray([encoding.ids[: self.config.positions]], np.int32)
        module = self.family.module(self.config, self.head)
        logits = np.asarray(module.apply({"params": self.params}, ids, True, np.ones_like(ids),
                                         np.zeros_like(ids)))[0]  # fmt: skip
        return self._labelled(logits)

    def classify_image(self, path: str | Path) -> list[dict]:
        """The top five labels of an image file, with their scores."""
        from PIL import Image, UnidentifiedImageError

        from ..data.image_folder import normalise, to_pixels

        try:
            with Image.open(path) as image:
                pixels = to_pixels(image, self.config.image_size)
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(
                f"{path} cannot be read as an image ({exc}); pick another file"
            ) from None
        module = self.family.module(self.config, self.head)
        logits = module.apply({"params": self.params}, normalise(pixels[None]))
        return self._labelled(np.asarray(logits)[0])[:5]

    def _labelled(self, logits) -> list[dict]:
        labels = self.config.labels
        if labels.regression:
            return [{"label": "score", "score": float(logits[0])}]
        names = labels.names or tuple(f"LABEL_{i}" for i in range(len(logits)))
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        order = np.argsort(-probabilities)
        return [{"label": names[i], "score": float(probabilities[i])} for i in order]
