"""LoRA target modules: the paper's group names (q, k, v, o, ffn) mapped to module names per architecture.

Core: the trainer and FILA need it to wrap a model; the model registry
(:mod:`unlearnkit.models`) re-exports it.  Adding an architecture is one entry in
:data:`TARGET_MODULES`.  It loads nothing and trains nothing.
"""

from __future__ import annotations

# Paper names of the LoRA targets -> module names, per architecture (model.config.model_type).
TARGET_MODULES: dict[str, dict[str, list[str]]] = {
    "gpt_neo": {"q": ["q_proj"], "k": ["k_proj"], "v": ["v_proj"], "o": ["out_proj"], "ffn": ["c_fc", "c_proj"]},
    "opt": {"q": ["q_proj"], "k": ["k_proj"], "v": ["v_proj"], "o": ["out_proj"], "ffn": ["fc1", "fc2"]},
    "gpt2": {"qkv": ["c_attn"], "o": ["attn.c_proj"], "ffn": ["c_fc", "mlp.c_proj"]},
    "llama": {
        "q": ["q_proj"],
        "k": ["k_proj"],
        "v": ["v_proj"],
        "o": ["o_proj"],
        "ffn": ["gate_proj", "up_proj", "down_proj"],
    },
}


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


def lora_share(model, rank: int, groups: list[str] | tuple[str, ...] = ("q", "v", "ffn")) -> float:
    """Trainable share of a rank-``rank`` LoRA on ``groups``: ``sum r (in + out)`` over the
    targeted linear layers, over the model's parameter count (no adapter is built, so a model
    on the ``meta`` device works)."""
    suffixes = tuple(target_modules(model, groups))
    adapter = 0
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if name.endswith(suffixes) and weight is not None and weight.dim() == 2:
            adapter += rank * sum(weight.shape)
    return adapter / sum(p.numel() for p in model.parameters())


def gpt_neo_125m_on_meta():
    """GPT-Neo 125M's architecture (EleutherAI's published config) with no weights, on the meta
    device: for counting parameters offline."""
    import torch
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    config = GPTNeoConfig(
        vocab_size=50257,
        max_position_embeddings=2048,
        hidden_size=768,
        num_layers=12,
        num_heads=12,
        attention_types=[[["global", "local"], 6]],
        window_size=256,
    )
    with torch.device("meta"):
        return GPTNeoForCausalLM(config)
