"""A demo to publish: the files of a Gradio Space that runs a model from the Hub.

The app runs the model with transformers' PyTorch classes (what a Space's CPU has), for the
task the model's head does, with the settings `tpudeck try` has by default (greedy, 40 new
tokens; the top five labels or tokens), and lists examples from the run's own data.
tpudeck itself never imports gradio: it writes the app as text.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

# The Gradio the Space's README asks for; the tests launch the app under this version.
GRADIO_VERSION = "6.31.0"


@dataclasses.dataclass(frozen=True)
class TaskCode:
    """The parts of app.py that depend on the task: what it imports from transformers,
    how it loads the model, the predict function, and Gradio's input and output."""

    imports: str
    load: str
    predict: str
    inputs: str
    outputs: str


_TOP_FIVE = 'gr.Label(num_top_classes=5, label="Scores")'
_PIPELINE = "pipeline"

TASK_CODE = {
    "text-generation": TaskCode(
        _PIPELINE,
        'generator = pipeline("text-generation", model=MODEL_ID)',
        '''def predict(prompt):
    """The prompt's greedy continuation."""
    answer = generator(prompt, max_new_tokens=40, do_sample=False, return_full_text=False)
    return answer[0]["generated_text"]''',
        'gr.Textbox(label="Prompt")',
        'gr.Textbox(label="Continuation")',
    ),
    "fill-mask": TaskCode(
        _PIPELINE,
        'unmasker = pipeline("fill-mask", model=MODEL_ID)',
        '''def predict(text):
    """The five likeliest tokens for the text's mask, with their scores."""
    return {row["token_str"].strip(): row["score"] for row in unmasker(text, top_k=5)}''',
        'gr.Textbox(label="Text with a mask")',
        _TOP_FIVE,
    ),
    "text-classification": TaskCode(
        _PIPELINE,
        'classifier = pipeline("text-classification", model=MODEL_ID, top_k=None)',
        '''def predict(text):
    """Every label with its score."""
    return {row["label"]: row["score"] for row in classifier([text])[0]}''',
        'gr.Textbox(label="Text")',
        _TOP_FIVE,
    ),
    "summarization": TaskCode(
        "AutoModelForSeq2SeqLM, AutoTokenizer",
        """tokenizer = AutoTokenizer.from_pretrained(MODEL_ID)
model = AutoModelForSeq2SeqLM.from_pretrained(MODEL_ID)""",
        '''def predict(text):
    """The greedy summary of the text."""
    ids = tokenizer(text, return_tensors="pt").input_ids
    summary = model.generate(ids, max_new_tokens=40, do_sample=False, num_beams=1)
    return tokenizer.decode(summary[0], skip_special_tokens=True)''',
        'gr.Textbox(label="Text", lines=6)',
        'gr.Textbox(label="Summary")',
    ),
    "image-classification": TaskCode(
        _PIPELINE,
        'classifier = pipeline("image-classification", model=MODEL_ID)',
        '''def predict(image):
    """The five likeliest labels of the image, with their scores."""
    return {row["label"]: row["score"] for row in classifier(image, top_k=5)}''',
        'gr.Image(type="pil", label="Image")',
        _TOP_FIVE,
    ),
}


@dataclasses.dataclass(frozen=True)
class SpaceApp:
    """A Space that demonstrates `model_id` doing `task`. `examples` are texts, or the
    names in the Space of `images` (name -> the local file shipped with the app)."""

    name: str
    task: str
    model_id: str
    examples: list[str]
    images: dict[str, Path] = dataclasses.field(default_factory=dict)

    def files(self) -> dict[str, bytes]:
        """The Space repo's files by path: app.py, requirements.txt, README.md, images."""
        shipped = {name: Path(local).read_bytes() for name, local in self.images.items()}
        return {
            "app.py": self.app().encode(),
            "requirements.txt": self.requirements().encode(),
            "README.md": self.readme().encode(),
            **shipped,
        }

    def app(self) -> str:
        code = TASK_CODE[self.task]
        return f'''"""{self.name}: {self.task} with {self.model_id}, written by `tpudeck space`."""

import gradio as gr
from transformers import {code.imports}

MODEL_ID = {json.dumps(self.model_id)}
EXAMPLES = {json.dumps(self.examples)}
{code.load}


{code.predict}


demo = gr.Interface(
    predict,
    {code.inputs},
    {code.outputs},
    examples=EXAMPLES or None,
    title={json.dumps(self.name)},
)

if __name__ == "__main__":
    demo.launch()
'''

    def requirements(self) -> str:
        # Spaces install gradio themselves (the README's sdk_version).
        images = "pillow\n" if self.task == "image-classification" else ""
        return f"transformers>=5.0\ntorch\n{images}"

    def readme(self) -> str:
        return f"""---
title: {self.name}
sdk: gradio
sdk_version: {GRADIO_VERSION}
app_file: app.py
models:
- {self.model_id}
tags:
- tpudeck
- {self.task}
---

# {self.name}

A demo of [{self.model_id}](https://huggingface.co/{self.model_id}) ({self.task}),
written by `tpudeck space`.
"""

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, data in self.files().items():
            (folder / name).write_bytes(data)
            written.append(folder / name)
        return written


def push_space(app: SpaceApp, space_id: str, private: bool, token: str | None) -> str:
    """Create the Space (if new) and commit the app's files; returns the commit URL. A
    missing or refused token and an unreachable Hub are one-line HubErrors."""
    from huggingface_hub import CommitOperationAdd

    from .client import HubError, connect, describe, refusal

    api, space_id = connect(space_id, app.name, private, token, repo_type="space")
    operations = [CommitOperationAdd(path, data) for path, data in app.files().items()]
    message = f"tpudeck space: {app.task} with {app.model_id}"
    try:
        commit = api.create_commit(space_id, operations, repo_type="space",
                                   commit_message=message)  # fmt: skip
    except Exception as exc:  # httpx and HfHubHTTPError, told apart by status
        reason = refusal(exc, space_id) or f"the Hub did not take {space_id} ({describe(exc)})"
        raise HubError(reason) from None
    return commit.commit_url
