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
    """Largest absolute difference over the reference's largest magnitude (arrays or tensors)."""
    ours, ref = (np.asarray(x.detach().double() if torch.is_tensor(x) else x, dtype=np.float64).reshape(-1)
                 for x in (ours, ref))
    return float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-30))


def write_config(path, fields):
    with open(path, "w") as f:
        json.dump(fields, f, indent=1)


def make_enformer(dim=48, depth=2, heads=2, attn_dim_key=8, num_downsamples=3, dim_divisible_by=4, target_length=16):
    """enformer-pytorch's Enformer with random weights everywhere, BatchNorm running stats included (its init
    zeroes to_out and makes pooling an identity, which would hide errors)."""
    from enformer_pytorch import Enformer
    model = Enformer.from_hparams(dim=dim, depth=depth, heads=heads, attn_dim_key=attn_dim_key,
                                  num_downsamples=num_downsamples, dim_divisible_by=dim_divisible_by,
                                  target_length=target_length, use_tf_gamma=False, output_heads=dict(human=5))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("norm.weight",)) or ".0.fn.0.weight" in name or ".1.fn.0.weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / max(1.0, p[0].numel() ** 0.5 if p.dim() > 1 else 4.0))
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.copy_(0.1 * torch.randn_like(mod.running_mean))
                mod.running_var.copy_(0.5 + torch.rand_like(mod.running_var))
    return model.eval()


def enformer_config_fields(model):
    c = model.config
    return {f"enformer_{k}": getattr(c, k) for k in
            ("dim", "depth", "heads", "attn_dim_key", "num_downsamples", "dim_divisible_by", "target_length")}


class CrossAttention(nn.Module):
    """IsoFormer's cross-attention block as the architecture spec (3.2) gives it: biased q/k/v/dense, heads of
    dim/heads, padded keys masked with -1e30, the residual inside the block."""

    def __init__(self, dim, other, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key = nn.Linear(dim, dim), nn.Linear(other, dim)
        self.value, self.dense = nn.Linear(other, dim), nn.Linear(dim, dim)

    def forward(self, h, e, mask):
        b, r, d = h.shape
        t, hh = e.shape[1], self.heads
        q = self.query(h).view(b, r, hh, d // hh).transpose(1, 2) * (d // hh) ** -0.5
        k = self.key(e).view(b, t, hh, d // hh).transpose(1, 2)
        v = self.value(e).view(b, t, hh, d // hh).transpose(1, 2)
        s = torch.where(mask[:, None, None, :], q @ k.transpose(-1, -2), torch.tensor(-1e30))
        c = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, r, d)
        return self.dense(c) + h


# --precision bf16's documented tolerance (docs/model.md "CPU precision"): per stage, the largest absolute difference
# from the fp32 reference over the reference's largest magnitude. bf16 keeps 8 significant bits (rounding error
# 2^-9 = 2e-3 per input), and errors of independent roundings add up over K-long dot products and the layers.
BF16_TOLERANCE = {"e_dna": 2e-2, "e_rna": 2e-2, "e_protein": 2e-2, "fused": 2e-2, "pooled": 2e-2,
                  "predictions": 3e-2}


class RefIsoformer(nn.Module):
    """The whole model: enformer-pytorch trunk, NT-v2 and ESM-2 as transformers' EsmModel, fusion and head."""

    def __init__(self, enformer, nt, esm, heads=4, head_hidden=None, n_out=30, pool=(0, None), parallel=False):
        super().__init__()
        dim = enformer.config.dim * 2
        self.dna_model, self.rna_model, self.protein_model = enformer, nt, esm
        self.cross_attention_layer_rna = CrossAttention(dim, nt.config.hidden_size, heads)
        self.cross_attention_layer_protein = CrossAttention(dim, esm.config.hidden_size, heads)
        self.head = nn.Sequential(nn.Linear(dim, head_hidden or 2 * dim), nn.SiLU(),
                                  nn.Linear(head_hidden or 2 * dim, n_out))
        self.pool, self.parallel, self.skip_protein = pool, parallel, False
        randomize(self.cross_attention_layer_rna, 0.05)
        randomize(self.cross_attention_layer_protein, 0.05)
        randomize(self.head, 0.05)

    @torch.no_grad()
    def forward(self, dna, rna_ids, prot_ids):
        from enformer_pytorch import str_to_one_hot
        e_dna = self.dna_model(str_to_one_hot([dna]), return_only_embeddings=True)
        m_rna, m_prot = rna_ids != 1, prot_ids != 1
        e_rna = self.rna_model(input_ids=rna_ids, attention_mask=m_rna.long()).last_hidden_state
        e_prot = self.protein_model(input_ids=prot_ids, attention_mask=m_prot.long()).last_hidden_state
        if self.parallel:
            h2 = (self.cross_attention_layer_rna(e_dna, e_rna, m_rna) +
                  self.cross_attention_layer_protein(e_dna, e_prot, m_prot) - e_dna)
        else:
            h1 = self.cross_attention_layer_rna(e_dna, e_rna, m_rna)
            # No coding sequence: the protein block is skipped, which its inner residual makes the identity.
            h2 = h1 if self.skip_protein else self.cross_attention_layer_protein(h1, e_prot, m_prot)
        v = h2[:, self.pool[0]:self.pool[1]].mean(1)
        return dict(e_dna=e_dna[0], e_rna=e_rna[0], e_protein=e_prot[0], fused=h2[0], pooled=v[0],
                    predictions=self.head(v)[0])

    def config(self, dna_window):
        c = dict(enformer_config_fields(self.dna_model))
        c.update(config_fields("nt_", self.rna_model))
        c.update(config_fields("esm_", self.protein_model))
        c.update(num_heads_omics_cross_attention=self.cross_attention_layer_rna.heads, dna_window=dna_window,
                 pool_window_start=self.pool[0],
                 pool_window_end=self.pool[1] if self.pool[1] is not None else self.dna_model.config.target_length,
                 num_tokens_per_seq_nuctf_rna=2048, num_protein_tokens_per_seq=1026, head_activation="silu")
        return c


def make_isoformer(**kw):
    enf = make_enformer(dim=48, depth=2, heads=2, attn_dim_key=8, num_downsamples=3, dim_divisible_by=4,
                        target_length=16)
    nt = make_nt(hidden=32, layers=2, heads=4, inter=48)
    esm = make_esm(hidden=40, layers=2, heads=5, inter=64)
    return RefIsoformer(enf, nt, esm, heads=4, head_hidden=64, **kw)


def make_full_isoformer():
    """Every real dimension (Enformer 1536 x 11 with its unused species heads, NT-v2 24 x 768 with 4,107 tokens,
    ESM-2 30 x 640, 3,072-wide fusion with 8 heads, 6,144-wide head), default PyTorch/transformers
    initialisation; ~700M parameters. The DNA window is 196,608 bp."""
    from enformer_pytorch import Enformer
    enf = Enformer.from_hparams(dim=1536, depth=11, heads=8, attn_dim_key=64, num_downsamples=7,
                                dim_divisible_by=128, target_length=896, use_tf_gamma=False,
                                output_heads=dict(human=5313, mouse=1643))
    with torch.no_grad():  # enformer-pytorch zero-initialises to_out; give attention something to contribute
        for layer in enf.transformer:
            layer[0].fn[1].to_out.weight.normal_(0, 0.02)
    nt = EsmModel(esm_config(768, 24, 16, 3072, 4107, False, 2, 1e-12), add_pooling_layer=False)
    for layer in nt.encoder.layer:
        layer.intermediate = GatedIntermediate(768, 3072)
        layer.output.dense = nn.Linear(3072, 768, bias=False)
    esm = EsmModel(esm_config(640, 30, 20, 2560, 33, True, 32, 1e-12), add_pooling_layer=False)
    return RefIsoformer(enf.eval(), nt.eval(), esm.eval(), heads=8, head_hidden=6144, n_out=30)
