"""isoformer fit against a direct ridge solve in numpy.
Reference: every training set (a gene-grouped fold, or all observed rows for the final fit) standardised on its
own rows (mean, sd with ddof=1) with its targets centred on their own mean, w = solve(X'X + lambda I, X'y) (or
the dual X'(XX' + lambda I)^-1 y when there are fewer rows than features), intercept mean(y_train); folds deal
genes round-robin in order of first appearance. Checked: the CV R^2 of every penalty, the baseline's, the chosen
penalty and the head's weights and intercept (in the head's standardisation over all rows) to 1e-6, on narrow
(primal) and wide (dual) embeddings, on outputs with missing values and on more rows than fit standardises at a
time; and a noise-free planted y = Xw + b gives a CV R^2 of 1. Also times a fit on 3,072-wide embeddings.
Usage: test_fit_ridge.py ISOFORMER_BINARY WORKDIR"""
import os
import shutil
import subprocess
import sys
import time

import numpy as np

iso, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []
LAMBDAS = [0.1, 1, 10, 100, 1000, 10000, 100000]


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def close(a, b, tol=1e-6):
    return abs(a - b) <= tol * max(1.0, abs(b))


def write_tsv(path, ids, genes, cols, names):
    with open(path, "w") as f:
        f.write("transcript_id\tgene_id\tgene_name\tchrom\tstart\tend\tstrand\t" + "\t".join(names) + "\n")
        for i, (t, g) in enumerate(zip(ids, genes)):
            vals = "\t".join("nan" if np.isnan(v) else f"{v:.9g}" for v in cols[i])
            f.write(f"{t}\t{g}\t\tchrS\t{1000 * i}\t{1000 * i + 500}\t+\t{vals}\n")


def standardise(x):
    mean = x.mean(0)
    sd = x.std(0, ddof=1) if len(x) > 1 else np.zeros(x.shape[1])
    sd[~(sd > 0)] = 1
    return mean, sd


def ridge(xs, yc, lam):
    n, d = xs.shape
    if n < d:
        return xs.T @ np.linalg.solve(xs @ xs.T + lam * np.eye(n), yc)
    return np.linalg.solve(xs.T @ xs + lam * np.eye(d), xs.T @ yc)


def reference(x, y, genes, lambdas, folds=5):
    """(cv_r2 per lambda, baseline cv_r2, weights, intercept) for one output; NaN rows of y are not observed."""
    order = {}
    for g in genes:
        order.setdefault(g, len(order))
    folds = min(folds, len(order)) if len(order) > 1 else 2
    fold = np.array([order[g] % folds for g in genes])
    obs = ~np.isnan(y)
    x, y, fold = x[obs], y[obs], fold[obs]
    tot = np.sum((y - y.mean()) ** 2)
    r2, res_base = [], 0.0
    for lam in lambdas:
        res = 0.0
        for f in range(folds):
            tr, te = fold != f, fold == f
            if not te.any():
                continue
            mean, sd = standardise(x[tr])
            w = ridge((x[tr] - mean) / sd, y[tr] - y[tr].mean(), lam)
            res += np.sum((y[te] - y[tr].mean() - ((x[te] - mean) / sd) @ w) ** 2)
            if lam == lambdas[0]:
                res_base += np.sum((y[te] - y[tr].mean()) ** 2)
        r2.append(1 - res / tot)
    best = int(np.argmax(r2))
    mean, sd = standardise(x)
    w = ridge((x - mean) / sd, y - y.mean(), lambdas[best])
    return r2, 1 - res_base / tot, best, w, mean, sd, y.mean()


def run_fit(emb, obs, out, lambdas):
    t = time.time()
    r = subprocess.run([iso, "fit", "--embeddings", emb, "--obs", obs, "--out", out, "--lambdas",
                        ",".join(map(str, lambdas))], capture_output=True, text=True)
    check(r.returncode == 0, f"fit {out}: {r.stderr.strip()}")
    if r.returncode:
        return None, time.time() - t
    lines = [l.rstrip("\n").split("\t") for l in open(out)]
    meta = {l[0][1:]: dict(kv.split("=") for kv in l[1:]) for l in lines[1:] if l[0].startswith("#")}
    rows = [l for l in lines if not l[0].startswith("#")]
    head = {"mean": np.array(rows[0][1:], float), "sd": np.array(rows[1][1:], float)}
    for l in rows[2:]:
        head[l[0]] = (float(l[1]), np.array(l[2:], float), {k: float(v) for k, v in meta[l[0]].items()})
    return head, time.time() - t


def compare(name, x, y, genes, names, lambdas, per_lambda=False):
    """Fits y (n x outputs) with isoformer and checks each output against the numpy reference."""
    n = len(x)
    ids = [f"T{i}" for i in range(n)]
    emb, obs = f"{work}/{name}.emb.tsv", f"{work}/{name}.obs.tsv"
    write_tsv(emb, ids, genes, x, [f"emb_{k}" for k in range(x.shape[1])])
    write_tsv(obs, ids, genes, y, names)
    # isoformer stores table values as float32: the reference sees the same numbers.
    x32, y32 = x.astype(np.float32).astype(float), y.astype(np.float32).astype(float)
    head, secs = run_fit(emb, obs, f"{work}/{name}.head.tsv", lambdas)
    if head is None:
        return secs
    for j, col in enumerate(names):
        r2, base, best, w, mean, sd, ymean = reference(x32, y32[:, j], genes, lambdas)
        b_ours, w_ours, meta = head[col]
        check(meta["lambda"] == lambdas[best], f"{name} {col}: lambda {meta['lambda']}, numpy {lambdas[best]}")
        check(close(meta["cv_r2"], r2[best]), f"{name} {col}: CV R^2 {meta['cv_r2']}, numpy {r2[best]}")
        check(close(meta["baseline_cv_r2"], base), f"{name} {col}: baseline {meta['baseline_cv_r2']}, numpy {base}")
        # The head applies (x - head mean) / head sd: compare it as a function, and its weights.
        w_ref = w * head["sd"] / sd
        b_ref = ymean + np.sum(w * (head["mean"] - mean) / sd)
        err = np.max(np.abs(w_ours - w_ref)) / max(1.0, np.max(np.abs(w_ref)))
        check(err < 1e-6, f"{name} {col}: weights differ from numpy by {err:.2e}")
        check(close(b_ours, b_ref), f"{name} {col}: intercept {b_ours}, numpy {b_ref}")
        print(f"{name} {col}: lambda {meta['lambda']:g} CV R^2 {meta['cv_r2']:.6f} (numpy {r2[best]:.6f}), "
              f"baseline {base:.4f}, max weight error {err:.1e}")
    if per_lambda:  # the CV R^2 of every penalty, one at a time
        for k, lam in enumerate(lambdas):
            h, _ = run_fit(emb, obs, f"{work}/{name}.l{k}.tsv", [lam])
            r2 = reference(x32, y32[:, 0], genes, [lam])[0][0]
            check(h is not None and close(h[names[0]][2]["cv_r2"], r2),
                  f"{name} lambda {lam}: CV R^2 {h and h[names[0]][2]['cv_r2']}, numpy {r2}")
    return secs


rng = np.random.default_rng(1)


def planted(n_genes, per, dim, noise, outputs=1):
    genes = [f"G{g}" for g in range(n_genes) for _ in range(per)]
    x = rng.normal(0, 1, (n_genes * per, dim)) * rng.uniform(0.5, 3, dim) + rng.normal(0, 2, dim)
    w = rng.normal(0, 1, (dim, outputs)) * (rng.random((dim, outputs)) < 0.3)
    y = 4 + x @ w + rng.normal(0, noise, (len(x), outputs))
    return x, y, genes


# Noise-free y = X w + b: the held-out predictions are exact (up to a tiny penalty's shrinkage).
x, y, genes = planted(100, 3, 20, 0)
ids = [f"T{i}" for i in range(300)]
write_tsv(f"{work}/exact.emb.tsv", ids, genes, x, [f"emb_{k}" for k in range(20)])
write_tsv(f"{work}/exact.obs.tsv", ids, genes, y, ["y"])
head, _ = run_fit(f"{work}/exact.emb.tsv", f"{work}/exact.obs.tsv", f"{work}/exact.head.tsv", [0.001])
if head:
    print(f"noise-free planted signal: CV R^2 {head['y'][2]['cv_r2']:.8f}")
    check(head["y"][2]["cv_r2"] > 0.9999, f"noise-free planted signal: CV R^2 {head['y'][2]['cv_r2']}")

# Primal (more rows than features), every penalty; then dual (wider than the training rows).
x, y, genes = planted(100, 3, 20, 1.0)
compare("primal", x, y, genes, ["y"], LAMBDAS, per_lambda=True)
x, y, genes = planted(20, 3, 150, 0.5)
compare("dual", x, y, genes, ["y"], LAMBDAS, per_lambda=True)
# Several outputs: two observed everywhere (solved together), two with missing values (their own rows).
x, y, genes = planted(60, 3, 30, 1.0, outputs=4)
y[rng.random(len(y)) < 0.2, 2] = np.nan
y[rng.random(len(y)) < 0.4, 3] = np.nan
compare("outputs", x, y, genes, ["a", "b", "c", "d"], LAMBDAS)
# More rows than fit standardises at a time (2,048): the Gram matrix and the test errors summed over blocks.
x, y, genes = planted(4000, 3, 8, 1.0, outputs=2)
compare("blocks", x, y, genes, ["a", "b"], LAMBDAS)
# 3,072-wide embeddings (IsoFormer's fused width): 600 transcripts in 200 genes, 3 outputs.
x, y, genes = planted(200, 3, 3072, 1.0, outputs=3)
secs = compare("wide", x, y, genes, ["a", "b", "c"], LAMBDAS)
print(f"fit of 600 x 3072 embeddings, 3 outputs, 7 penalties, 5 folds: {secs:.1f} s")
print(f"{len(failures)} failed" if failures else "ridge checks passed")
sys.exit(1 if failures else 0)
