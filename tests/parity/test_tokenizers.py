"""Our RNA (NT-v2 6-mer) and protein (ESM-2) tokenizers vs Hugging Face transformers' EsmTokenizer built on
the same vocab files, configured as IsoFormer's tokenizer is (RNA without <eos>), with and without
truncation. Usage: test_tokenizers.py ISOFORMER_BINARY WORKDIR TOKENS_DRIVER"""
import os
import random
import subprocess
import sys

from transformers import EsmTokenizer

work, driver = sys.argv[2], sys.argv[3]
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


def ours(kind, seqs, max_tokens):
    r = subprocess.run([driver, kind, str(max_tokens)], input="\n".join(seqs) + "\n", capture_output=True,
                       text=True, check=True)
    return [[int(x) for x in line.split()] for line in r.stdout.splitlines()]


def theirs(tok, seqs, max_tokens):
    if max_tokens > 0:
        return [tok(s, truncation=True, max_length=max_tokens)["input_ids"] for s in seqs]
    return [tok(s)["input_ids"] for s in seqs]


rna = ["ATTCCGGTTTTCA" * 9, "A", "ACGTAC", "ACGTACG", "NNNN", "ACGNTTTTTTTNA", "N" + "ACGT" * 40 + "NAC",
       "GATTACA" * 3 + "N" * 3 + "CCCCCCC",
       "ACGRYACGTTT", "ACG?#NACGTAC", "RRNRR"]
rna += ["".join(random.choice("ACGTN" if random.random() < 0.3 else "ACGT") for _ in range(random.randint(1, 400)))
        for _ in range(300)]
prot = ["RSRSRSRSRSRSRSRSRSRSRL" * 9, "M", "MKV*QLX", "MUSEC", "ACDEFGHIKLMNPQRSTVWYBZXUO.-", "M?J#", "?M", "M??L?"]
prot += ["".join(random.choice("ACDEFGHIKLMNPQRSTVWYXU") for _ in range(random.randint(1, 300))) for _ in range(300)]

n = 0
for kind, tok, seqs in (("rna", rna_tok, rna), ("protein", prot_tok, prot)):
    for max_tokens in (0, 64, 7):
        a, b = ours(kind, seqs, max_tokens), theirs(tok, seqs, max_tokens)
        for s, x, y in zip(seqs, a, b):
            n += 1
            if x != y:
                failures.append(f"{kind} max={max_tokens} {s[:40]}: ours {x[:12]} theirs {y[:12]}")
print(f"compared {n} tokenizations with EsmTokenizer; {len(failures)} differ")
for f in failures[:10]:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
