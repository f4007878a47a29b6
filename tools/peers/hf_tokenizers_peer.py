"""Hugging Face `tokenizers` as a peer of hai's tokenizer.

Benchmark peer of `hai bench tokenizer --compare-hf` and helper module of
data/tokenizer/hf_compat_test.py. Needs PyPI `tokenizers` (the peers'
environment made by `tools/setup.sh --peers`, /opt/haiscale/peers-venv).

  python3 tools/peers/hf_tokenizers_peer.py --tokenizer T.json [--corpus DIR]
      [--threads N] [--repeat 3] [--train-vocab 8192 --pre-tokenizer gpt2|deepseek]
  -> one JSON line: {"threads", "bytes", "documents", "tokens", "encode_s",
     "mb_per_s", "checksum", "train_s"}

Documents are the entries of the fortune files in --corpus (split on "%"
lines, files in name order), exactly as `hai bench tokenizer` reads them,
and are encoded with encode_batch (no special tokens added). The checksum
(FNV-1a over the ids) lets the caller check both sides produced the same ids.
"""
import argparse
import json
import os
import sys
import time

# The Split patterns of DeepSeek's released byte-level tokenizers, as their
# tokenizer.json writes them: digits in groups of three; CJK runs;
# punctuation, letters, newlines and spaces.
DEEPSEEK_SPLITS = [
    "\\p{N}{1,3}",
    "[一-龥\u3040-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?"
    "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
]


def fortune_documents(corpus_dir):
    """The entries of every fortune file (no extension) in corpus_dir."""
    names = sorted(n for n in os.listdir(corpus_dir)
                   if "." not in n and os.path.isfile(os.path.join(corpus_dir, n)))
    docs = []
    for name in names:
        with open(os.path.join(corpus_dir, name), "rb") as f:
            lines = f.read().decode("utf-8", errors="replace").split("\n")
        entry = []
        for k, line in enumerate(lines):
            if line == "%":
                if entry:
                    docs.append("".join(entry))
                entry = []
            else:
                entry.append(line + ("\n" if k + 1 < len(lines) else ""))
        if entry and "".join(entry):
            docs.append("".join(entry))
    return docs


def pre_tokenizer(style):
    from tokenizers import Regex, pre_tokenizers
    if style == "gpt2":
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    splits = [pre_tokenizers.Split(Regex(p), behavior="isolated", invert=False)
              for p in DEEPSEEK_SPLITS]
    return pre_tokenizers.Sequence(
        splits + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


def train(style, docs, vocab, special_tokens, normalizer=None):
    """A byte-level BPE trained by `tokenizers` (all 256 bytes in the vocab)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer(style)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2,
                                  special_tokens=special_tokens,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(docs, trainer=trainer)
    return tok


def checksum(batches):
    h = 0xCBF29CE484222325
    for ids in batches:
        for i in ids:
            h = ((h ^ i) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--corpus", default="/usr/share/games/fortunes")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--train-vocab", type=int, default=0)
    parser.add_argument("--pre-tokenizer", default="gpt2", choices=["gpt2", "deepseek"])
    args = parser.parse_args()
    # Rayon reads its thread count once, at the first parallel call.
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    from tokenizers import Tokenizer

    docs = fortune_documents(args.corpus)
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    tok = Tokenizer.from_file(args.tokenizer)
    best = float("inf")
    batches = None
    for _ in range(max(1, args.repeat)):
        start = time.perf_counter()
        encodings = tok.encode_batch(docs, add_special_tokens=False)
        best = min(best, time.perf_counter() - start)
        batches = [e.ids for e in encodings]
    train_s = 0.0
    if args.train_vocab > 0:
        start = time.perf_counter()
        train(args.pre_tokenizer, docs, args.train_vocab, [])
        train_s = time.perf_counter() - start
    print(json.dumps({
        "threads": args.threads, "bytes": nbytes, "documents": len(docs),
        "tokens": sum(len(b) for b in batches), "encode_s": best,
        "mb_per_s": nbytes / best / 1e6, "checksum": checksum(batches), "train_s": train_s,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
