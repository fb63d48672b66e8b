#!/usr/bin/env python3
"""Helpers of bench/gpu_check.sh, numpy only except torch-ref (PyTorch, with enformer-pytorch and transformers).

  make-model OUT [--size full|small] [--fusion-heads 8]  random IsoFormer checkpoint (model.safetensors +
      config.json) in the tensor layout the C loader reads; full: every published dimension (Enformer 1536 x 11,
      NT-v2 768 x 24, ESM-2 640 x 30, 3,072-wide fusion with 8 heads of 384, head 3072 -> 6144 -> 30), 673 M
      parameters, 2.69 GB. Weights ~N(0, 1/fan_in) (residual outputs smaller) so activations stay O(1).
  inputs DIR [--window N]   dna (N bases, default 196,608), rna1000 (NT-v2 ids), prot500 (ESM-2 ids), the inputs
      of model_driver isoformer
  compare f32|tsv GOT REF TOL LABEL   rel-L2 = ||got - ref|| / ||ref||; exit 1 above TOL or on new NaN/inf
  gemm-peak OUT [--device D]          the in-run dense GEMM rate (PyTorch's matmul, cuBLAS on a GPU; n = 8192,
      1024 on a CPU) in fp32 (TF32 off), tf32 and bf16, TFLOP/s into the JSON file OUT: the yardstick of stage-rates
  stage-rates CONFIG LOG LABEL [--peak OUT --precision P]   TFLOP/s per stage from model_driver's warm "stage
      seconds" lines, with --peak also as a share of gemm-peak's rate at precision P
  torch-ref MODEL DIR [--dump OUTDIR] [--time N] [--device D]   the same checkpoint in PyTorch (enformer-pytorch
      and transformers' EsmModel, tests/parity/refmodels.py): fp32 outputs for the inputs of DIR (TF32 off), an
      independent reference for ours; or N timed transcripts done the public way (batch 1, each its own Enformer
      window, RNA padded to 2,048 tokens and protein to 1,026) in bf16 with SDPA.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import flops  # noqa: E402


def make_model(out, size, fusion_heads, seed=0):
    if size == "full":
        E = dict(dim=1536, depth=11, heads=8, attn_dim_key=64, num_downsamples=7, dim_divisible_by=128, target_length=896)
        NT = dict(hidden=768, layers=24, heads=16, inter=3072, vocab=4107); ES = dict(hidden=640, layers=30, heads=20, inter=2560, vocab=33)
        head_hidden, window = 6144, 196608
    else:
        E = dict(dim=96, depth=2, heads=2, attn_dim_key=16, num_downsamples=7, dim_divisible_by=8, target_length=16)
        NT = dict(hidden=64, layers=2, heads=4, inter=128, vocab=4107); ES = dict(hidden=48, layers=2, heads=4, inter=96, vocab=33)
        head_hidden, window = 384, 4096
    T = []
    def add(n, s, k="w"): T.append((n, tuple(int(x) for x in s), k))
    def bn(n, c):
        add(n + ".weight", [c], "one"); add(n + ".bias", [c], "small"); add(n + ".running_mean", [c], "small"); add(n + ".running_var", [c], "var")
    def ln(n, c): add(n + ".weight", [c], "one"); add(n + ".bias", [c], "small")
    d, half, H, dk = E["dim"], E["dim"] // 2, E["heads"], E["attn_dim_key"]
    nd, div = E["num_downsamples"], E["dim_divisible_by"]
    filters = [half] + [int(round(half * 2 ** (i / (nd - 2)) / div) * div) for i in range(nd - 1)]
    p = "dna_model."
    add(p + "stem.0.weight", [half, 4, 15]); add(p + "stem.0.bias", [half], "small"); bn(p + "stem.1.fn.0", half)
    add(p + "stem.1.fn.2.weight", [half, half, 1]); add(p + "stem.1.fn.2.bias", [half], "small")
    add(p + "stem.2.to_attn_logits.weight", [half, half, 1, 1])
    for i, (di, do) in enumerate(zip(filters[:-1], filters[1:])):
        c = f"{p}conv_tower.{i}."
        bn(c + "0.0", di); add(c + "0.2.weight", [do, di, 5]); add(c + "0.2.bias", [do], "small")
        bn(c + "1.fn.0", do); add(c + "1.fn.2.weight", [do, do, 1]); add(c + "1.fn.2.bias", [do], "small")
        add(c + "2.to_attn_logits.weight", [do, do, 1, 1])
    for l in range(E["depth"]):
        t = f"{p}transformer.{l}."
        ln(t + "0.fn.0", d); add(t + "0.fn.1.to_q.weight", [H * dk, d]); add(t + "0.fn.1.to_k.weight", [H * dk, d])
        add(t + "0.fn.1.to_v.weight", [d, d]); add(t + "0.fn.1.to_out.weight", [d, d], "w02"); add(t + "0.fn.1.to_out.bias", [d], "small")
        add(t + "0.fn.1.to_rel_k.weight", [H * dk, d // H])
        add(t + "0.fn.1.rel_content_bias", [1, H, 1, dk], "small"); add(t + "0.fn.1.rel_pos_bias", [1, H, 1, dk], "small")
        ln(t + "1.fn.0", d); add(t + "1.fn.1.weight", [2 * d, d]); add(t + "1.fn.1.bias", [2 * d], "small")
        add(t + "1.fn.4.weight", [d, 2 * d], "w02"); add(t + "1.fn.4.bias", [d], "small")
    bn(p + "final_pointwise.1.0", d); add(p + "final_pointwise.1.2.weight", [2 * d, d, 1]); add(p + "final_pointwise.1.2.bias", [2 * d], "small")
    def esm(p, c, glu, bias):
        h, f = c["hidden"], c["inter"]; add(p + "embeddings.word_embeddings.weight", [c["vocab"], h], "emb")
        for i in range(c["layers"]):
            L = f"{p}encoder.layer.{i}."; ln(L + "attention.LayerNorm", h)
            for n in ("query", "key", "value"):
                add(f"{L}attention.self.{n}.weight", [h, h]); add(f"{L}attention.self.{n}.bias", [h], "small")
            add(L + "attention.output.dense.weight", [h, h], "w02"); add(L + "attention.output.dense.bias", [h], "small")
            ln(L + "LayerNorm", h); add(L + "intermediate.dense.weight", [2 * f if glu else f, h])
            if bias: add(L + "intermediate.dense.bias", [2 * f if glu else f], "small")
            add(L + "output.dense.weight", [h, f], "w02")
            if bias: add(L + "output.dense.bias", [h], "small")
        ln(p + "encoder.emb_layer_norm_after", h)
    esm("rna_model.", NT, True, False); esm("protein_model.", ES, False, True)
    D = 2 * d
    for name, other in (("rna", NT["hidden"]), ("protein", ES["hidden"])):
        c = f"cross_attention_layer_{name}."
        for n, inp in (("query", D), ("key", other), ("value", other), ("dense", D)):
            add(c + n + ".weight", [D, inp], "w05" if n == "dense" else "w"); add(c + n + ".bias", [D], "small")
    add("head.0.weight", [head_hidden, D]); add("head.0.bias", [head_hidden], "small")
    add("head.2.weight", [30, head_hidden]); add("head.2.bias", [30], "small")
    os.makedirs(out, exist_ok=True)
    hdr, off = {}, 0
    for n, s, _ in T:
        b = int(np.prod(s)) * 4; hdr[n] = {"dtype": "F32", "shape": list(s), "data_offsets": [off, off + b]}; off += b
    hdr["__metadata__"] = {"format": "pt"}
    hb = json.dumps(hdr, separators=(",", ":")).encode(); hb += b" " * (-len(hb) % 8)
    rng = np.random.default_rng(seed)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb)
        for n, s, k in T:
            m = int(np.prod(s)); fan = int(np.prod(s[1:])) if len(s) > 1 else 1
            if k == "one": x = 1.0 + 0.1 * rng.standard_normal(m, dtype=np.float32)
            elif k == "var": x = rng.uniform(0.5, 1.5, m)
            elif k == "small": x = 0.02 * rng.standard_normal(m, dtype=np.float32)
            elif k == "emb": x = rng.standard_normal(m, dtype=np.float32)
            else: x = ({"w": 1.0, "w02": 0.3, "w05": 0.5}[k] / np.sqrt(fan)) * rng.standard_normal(m, dtype=np.float32)
            np.asarray(x, dtype="<f4").tofile(f)
    cfg = {f"enformer_{k}": v for k, v in E.items()}
    for pre, c, fb, td, mk in (("nt_", NT, False, False, 2), ("esm_", ES, True, True, 32)):
        cfg.update({pre + "hidden_size": c["hidden"], pre + "num_hidden_layers": c["layers"], pre + "num_attention_heads": c["heads"],
                    pre + "intermediate_size": c["inter"], pre + "vocab_size": c["vocab"], pre + "token_dropout": td,
                    pre + "mask_token_id": mk, pre + "layer_norm_eps": 1e-12, pre + "add_bias_fnn": fb})
    cfg.update(num_heads_omics_cross_attention=fusion_heads, dna_window=window, pool_window_start=0, pool_window_end=E["target_length"],
               num_tokens_per_seq_nuctf_rna=2048, num_protein_tokens_per_seq=1026, head_activation="silu", model_type="isoformer")
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=1)
    print(f"{out}: {len(T)} tensors, {off / 4e6:.1f} M parameters, {off / 1e9:.2f} GB, fusion head_dim {D // fusion_heads}")


def inputs(d, window):
    rng = np.random.default_rng(1)
    open(os.path.join(d, "dna"), "w").write("".join(rng.choice(list("ACGTN"), window, p=[0.2475] * 4 + [0.01])) + "\n")
    open(os.path.join(d, "rna1000"), "w").write(" ".join(map(str, [3] + list(rng.integers(6, 4107, 999)))) + "\n")
    open(os.path.join(d, "prot500"), "w").write(" ".join(map(str, [0] + list(rng.integers(4, 29, 498)) + [2])) + "\n")


def read_tsv(path):
    rows = {}
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        skip = ("transcript_id", "gene_id", "gene_name", "chrom", "start", "end", "strand")
        first = next(i for i, h in enumerate(head) if h not in skip)
        for line in f:
            c = line.rstrip("\n").split("\t")
            rows[c[0]] = np.array([float(x) for x in c[first:]])
    return rows


def compare(mode, gp, rp, tol, label):
    for q in (gp, rp):
        if not os.path.exists(q):
            print(f"{label:46s} FAIL: {q} missing (the run before failed)")
            return 1
    if mode == "f32":
        g, r = np.fromfile(gp, "<f4").astype(float), np.fromfile(rp, "<f4").astype(float)
    else:
        G, R = read_tsv(gp), read_tsv(rp)
        if sorted(G) != sorted(R):
            print(f"{label}: FAIL transcript sets differ")
            return 1
        g, r = np.concatenate([G[k] for k in sorted(R)]), np.concatenate([R[k] for k in sorted(R)])
    if g.shape != r.shape:
        print(f"{label}: FAIL sizes {g.shape} vs {r.shape}")
        return 1
    bad = int(np.sum(~np.isfinite(g) & np.isfinite(r)))
    d = g - r
    fin = np.isfinite(d)
    rel = float(np.linalg.norm(d[fin]) / max(np.linalg.norm(r[np.isfinite(r)]), 1e-30))
    mx = float(np.max(np.abs(d[fin]))) if fin.any() else 0.0
    ok = bad == 0 and rel <= tol
    print(f"{label:46s} n={g.size:9d} max|d|={mx:.2e} relL2={rel:.2e} (tol {tol:.0e}) nonfinite={bad} "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def stage_flops(c, dna_len=196608, rna_tokens=1000, protein_tokens=500):
    return dict(dna=flops.enformer(c, dna_len), rna=flops.esm(c, "nt_", rna_tokens),
                protein=flops.esm(c, "esm_", protein_tokens), fusion=flops.fusion(c, rna_tokens, protein_tokens))


def gemm_peak(out, device):
    """Median of 5 timed n^3 matmuls after a warm-up, per precision: what cuBLAS gives this GPU at full size."""
    import time

    import torch
    if device == "cuda" and not torch.cuda.is_available():
        print("gemm-peak: PyTorch sees no CUDA device")
        return 1
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    n, rates = (8192 if device == "cuda" else 1024), {}
    for prec, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True),
                              ("bf16", torch.bfloat16, False)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        times = []
        with torch.inference_mode():
            for rep in range(6):
                sync()
                t0 = time.perf_counter()
                torch.matmul(a, b)
                sync()
                if rep:
                    times.append(time.perf_counter() - t0)
        rates[prec] = 2 * n ** 3 / sorted(times)[len(times) // 2] / 1e12
    torch.backends.cuda.matmul.allow_tf32 = False
    json.dump(rates, open(out, "w"))
    print(f"in-run GEMM {n}^3 on {device}: " + ", ".join(f"{k} {v:.3g} TFLOP/s" for k, v in rates.items()))
    return 0


def stage_rates(config, log, label, peak=None, precision=None):
    """The median warm pass of each stage (model_driver isoformer with ISO_REPEATS > 1 on the inputs of `inputs`);
    with peak (gemm-peak's file), each stage's rate as a share of the GEMM rate at precision too."""
    c = json.load(open(config))
    f = stage_flops(c, c.get("dna_window", 196608))
    best = {}
    for line in open(log):
        if line.startswith("stage seconds:"):
            w = line.split(":", 1)[1].split()
            for name, sec in zip(("dna", "rna", "protein", "fusion"), (w[1], w[3], w[5], w[7])):
                best[name] = min(best.get(name, 1e9), float(sec))
    if not best:
        print(f"{label}: no warm stage times in {log}")
        return 1
    top = json.load(open(peak)).get(precision) if peak and os.path.exists(peak) else None
    share = (lambda k: f" ({100 * f[k] / best[k] / 1e12 / top:.0f}% of the {precision} GEMM's {top:.3g})") if top \
        else (lambda k: "")
    print(f"{label}: " + ", ".join(f"{k} {best[k] * 1e3:.1f} ms = {f[k] / best[k] / 1e12:.2f} TFLOP/s{share(k)}"
                                   for k in ("dna", "rna", "protein", "fusion")) +
          f"; one transcript {sum(best.values()) * 1e3:.1f} ms")
    return 0


def reference_model(c, state):
    """RefIsoformer with the checkpoint's dimensions and weights."""
    import torch
    sys.path.insert(0, os.path.join(here, "..", "tests", "parity"))
    import refmodels as rm
    enf = rm.make_enformer(**{k: c["enformer_" + k] for k in ("dim", "depth", "heads", "attn_dim_key",
                                                              "num_downsamples", "dim_divisible_by", "target_length")})
    esm_dims = lambda p: dict(hidden=c[p + "hidden_size"], layers=c[p + "num_hidden_layers"],  # noqa: E731
                              heads=c[p + "num_attention_heads"], inter=c[p + "intermediate_size"],
                              vocab=c[p + "vocab_size"], eps=c[p + "layer_norm_eps"])
    nt = rm.make_nt(**esm_dims("nt_"))
    esm = rm.make_esm(token_dropout=c["esm_token_dropout"], **esm_dims("esm_"))
    model = rm.RefIsoformer(enf, nt, esm, heads=c["num_heads_omics_cross_attention"],
                            head_hidden=state["head.0.weight"].shape[0], n_out=state["head.2.weight"].shape[0])
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    missing = [k for k in missing if not any(s in k for s in ("_heads", "._trunk.", "inv_freq", "position_ids",
                                                                   "position_embeddings", "contact_head"))]
    if missing or unexpected:
        raise ValueError(f"checkpoint does not fit the reference: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model


def torch_ref(model_dir, d, dump, repeats, device):
    import time
    import torch
    from torch.nn import functional as F
    try:
        import enformer_pytorch  # noqa: F401
    except ImportError as e:
        print(f"torch-ref: enformer-pytorch not importable ({e}): no PyTorch reference")
        return 1
    from safetensors.numpy import load_file
    if device == "cuda" and not torch.cuda.is_available():
        print("torch-ref: PyTorch sees no CUDA device")
        return 1
    c = json.load(open(os.path.join(model_dir, "config.json")))
    model = reference_model(c, load_file(os.path.join(model_dir, "model.safetensors")))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def sdpa_cross(self, h, e, mask):  # the fusion's attention through SDPA (flash / memory-efficient kernels)
        b, r, dd = h.shape
        t, hh = e.shape[1], self.heads
        q = self.query(h).view(b, r, hh, dd // hh).transpose(1, 2)
        k = self.key(e).view(b, t, hh, dd // hh).transpose(1, 2)
        v = self.value(e).view(b, t, hh, dd // hh).transpose(1, 2)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        return self.dense(o.transpose(1, 2).reshape(b, r, dd)) + h

    def one_hot(dna, dtype):
        idx = torch.tensor([" ACGT".find(ch) for ch in dna]).clamp(min=0)
        return F.one_hot(idx, 5)[:, 1:].to(dtype)[None].to(device)

    def forward(oh, rna, rmask, prot, pmask):
        e_dna = model.dna_model(oh, return_only_embeddings=True)
        e_rna = model.rna_model(input_ids=rna, attention_mask=rmask.long()).last_hidden_state
        e_prot = model.protein_model(input_ids=prot, attention_mask=pmask.long()).last_hidden_state
        h1 = model.cross_attention_layer_rna(e_dna, e_rna, rmask)
        h2 = model.cross_attention_layer_protein(h1, e_prot, pmask)
        v = h2[:, c["pool_window_start"]:c["pool_window_end"]].mean(1)
        return dict(e_dna=e_dna, e_rna=e_rna, e_protein=e_prot, fused=h2, pooled=v, predictions=model.head(v))

    dna = open(os.path.join(d, "dna")).read().strip()
    rna = [int(x) for x in open(os.path.join(d, "rna1000")).read().split()]
    prot = [int(x) for x in open(os.path.join(d, "prot500")).read().split()]
    with torch.no_grad():
        if dump:
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            model.to(device).float().eval()
            r, p = torch.tensor([rna]).to(device), torch.tensor([prot]).to(device)
            out = forward(one_hot(dna, torch.float32), r, r != 1, p, p != 1)
            os.makedirs(dump, exist_ok=True)
            for k, v in out.items():
                v[0].float().cpu().numpy().astype("<f4").tofile(os.path.join(dump, k + ".f32"))
            print(f"torch-ref: fp32 outputs in {dump}")
            return 0
        for mod in (model.rna_model, model.protein_model):
            mod.config._attn_implementation = "sdpa"  # transformers' ESM picks its attention class per call
        sdpa = hasattr(F, "scaled_dot_product_attention")  # PyTorch >= 2.0
        for ca in (model.cross_attention_layer_rna, model.cross_attention_layer_protein) if sdpa else ():
            ca.forward = sdpa_cross.__get__(ca)
        model.to(device).to(torch.bfloat16).eval()
        pad = lambda ids, n: torch.tensor([(ids + [1] * n)[:n]]).to(device)  # noqa: E731
        r, p = pad(rna, 2048), pad(prot, 1026)
        oh = one_hot(dna, torch.bfloat16)
        stages = dict(dna=0.0, rna=0.0, protein=0.0, fusion=0.0)
        for it in range(repeats + 2):  # two warm-ups
            sync()
            t = [time.perf_counter()]
            e_dna = model.dna_model(oh, return_only_embeddings=True)
            sync(); t.append(time.perf_counter())  # noqa: E702
            e_rna = model.rna_model(input_ids=r, attention_mask=(r != 1).long()).last_hidden_state
            sync(); t.append(time.perf_counter())  # noqa: E702
            e_prot = model.protein_model(input_ids=p, attention_mask=(p != 1).long()).last_hidden_state
            sync(); t.append(time.perf_counter())  # noqa: E702
            h = model.cross_attention_layer_protein(model.cross_attention_layer_rna(e_dna, e_rna, r != 1), e_prot, p != 1)
            model.head(h[:, c["pool_window_start"]:c["pool_window_end"]].mean(1)).float().cpu()
            t.append(time.perf_counter())
            if it >= 2:
                for k, a, b in zip(stages, t, t[1:]):
                    stages[k] += (b - a) / repeats
        f = stage_flops(c, len(dna), 2048, 1026)
        total = sum(stages.values())
        print(f"PyTorch bf16+{'SDPA' if sdpa else 'eager attention'} on {device}, public way (padded 2048/1026, "
              f"batch 1): {1 / total:.2f} transcripts/s; " +
              ", ".join(f"{k} {s * 1e3:.1f} ms = {f[k] / s / 1e12:.2f} TFLOP/s" for k, s in stages.items()))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make-model")
    p.add_argument("out")
    p.add_argument("--size", default="full", choices=("full", "small"))
    p.add_argument("--fusion-heads", type=int, default=8)
    p = sub.add_parser("inputs")
    p.add_argument("dir")
    p.add_argument("--window", type=int, default=196608)
    p = sub.add_parser("compare")
    for a in ("mode", "got", "ref", "tol", "label"):
        p.add_argument(a)
    p = sub.add_parser("gemm-peak")
    p.add_argument("out")
    p.add_argument("--device", default="cuda")
    p = sub.add_parser("stage-rates")
    for a in ("config", "log", "label"):
        p.add_argument(a)
    p.add_argument("--peak")
    p.add_argument("--precision")
    p = sub.add_parser("torch-ref")
    p.add_argument("model")
    p.add_argument("dir")
    p.add_argument("--dump")
    p.add_argument("--time", type=int, default=5)
    p.add_argument("--device", default="cuda")
    a = ap.parse_args()
    if a.cmd == "make-model":
        return make_model(a.out, a.size, a.fusion_heads)
    if a.cmd == "inputs":
        return inputs(a.dir, a.window)
    if a.cmd == "compare":
        return compare(a.mode, a.got, a.ref, float(a.tol), a.label)
    if a.cmd == "gemm-peak":
        return gemm_peak(a.out, a.device)
    if a.cmd == "stage-rates":
        return stage_rates(a.config, a.log, a.label, a.peak, a.precision)
    return torch_ref(a.model, a.dir, a.dump, a.time, a.device)


if __name__ == "__main__":
    sys.exit(main() or 0)
