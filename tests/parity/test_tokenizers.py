"""Our RNA (NT-v2 6-mer) and protein (ESM-2) tokenizers vs Hugging Face transformers' EsmTokenizer built on
the same vocab files, configured as IsoFormer's tokenizer is (RNA without <eos>), with and without
truncation, padding and attention masks. Sequences: edge cases, random ones, and the real chr20 transcripts and
proteins of test-data as gffread extracts them. Usage: test_tokenizers.py ISOFORMER_BINARY WORKDIR TOKENS_DRIVER
TEST_DATA"""
import gzip
import os
import random
import subprocess
import sys

from transformers import EsmTokenizer

work, driver, data = sys.argv[2], sys.argv[3], sys.argv[4]
os.makedirs(work, exist_ok=True)
subprocess.run([driver, "vocab", work], check=True)
random.seed(3)
failures = []

rna_tok = EsmTokenizer(os.path.join(work, "rna_vocab_list.txt"))
rna_tok.eos_token = None
prot_tok = EsmTokenizer(os.path.join(work, "protein_vocab_list.txt"))

# The vocab layout the architecture spec confirms.
assert rna_tok.convert_tokens_to_ids(["<pad>", "<cls>", "AAAAAA", "AAAAAT", "AAAAAC", "A", "N"]) == \
    [1, 3, 6, 7, 8, 4102, 4106]
assert len(rna_tok) == 4107
assert prot_tok.convert_tokens_to_ids(["<cls>", "<pad>", "<eos>", "<unk>", "L", "-", "<mask>"]) == \
    [0, 1, 2, 3, 4, 30, 32]


def ours(kind, seqs, max_tokens, pad_to):
    """ids, or with pad_to > 0 (ids padded to pad_to, attention mask)."""
    r = subprocess.run([driver, kind, str(max_tokens), str(pad_to)], input="\n".join(seqs) + "\n",
                       capture_output=True, text=True, check=True)
    out = [[[int(x) for x in part.split()] for part in line.split("\t")] for line in r.stdout.splitlines()]
    return [o[0] if pad_to <= 0 else tuple(o) for o in out]


def theirs(tok, seqs, max_tokens, pad_to):
    kw = dict(truncation=True, max_length=max_tokens) if max_tokens > 0 else {}
    if pad_to > 0:
        kw.update(padding="max_length", max_length=pad_to)
        return [(e["input_ids"], e["attention_mask"]) for e in (tok(s, **kw) for s in seqs)]
    return [tok(s, **kw)["input_ids"] for s in seqs]


rna = ["ATTCCGGTTTTCA" * 9, "A", "ACGTAC", "ACGTACG", "NNNN", "ACGNTTTTTTTNA", "N" + "ACGT" * 40 + "NAC",
       "GATTACA" * 3 + "N" * 3 + "CCCCCCC",
       "ACGRYACGTTT", "ACG?#NACGTAC", "RRNRR"]
rna += ["".join(random.choice("ACGTN" if random.random() < 0.3 else "ACGT") for _ in range(random.randint(1, 400)))
        for _ in range(300)]
prot = ["RSRSRSRSRSRSRSRSRSRSRL" * 9, "M", "MKV*QLX", "MUSEC", "ACDEFGHIKLMNPQRSTVWYBZXUO.-", "M?J#", "?M", "M??L?"]
prot += ["".join(random.choice("ACDEFGHIKLMNPQRSTVWYXU") for _ in range(random.randint(1, 300))) for _ in range(300)]


def gffread_seqs():
    """Spliced RNAs (-w) and proteins (-y, '.' for stops) of the test annotation, by gffread."""
    fasta, gtf = os.path.join(work, "genome.fa"), os.path.join(work, "ann.gtf")
    with gzip.open(os.path.join(data, "genome.fa.gz"), "rt") as src, open(fasta, "w") as dst:
        dst.write(src.read())
    with open(os.path.join(data, "annotation.gtf")) as src, open(gtf, "w") as dst:
        dst.writelines(line if line.startswith("#") else line.replace("chr20\t", "20\t", 1) for line in src)
    seqs = {}
    for flag in ("-w", "-y"):
        out = subprocess.run(["gffread", flag, "-", "-g", fasta, gtf], capture_output=True, text=True,
                             check=True).stdout
        seqs[flag] = ["".join(rec.splitlines()[1:]).upper() for rec in out.split(">")[1:]]
    return seqs["-w"], [p for p in seqs["-y"] if p]


real_rna, real_prot = gffread_seqs()
assert len(real_rna) >= 5 and len(real_prot) >= 5, (len(real_rna), len(real_prot))
rna += real_rna
prot += real_prot

n = 0
for kind, tok, seqs in (("rna", rna_tok, rna), ("protein", prot_tok, prot)):
    # (max_tokens, pad_to): unlimited, truncated, truncated and padded to the same length (as IsoFormer's
    # padding="max_length"), padded only (longer sequences stay longer in both).
    for max_tokens, pad_to in ((0, 0), (64, 0), (7, 0), (64, 64), (0, 300), (1026, 1026)):
        a, b = ours(kind, seqs, max_tokens, pad_to), theirs(tok, seqs, max_tokens, pad_to)
        for s, x, y in zip(seqs, a, b):
            n += 1
            if x != y:
                failures.append(f"{kind} max={max_tokens} pad={pad_to} {s[:40]}: ours {str(x)[:60]} "
                                f"theirs {str(y)[:60]}")
print(f"compared {n} tokenizations with EsmTokenizer; {len(failures)} differ")
for f in failures[:10]:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
