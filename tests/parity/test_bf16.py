"""--precision bf16 on the CPU (products in oneDNN's bf16 kernels, and as sgemm on the widened bf16 values), per
stage, against fp32 and against PyTorch's own bf16 (CPU autocast: bf16 GEMM and convolution inputs, fp32
accumulation), on an IsoFormer at the published widths (Enformer 1536, NT-v2 768 with its 3,072-wide gated FFN,
ESM-2 640 / 2,560, fusion 3,072 with 8 heads, head 6,144), so every GEMM has its full-size K and N, with 2 layers
per encoder, a 6,144 bp window, 256 RNA and 200 protein tokens to keep the test short.

Each stage's relative error (largest absolute difference over the reference's largest magnitude), against the fp32
PyTorch reference and against our own fp32, must be within the stated tolerance and within twice PyTorch autocast's
own error plus 1e-3: our bf16 is no less accurate than what a PyTorch user gets with autocast. oneDNN's kernels
run only on a CPU with AVX512-BF16 or AMX; the sgemm path (asked for by ISO_CPU_BF16_KERNELS=fp32) on any CPU.
Skipped (exit 77) when the build has no bf16 GEMMs (no oneDNN). Usage: test_bf16.py ISOFORMER_BINARY WORKDIR
MODEL_DRIVER"""
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import refmodels as rm  # noqa: E402

iso, work, driver = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
STAGES = ["e_dna", "e_rna", "e_protein", "fused", "pooled", "predictions"]



def bf16_gemms(kernels):
    env = {**os.environ, "ISO_PRECISION": "bf16", "ISO_CPU_BF16_KERNELS": kernels}
    r = subprocess.run([driver, "sgemm", "64", "1"], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"no bf16 GEMMs in {kernels} kernels here:", r.stderr.strip())
    return r.returncode == 0


KERNELS = [k for k in ("onednn", "fp32") if bf16_gemms(k)]
if not KERNELS:
    sys.exit(77)

torch.manual_seed(5)
rng = np.random.default_rng(5)
from enformer_pytorch import Enformer  # noqa: E402
from transformers import EsmModel  # noqa: E402

enf = Enformer.from_hparams(dim=1536, depth=2, heads=8, attn_dim_key=64, num_downsamples=7, dim_divisible_by=128,
                            target_length=32, use_tf_gamma=False, output_heads=dict(human=8))
with torch.no_grad():  # enformer-pytorch zero-initialises to_out; give attention something to contribute
    for layer in enf.transformer:
        layer[0].fn[1].to_out.weight.normal_(0, 0.02)
nt = EsmModel(rm.esm_config(768, 2, 16, 3072, 4107, False, 2, 1e-12), add_pooling_layer=False)
for layer in nt.encoder.layer:
    layer.intermediate = rm.GatedIntermediate(768, 3072)
    layer.output.dense = torch.nn.Linear(3072, 768, bias=False)
esm = EsmModel(rm.esm_config(640, 2, 20, 2560, 33, True, 32, 1e-12), add_pooling_layer=False)
model = rm.RefIsoformer(enf.eval(), nt.eval(), esm.eval(), heads=8, head_hidden=6144, n_out=30)
window = 6144
d = os.path.join(work, "model")
os.makedirs(d, exist_ok=True)
torch.save(model.state_dict(), os.path.join(d, "pytorch_model.bin"))
rm.write_config(os.path.join(d, "config.json"), model.config(window))

dna = "".join(rng.choice(list("ACGT"), window))
rna = [3] + list(rng.integers(6, 4107, 255))
prot = [0] + list(rng.integers(4, 29, 198)) + [2]
inputs = [os.path.join(work, n) for n in ("dna.txt", "rna.txt", "prot.txt")]
for path, content in zip(inputs, (dna, " ".join(map(str, rna)), " ".join(map(str, prot)))):
    open(path, "w").write(content + "\n")


def ours(precision, kernels="onednn"):
    out = os.path.join(work, precision + "-" + kernels)
    os.makedirs(out, exist_ok=True)
    r = subprocess.run([driver, "isoformer", d, *inputs, out], capture_output=True, text=True,
                       env={**os.environ, "ISO_PRECISION": precision, "ISO_CPU_BF16_KERNELS": kernels})
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return {s: np.fromfile(os.path.join(out, s + ".f32"), dtype=np.float32) for s in STAGES}


ri, pi = torch.tensor([rna]), torch.tensor([prot])
ref32 = {s: v.float().numpy().ravel() for s, v in model(dna, ri, pi).items()}
# Autocast as PyTorch 2 defines it on the CPU normalises in fp32; Debian's 1.13 instead fails on a bf16 input to
# a norm with fp32 weights, so on that version the norms' inputs are cast as 2.x casts them.
if int(torch.__version__.split(".")[0]) < 2:
    for mod in model.modules():
        if isinstance(mod, (torch.nn.LayerNorm, torch.nn.BatchNorm1d)):
            mod.register_forward_pre_hook(lambda m, args: tuple(a.float() for a in args))
with torch.autocast("cpu", dtype=torch.bfloat16):
    ref16 = {s: v.float().numpy().ravel() for s, v in model(dna, ri, pi).items()}
o32 = ours("fp32")
err = rm.rel_err

failures = []
# bf16 products in oneDNN's bf16 kernels, and as sgemm on the widened bf16 values (what Intel CPUs without AMX run)
for kernels in KERNELS:
    o16 = ours("bf16", kernels)
    print(f"bf16 products in {kernels} kernels")
    print(f"{'stage':12s} {'fp32 vs torch':>14s} {'bf16 vs our fp32':>17s} {'bf16 vs torch':>14s} "
          f"{'autocast vs torch':>18s} {'tolerance':>10s}")
    for s in STAGES:
        e32, e16, eac = err(o32[s], ref32[s]), err(o16[s], ref32[s]), err(ref16[s], ref32[s])
        eours = err(o16[s], o32[s])
        bound = min(rm.BF16_TOLERANCE[s], 2 * eac + 1e-3)
        print(f"{s:12s} {e32:14.2e} {eours:17.2e} {e16:14.2e} {eac:18.2e} {bound:10.2e}")
        if not eours <= bound:
            failures.append(f"{kernels} {s}: bf16 differs from our fp32 by {eours:.2e}, over {bound:.2e}")
        if e32 >= 1e-4:
            failures.append(f"{s}: fp32 error {e32:.2e}")
        if not e16 <= bound:
            failures.append(f"{kernels} {s}: bf16 error {e16:.2e} over {bound:.2e}")
        if not 1e-4 < eours:
            failures.append(f"{kernels} {s}: bf16 equals fp32 (were the GEMMs rounded at all?)")
print(f"{len(failures)} failed: {failures}" if failures else "bf16 parity passed")
sys.exit(1 if failures else 0)
