"""Loading a model and tokenizer by name: the testbed, a local path, or a Hugging Face hub id.

``load("testbed:default")`` builds/loads the embedded testbed; any other string goes to
``transformers`` (``AutoModelForCausalLM`` / ``AutoTokenizer``), so GPT-Neo 125M/1.3B/2.7B and
OPT load by hub name where a network exists, with no special case in the rest of the code.
Also holds the LoRA target-module names per architecture.  It does not train or evaluate.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Paper names of the LoRA targets -> module names, per architecture (model.config.model_type).
TARGET_MODULES: dict[str, dict[str, list[str]]] = {
    "gpt_neo": {"q": ["q_proj"], "k": ["k_proj"], "v": ["v_proj"], "o": ["out_proj"], "ffn": ["c_fc", "c_proj"]},
    "opt": {"q": ["q_proj"], "k": ["k_proj"], "v": ["v_proj"], "o": ["out_proj"], "ffn": ["fc1", "fc2"]},
    "gpt2": {"qkv": ["c_attn"], "o": ["attn.c_proj"], "ffn": ["c_fc", "mlp.c_proj"]},
    "llama": {"q": ["q_proj"], "k": ["k_proj"], "v": ["v_proj"], "o": ["o_proj"],
              "ffn": ["gate_proj", "up_proj", "down_proj"]},
}


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    name: str
    testbed: object | None = None  # the Testbed when ``name`` is ``testbed:<size>``

    def __iter__(self):
        return iter((self.model, self.tokenizer))


def load(name: str, dtype: torch.dtype | str | None = None, device: str | None = None) -> LoadedModel:
    """Load ``name``: ``"testbed:<size>"``, a local directory, or a hub id.

    Args:
        name: e.g. ``"testbed:default"``, ``"EleutherAI/gpt-neo-125m"``, ``"./my-model"``.
        dtype: parameter dtype; default fp32 on CPU, bf16 on CUDA.
        device: ``"cpu"``, ``"cuda"``…; default CUDA when available.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    elif isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    if name.startswith("testbed:"):
        from . import testbed

        tb = testbed.build(name.split(":", 1)[1])
        return LoadedModel(tb.model.to(device=device, dtype=dtype), tb.tokenizer, name, tb)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype)
    except OSError as err:
        raise OSError(
            f"could not load model {name!r}: not a local directory and not reachable on the hub "
            f"(offline?). Use 'testbed:default' or 'testbed:smoke' to work offline. ({err})"
        ) from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model.to(device).eval(), tokenizer, name)


def target_modules(model, groups: list[str] | tuple[str, ...] = ("q", "v", "ffn")) -> list[str]:
    """Module-name suffixes for the paper's target groups (``q, k, v, o, ffn``) on ``model``.

    Raises ``ValueError`` listing the valid groups for an unknown group, and for an
    architecture without a known map.
    """
    arch = getattr(model.config, "model_type", None)
    if arch not in TARGET_MODULES:
        raise ValueError(f"no LoRA target map for model_type {arch!r}; known: {sorted(TARGET_MODULES)}")
    table = TARGET_MODULES[arch]
    unknown = [g for g in groups if g not in table]
    if unknown:
        raise ValueError(f"unknown target module group(s) {unknown} for {arch}; valid: {sorted(table)}")
    return [m for g in groups for m in table[g]]
