"""Reference PyTorch models for parity tests, built from code we did not write: transformers' EsmModel for
ESM-2, and the same EsmModel with NT-v2's gated SiLU feed-forward (no bias) swapped in, as the Nucleotide
Transformer v2 checkpoints define it. Weights are random but non-trivial (LayerNorm affine and biases too)."""
import json
import os

import numpy as np
import torch
from torch import nn
from transformers import EsmConfig, EsmModel


class GatedIntermediate(nn.Module):
    """NT-v2 EsmIntermediate: dense d -> 2F without bias, then silu(x1) * x2."""

    def __init__(self, d, f):
        super().__init__()
        self.dense = nn.Linear(d, 2 * f, bias=False)

    def forward(self, x):
        x1, x2 = self.dense(x).chunk(2, dim=-1)
        return nn.functional.silu(x1) * x2


def esm_config(hidden, layers, heads, inter, vocab, token_dropout, mask_id, eps):
    return EsmConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=inter, position_embedding_type="rotary", token_dropout=token_dropout,
                     mask_token_id=mask_id, pad_token_id=1, layer_norm_eps=eps, emb_layer_norm_before=False,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, max_position_embeddings=4096)


def randomize(module, scale=0.08):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("LayerNorm.weight") or "layer_norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(scale * torch.randn_like(p))


def make_esm(hidden=64, layers=2, heads=4, inter=128, vocab=33, token_dropout=True, eps=1e-12):
    model = EsmModel(esm_config(hidden, layers, heads, inter, vocab, token_dropout, 32, eps), add_pooling_layer=False)
    randomize(model)
    return model.eval()


def make_nt(hidden=64, layers=2, heads=4, inter=96, vocab=4107, eps=1e-12):
    model = EsmModel(esm_config(hidden, layers, heads, inter, vocab, False, 2, eps), add_pooling_layer=False)
    for layer in model.encoder.layer:
        layer.intermediate = GatedIntermediate(hidden, inter)
        layer.output.dense = nn.Linear(inter, hidden, bias=False)
    randomize(model)
    return model.eval()


def config_fields(prefix, model):
    c = model.config
    return {f"{prefix}hidden_size": c.hidden_size, f"{prefix}num_hidden_layers": c.num_hidden_layers,
            f"{prefix}num_attention_heads": c.num_attention_heads, f"{prefix}intermediate_size": c.intermediate_size,
            f"{prefix}vocab_size": c.vocab_size, f"{prefix}token_dropout": bool(c.token_dropout),
            f"{prefix}mask_token_id": c.mask_token_id, f"{prefix}layer_norm_eps": c.layer_norm_eps,
            f"{prefix}add_bias_fnn": prefix == "esm_"}


def rel_err(ours, ref):
    ref = ref.detach().double().numpy().reshape(-1)
    ours = np.asarray(ours, dtype=np.float64).reshape(-1)
    return float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-30))


def write_config(path, fields):
    with open(path, "w") as f:
        json.dump(fields, f, indent=1)
