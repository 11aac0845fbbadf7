"""MFU means something only if the model FLOPs are right: every family's FLOPs per example
(by head, attention included) against an independent count, XLA's cost analysis of the
compiled train step."""

import functools

import jax
import numpy as np
import pytest
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from tpudeck.core.models import token_loss
from tpudeck.core.models.labels import ClassLabels
from tpudeck.core.recipes.base import TaskData
from tpudeck.core.registry import get_recipe
from tpudeck.core.spec import RunSpec
from tpudeck.core.train.optimizer import make_optimizer, make_schedule
from tpudeck.core.train.step import AXIS, StepConstants, TrainState, make_train_step

BATCH, SEQ = 8, 128
WIDE = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4}
CONFIGS = {
    "gpt2": {"n_embd": 256, "n_layer": 4, "n_head": 4, "n_positions": 256},
    "llama": {**WIDE, "intermediate_size": 688, "num_key_value_heads": 2},
    "qwen2": {**WIDE, "intermediate_size": 688, "num_key_value_heads": 2},
    "bert": {**WIDE, "intermediate_size": 1024, "max_position_embeddings": 256},
    "roberta": {**WIDE, "intermediate_size": 1024, "max_position_embeddings": 258},
    "vit": {**WIDE, "intermediate_size": 1024, "image_size": 64, "patch_size": 8},
    "t5": {
        "d_model": 256,
        "d_kv": 64,
        "d_ff": 640,
        "num_layers": 3,
        "num_heads": 4,
        "feed_forward_proj": "gated-gelu",
        "tie_word_embeddings": False,
    },
}
ROWS = [("clm", "gpt2"), ("clm", "llama"), ("clm", "qwen2"), ("mlm", "bert"), ("mlm", "roberta"),
        ("text_classification", "roberta"), ("text_classification", "gpt2"),
        ("text_classification", "llama"), ("image_classification", "vit"), ("t5_mlm", "t5")]  # fmt: skip


def task_data(recipe: str, config: dict) -> TaskData:
    rng = np.random.default_rng(0)
    if recipe == "image_classification":
        size = config["image_size"]
        batch = {"pixel_values": rng.integers(0, 255, (1, BATCH, size, size, 3), dtype=np.uint8),
                 "labels": rng.integers(0, 3, (1, BATCH), dtype=np.int32)}  # fmt: skip
        return TaskData(batch, batch, 0, {**config, **ClassLabels(("a", "b", "c")).to_hf()},
                        None, "")  # fmt: skip
    ids = rng.integers(5, 8000, (1, BATCH, SEQ), dtype=np.int32)
    config = {**config, "vocab_size": 8192, "pad_token_id": 1, "mask_token_id": 4,
              "unmasked_ids": (3,), "padding_id": None, **ClassLabels(("no", "yes")).to_hf(),
              "sentinel_ids": list(range(8191, 8091, -1))}  # fmt: skip
    batch = {"input_ids": ids}
    if recipe == "text_classification":
        batch.update(attention_mask=np.ones_like(ids), token_type_ids=np.zeros_like(ids),
                     labels=rng.integers(0, 2, (1, BATCH), dtype=np.int32))  # fmt: skip
    return TaskData(batch, batch, SEQ, config, None, "")


@pytest.mark.parametrize(("recipe", "family"), ROWS, ids=[f"{r}-{f}" for r, f in ROWS])
def test_flops_per_example_match_the_compiled_steps_cost_analysis(recipe, family, monkeypatch):
    # XLA's cost analysis counts a loop's body once: the LM head's loss (token_loss.py)
    # takes the batch as one chunk here, which changes its memory and not its FLOPs.
    monkeypatch.setattr(token_loss, "MIN_CHUNK", BATCH * SEQ)
    # t5_mlm: 116 corrupted input tokens are cut from blocks of SEQ
    length = {"max_seq_length": 116} if recipe == "t5_mlm" else {}
    spec = RunSpec(recipe=recipe, model_type=family, dropout=0.0, max_grad_norm=0.0, **length)
    data = task_data(recipe, CONFIGS[family])
    model = get_recipe(recipe).build(spec, data)
    schedule = make_schedule(spec, 100)
    step = make_train_step(model.loss, functools.partial(make_optimizer, spec))
    mesh = Mesh(jax.devices()[:1], (AXIS,))
    mapped = jax.jit(jax.shard_map(step, mesh=mesh, in_specs=(P(), P(AXIS), P()),
                                   out_specs=(P(), P())))  # fmt: skip
    state = TrainState.create(model.init_params(jax.random.key(0)), make_optimizer(spec, schedule))
    constants = StepConstants.of_seed(1, schedule)
    cost = mapped.lower(state, data.train, constants).compile().cost_analysis()
    counted = (cost[0] if isinstance(cost, list) else cost)["flops"]
    ours = model.flops_per_example * BATCH
    # XLA also counts the element-wise work (norms, softmax, AdamW) that 6N leaves out.
    assert 0.9 < ours / counted < 1.02, f"ours {ours:.3e}, XLA {counted:.3e}"
