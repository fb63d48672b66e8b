"""Forward FLOPs (a multiply-add counts 2) of the IsoFormer stages from a config.json dictionary, following the
layer shapes of the architecture notes (section 7). Norms, softmax and activations (under 1%) are left out."""


def enformer(c, window):
    d, length = c["enformer_dim"], window
    nd, div = c["enformer_num_downsamples"], c["enformer_dim_divisible_by"]
    filters = [d // 2] + [int(round((d // 2) * 2 ** (i / (nd - 2)) / div) * div) for i in range(nd - 1)]
    f = 2 * length * (d // 2) * 60 + 4 * length * (d // 2) ** 2  # stem conv (im2col), residual 1x1, pool logits
    n = length // 2
    for din, dout in zip(filters[:-1], filters[1:]):
        f += 2 * n * dout * din * 5 + 4 * n * dout * dout
        n //= 2
    hk = c["enformer_heads"] * c["enformer_attn_dim_key"]
    f += c["enformer_depth"] * (4 * n * d * hk + 4 * n * d * d + 2 * (2 * n - 1) * (d // c["enformer_heads"]) * hk
                                + 2 * n * n * hk + 2 * n * (2 * n - 1) * hk + 2 * n * n * d + 8 * n * d * d)
    return f + 2 * c["enformer_target_length"] * d * 2 * d


def esm(c, prefix, tokens):
    """prefix "nt_" (gated FFN with a 2F-wide input) or "esm_"."""
    d, f, layers = c[prefix + "hidden_size"], c[prefix + "intermediate_size"], c[prefix + "num_hidden_layers"]
    ffn = 6 * tokens * d * f if prefix == "nt_" else 4 * tokens * d * f
    return layers * (8 * tokens * d * d + ffn + 4 * tokens * tokens * d)


def fusion(c, rna_tokens, protein_tokens):
    q, dd = c["enformer_target_length"], 2 * c["enformer_dim"]
    return sum(4 * q * dd * dd + 4 * t * o * dd + 4 * q * t * dd
               for t, o in ((rna_tokens, c["nt_hidden_size"]), (protein_tokens, c["esm_hidden_size"])))
