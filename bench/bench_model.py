#!/usr/bin/env python3
"""Benchmark (not a test): one transcript through the whole model, per stage, ours vs PyTorch on the same inputs
and weights, in fp32 and in bf16 (ours: --precision bf16, in oneDNN or as sgemm on the bf16 values as the backend
picks; PyTorch: CPU autocast), with our achieved GFLOP/s against this machine's sgemm rate measured in the same run,
and the GEMM and attention rates inside our ops.

  bench/.venv-torch/bin/python bench/bench_model.py BUILD_DIR [--size full|medium] [--repeats 3] [--noncoding]

The fair baseline is a current PyTorch from PyPI (MKL and oneDNN, one OpenMP runtime; bench/setup-torch.sh
installs it in bench/.venv-torch), under torch.inference_mode, with as many threads as we use (all cores), each
side loaded outside the timed region, one warm-up forward each, then --repeats rounds (at least 2) of one forward
of ours and one of PyTorch's, alternated so that a drifting machine slows both alike; the median per stage, and
each round's ratio printed.
--noncoding: the transcript has no CDS, so both sides run the empty protein <cls><eos> (our default).
full: every real dimension (~700M parameters, 196,608 bp; minutes on 2 cores). medium: Enformer at dim 768 / 4
layers on 49,152 bp, NT-v2 and ESM-2 at their real widths with 6 layers each."""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from scratch import scratch_dir

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "parity"))
import refmodels as rm  # noqa: E402

sys.path.insert(0, here)
import flops as flops_of  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("--size", choices=("full", "medium"), default="medium")
ap.add_argument("--rna", type=int, default=512, help="RNA tokens")
ap.add_argument("--protein", type=int, default=400, help="protein tokens")
ap.add_argument("--repeats", type=int, default=3, help="timed forwards per side, after one warm-up")
ap.add_argument("--noncoding", action="store_true", help="no CDS: the empty protein <cls><eos> on both sides")
ap.add_argument("--threads", type=int, default=os.cpu_count(),
                help="threads on each side (default all cores; 1 compares kernels on a machine others load)")
ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                help="cpu: the process's CPU seconds on each side (all threads, spinning included), which other "
                     "jobs distort far less than wall time; with --threads 1, the cores' own speed")
args = ap.parse_args()
driver = os.path.join(args.build, "tests", "parity", "model_driver")
torch.manual_seed(0)
torch.set_num_threads(args.threads)
threads_env = {"ISO_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads), "ISO_CLOCK": args.clock}
clock = time.process_time if args.clock == "cpu" else time.perf_counter

if args.size == "full":
    model, window = rm.make_full_isoformer(), 196608
else:
    from enformer_pytorch import Enformer
    from transformers import EsmModel
    enf = Enformer.from_hparams(dim=768, depth=4, heads=8, attn_dim_key=64, num_downsamples=7, dim_divisible_by=64,
                                target_length=256, use_tf_gamma=False, output_heads=dict(human=8))
    nt = EsmModel(rm.esm_config(768, 6, 16, 3072, 4107, False, 2, 1e-12), add_pooling_layer=False)
    for layer in nt.encoder.layer:
        layer.intermediate = rm.GatedIntermediate(768, 3072)
        layer.output.dense = torch.nn.Linear(3072, 768, bias=False)
    esm = EsmModel(rm.esm_config(640, 6, 20, 2560, 33, True, 32, 1e-12), add_pooling_layer=False)
    model, window = rm.RefIsoformer(enf.eval(), nt.eval(), esm.eval(), heads=8, head_hidden=3072), 49152

cfg = model.config(window)
work = scratch_dir("isoformer-bench-")
torch.save(model.state_dict(), os.path.join(work, "pytorch_model.bin"))
rm.write_config(os.path.join(work, "config.json"), cfg)
rng = np.random.default_rng(0)
dna = "".join(rng.choice(list("ACGT"), window))
rna = [3] + list(rng.integers(6, 4107, args.rna - 1))
prot = [0, 2] if args.noncoding else [0] + list(rng.integers(4, 29, args.protein - 2)) + [2]
for name, content in (("dna", dna), ("rna", " ".join(map(str, rna))), ("prot", " ".join(map(str, prot)))):
    open(os.path.join(work, name), "w").write(content + "\n")

c = cfg
flops = {"dna": flops_of.enformer(c, window), "rna": flops_of.esm(c, "nt_", len(rna)),
         "protein": flops_of.esm(c, "esm_", len(prot)), "fusion+head": flops_of.fusion(c, len(rna), len(prot))}

STAGES = ("dna", "rna", "protein", "fusion+head")
# The machine's sgemm rate: OpenBLAS with its own threads (--threads of them), in this run (it drifts ~15%).
sgemm = float(subprocess.run([driver, "openblas", "2048", "10"], capture_output=True, text=True, check=True,
                             env={**os.environ, **threads_env}).stdout)


OUTPUTS = ("e_dna", "e_rna", "e_protein", "fused", "pooled", "predictions")


from enformer_pytorch import str_to_one_hot  # noqa: E402
one_hot, ri, pi = str_to_one_hot([dna]), torch.tensor([rna]), torch.tensor([prot])


def forward_stages(bf16, outputs):
    """Seconds per stage; fills outputs (OUTPUTS, as fp32 arrays)."""
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        t0 = clock()
        e_dna = model.dna_model(one_hot, return_only_embeddings=True)
        t1 = clock()
        e_rna = model.rna_model(input_ids=ri, attention_mask=torch.ones_like(ri)).last_hidden_state
        t2 = clock()
        e_p = model.protein_model(input_ids=pi, attention_mask=torch.ones_like(pi)).last_hidden_state
        t3 = clock()
        h1 = model.cross_attention_layer_rna(e_dna, e_rna, ri != 1)
        h2 = model.cross_attention_layer_protein(h1, e_p, pi != 1)
        pooled = h2.mean(1)
        pred = model.head(pooled)
        t4 = clock()
    for s, v in zip(OUTPUTS, (e_dna, e_rna, e_p, h2, pooled, pred)):
        outputs[s] = v.float().numpy().ravel()
    return dict(zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)))


def paired(precision):
    """Ours and PyTorch alternated run by run: a warm-up of each, then --repeats rounds of one forward of ours and one
    of PyTorch's, so that a machine whose speed drifts (shared cloud cores: the same build measured 1.87x and 2.76x
    hours apart when each side ran its repeats in one block) slows both sides alike. Our driver loads the model once
    and waits for a line on stdin before each forward (ISO_PACE). Returns the median seconds per stage of each side,
    the rounds' whole-transcript ratios, the GEMM / attention rates inside our ops and both outputs (OUTPUTS); ours
    None and the reason where our side cannot run."""
    bf16, out = precision == "bf16", os.path.join(work, precision)
    os.makedirs(out, exist_ok=True)
    runs = max(args.repeats, 2)  # the driver's ISO_REPEATS is at least 2
    p = subprocess.Popen([driver, "isoformer", work, *(os.path.join(work, x) for x in ("dna", "rna", "prot")), out],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, **threads_env, "ISO_PRECISION": precision, "ISO_REPEATS": str(runs),
                              "ISO_PACE": "1"})
    ours_runs, torch_runs, torch_out = [], [], {}
    for r in range(runs + 1):
        try:
            p.stdin.write("\n")
            p.stdin.flush()
        except BrokenPipeError:
            break
        line = p.stdout.readline()
        if " stage seconds:" not in line:
            break  # the driver failed: its reason is on stderr
        o = dict(zip(STAGES, (float(x) for x in line.split("stage seconds:")[1].split()[1::2])))
        t = forward_stages(bf16, torch_out)
        if r > 0:  # round 0 warms both up
            ours_runs.append(o)
            torch_runs.append(t)
    _, err = p.communicate()
    if p.returncode != 0 or len(ours_runs) < runs:
        return None, err.strip().split("\n")[-1], None, None, None, None
    med = [{s: statistics.median(x[s] for x in side) for s in STAGES} for side in (ours_runs, torch_runs)]
    ratios = [sum(t.values()) / sum(o.values()) for o, t in zip(ours_runs, torch_runs)]
    ops = err.split("inside ops:")[1].split("\n")[0].strip()
    ours_out = {s: np.fromfile(os.path.join(out, s + ".f32"), dtype=np.float32) for s in OUTPUTS}
    return med[0], ops, med[1], ratios, ours_out, torch_out


results, outs = {}, {}  # outs: "ours fp32", "torch fp32", "ours bf16", "torch bf16" -> OUTPUTS
for prec in ("fp32", "bf16"):
    # Where ours cannot run (bf16 on a CPU without AVX512-BF16 or AMX), there is nothing to compare with: PyTorch's
    # autocast there emulates bf16 and took over 20 minutes for the full-size model on 2 Zen 3 cores.
    ot, ops, rt, ratios, outs["ours " + prec], outs["torch " + prec] = paired(prec)
    results[prec] = ((ot, ops), rt, ratios)
    if ot is None and prec == "fp32":
        sys.exit(f"bench_model: ours failed in fp32: {ops}")

print(f"isoformer bench, {args.size} model, DNA {window} bp, RNA {len(rna)} tokens, protein {len(prot)} tokens"
      f"{' (non-coding: empty protein)' if args.noncoding else ''}, {args.threads} threads on {os.cpu_count()} cores; "
      f"{args.clock} clock, median of {max(args.repeats, 2)} rounds after a warm-up, each round one forward of "
      f"ours then one of PyTorch's")
print(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads, MKL {torch.backends.mkl.is_available()}, "
      f"oneDNN {torch.backends.mkldnn.is_available()}, inference_mode)")
if not torch.backends.mkl.is_available():
    print("WARNING: this PyTorch has no MKL (Debian's?): not the fair baseline; run bench/setup-torch.sh")
if os.environ.get("OPENBLAS_CORETYPE"):
    print(f"NOTE: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set: our GEMMs and the sgemm rate run those "
          f"OpenBLAS kernels, not the CPU's best (isoformer -v says which); unset it to measure ours")
print(f"sgemm rate of this machine (OpenBLAS, {args.threads} threads, 2048^3, same run, per {args.clock} second): "
      f"{sgemm:.1f} GFLOP/s")
for prec, ((ot, ops), rt, ratios) in results.items():
    label = "fp32" if prec == "fp32" else "bf16 (ours: bf16 inputs, fp32 sums, as the backend picks; PyTorch: autocast)"
    print(f"\n{label}")
    if ot is None:
        print(f"  ours: not run ({ops})")
        continue
    print(f"{'stage':12s} {'GFLOP':>9s} {'ours s':>8s} {'torch s':>8s} {'speedup':>8s} {'ours GFLOP/s':>13s} "
          f"{'% sgemm':>8s}")
    for s in STAGES:
        g = flops[s] / 1e9
        print(f"{s:12s} {g:9.1f} {ot[s]:8.3f} {rt[s]:8.3f} {rt[s] / ot[s]:8.2f} {g / ot[s]:13.1f} "
              f"{100 * g / ot[s] / sgemm:7.1f}%")
    tot_o, tot_r, tot_f = sum(ot.values()), sum(rt.values()), sum(flops.values()) / 1e9
    print(f"{'total':12s} {tot_f:9.1f} {tot_o:8.3f} {tot_r:8.3f} {tot_r / tot_o:8.2f} {tot_f / tot_o:13.1f} "
          f"{100 * tot_f / tot_o / sgemm:7.1f}%")
    print(f"  inside our ops{' (wall clock, meaningful on a quiet machine only)' if args.clock == 'cpu' else ''}: "
          f"{ops}")
    print(f"  whole transcript, round by round (PyTorch s / ours s): "
          f"{', '.join(f'{x:.2f}x' for x in ratios)}")
print("\nratios (PyTorch s / ours s, per transcript): " + ", ".join(
    f"{p} {sum(rt.values()) / sum(ot.values()):.2f}x" for p, ((ot, _), rt, _) in results.items() if ot))

# Accuracy on this checkpoint: each output's largest difference from PyTorch fp32 over its largest magnitude, and
# bf16's tolerance as the parity tests state it (docs/model.md).
ref = outs["torch fp32"]
print(f"\naccuracy vs PyTorch fp32 {'output':12s} {'ours fp32':>10s} {'ours bf16':>10s} {'autocast':>10s} "
      f"{'bf16 tol':>9s}")
for s in OUTPUTS:
    cells = [rm.rel_err(outs[k][s], ref[s]) if outs[k] else float("nan")
             for k in ("ours fp32", "ours bf16", "torch bf16")]
    print(f"{'':25s}{s:12s} " + " ".join(f"{c:10.2e}" for c in cells) + f" {rm.BF16_TOLERANCE[s]:9.0e}")
