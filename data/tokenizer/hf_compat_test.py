"""Compatibility of hai's tokenizer with Hugging Face `tokenizers`.

For a GPT-2-style (ByteLevel) and a DeepSeek-style (Sequence of Splits, then
ByteLevel without its regex) pre-tokenizer:
  1. `tokenizers` trains a byte-level BPE on the fortunes corpus (documents
     split on "%" lines, 9 in 10 for training); hai loads that tokenizer.json
     and must encode the held-out documents, and texts with special tokens,
     chat-template markup, emoji, CJK, long whitespace runs and digits, to
     exactly the ids `tokenizers` gives.
  2. `hai data tokenizer-train` trains on the same documents; `tokenizers`
     loads hai's tokenizer.json and must give the ids hai gives.
Also the older DeepSeek LLM layout (Splits with a `$` anchor, then Digits),
a Sequence using every Split behavior, invert, a String pattern and
ByteLevel(add_prefix_space=true), a variant with an NFKC normalizer and a non-special added token, and
decoding both ways.

Usage: python3 hf_compat_test.py --hai path/to/hai_tokenizer --tmp DIR
"""
import argparse
import os
import struct
import subprocess
import sys

from tokenizers import AddedToken, Regex, Tokenizer, normalizers, pre_tokenizers

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools", "peers"))
import hf_tokenizers_peer as peer  # noqa: E402

FORTUNES = "/usr/share/games/fortunes"
BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
SPECIALS = [BOS, EOS, "<|eos|>"]

EXTRA_TEXTS = [
    # DeepSeek-V2 chat template markup.
    BOS + "User: What is 12345 + 678?\n\nAssistant: It is 13023." + EOS
    + "User: 你好！\n\nAssistant: 你好，有什么可以帮你的吗？" + EOS,
    "emoji 😀🎉👩‍👩‍👧 flags 🇫🇷 thumbs 👍🏽 done",
    "中文文本：你好，世界！日本語のテキスト、カタカナ。한국어 텍스트.",
    " " * 3000 + "x" + "\n" * 200 + "\t \t  \r\n  end   ",
    "digits 3.14159265358979 1,000,000 v2.0.1 0x1F 2026-12-05",
    "<|eos|>at start, in the middle<|eos|>and at the end<|eos|>",
    "contractions: it's we're they've I'm you'll he'd DON'T",
    "accents: café naïve résumé ﬁne ﬂow Ⅻ ｆｕｌｌｗｉｄｔｈ",
    "code: def f(x):\n    return x**2  # comment\n\tif a != b: pass",
    "mixed\u00a0no-break\u2003em\u3000ideographic spaces",
    # Characters where regex engines disagree on what \s is.
    "a\u180eb c\u0085d e\u200bf\ufeffg h\u2028i j\u2029k l\u000bm n\u001cx\u001fy \u1680w",
    "x \u180e\u180e y\u0085\u0085 z \u000b\u000b r \u001c\u001c end \u180e",
]


class Hai:
    def __init__(self, binary, tmp):
        self.binary, self.tmp, self.n = binary, tmp, 0

    def run(self, *args):
        subprocess.run([self.binary, *args], check=True, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)

    def encode(self, tokenizer_json, text):
        self.n += 1
        src = os.path.join(self.tmp, "text%d.txt" % self.n)
        out = os.path.join(self.tmp, "ids%d.bin" % self.n)
        with open(src, "wb") as f:
            f.write(text.encode("utf-8"))
        self.run("data", "encode", "--tokenizer", tokenizer_json, "--in", src, "--out", out)
        raw = open(out, "rb").read()
        return list(struct.unpack("<%dI" % (len(raw) // 4), raw))

    def decode(self, tokenizer_json, ids):
        self.n += 1
        src = os.path.join(self.tmp, "ids%d.bin" % self.n)
        out = os.path.join(self.tmp, "text%d.out" % self.n)
        with open(src, "wb") as f:
            f.write(struct.pack("<%dI" % len(ids), *ids))
        self.run("data", "decode", "--tokenizer", tokenizer_json, "--in", src, "--out", out)
        return open(out, "rb").read().decode("utf-8")


def compare(label, hf_tok, tokenizer_json, hai, texts):
    """hai and tokenizers encode (and decode) every text the same."""
    failures = 0
    total = 0
    for i, text in enumerate(texts):
        want = hf_tok.encode(text, add_special_tokens=False).ids
        got = hai.encode(tokenizer_json, text)
        total += len(want)
        if got != want:
            failures += 1
            k = next((j for j, (a, b) in enumerate(zip(got, want)) if a != b),
                     min(len(got), len(want)))
            print("MISMATCH %s text %d at token %d: tokenizers %s, hai %s (%r)" % (
                label, i, k, want[max(0, k - 2):k + 4], got[max(0, k - 2):k + 4],
                hf_tok.decode(want[max(0, k - 2):k + 4])))
            continue
        back = hai.decode(tokenizer_json, got)
        if back != hf_tok.decode(want, skip_special_tokens=False) and back != text:
            failures += 1
            print("MISMATCH %s text %d: decode differs" % (label, i))
    print("%-44s %6d tokens over %2d texts: %s" % (
        label, total, len(texts), "identical" if failures == 0 else "%d differ" % failures))
    return failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hai", required=True)
    parser.add_argument("--tmp", required=True)
    parser.add_argument("--vocab", type=int, default=2000)
    args = parser.parse_args()
    if not os.path.isdir(FORTUNES):
        print("error: %s is missing (tools/setup.sh installs fortunes)" % FORTUNES)
        return 1
    docs = peer.fortune_documents(FORTUNES)
    train = [d for i, d in enumerate(docs) if i % 10 != 0]
    held_out = [d for i, d in enumerate(docs) if i % 10 == 0]
    # The held-out corpus as one text (as `hai data encode` sees a file),
    # plus the special texts one by one.
    texts = ["".join(held_out)] + EXTRA_TEXTS
    hai = Hai(args.hai, args.tmp)
    train_file = os.path.join(args.tmp, "train.txt")
    with open(train_file, "w", encoding="utf-8") as f:
        f.write("".join(train))
    print("corpus: %d documents for training, %d held out (%d bytes)" % (
        len(train), len(held_out), len(texts[0].encode("utf-8"))))

    failures = 0
    for style in ("gpt2", "deepseek"):
        # 1. tokenizers trains, hai encodes.
        hf_tok = peer.train(style, train, args.vocab, SPECIALS)
        path = os.path.join(args.tmp, "hf_%s.json" % style)
        hf_tok.save(path)
        failures += compare("tokenizers-trained %s, hai encodes" % style, hf_tok, path, hai, texts)
        # 2. hai trains, tokenizers loads.
        path = os.path.join(args.tmp, "hai_%s.json" % style)
        specials = sum((["--special", s] for s in SPECIALS), [])
        hai.run("data", "tokenizer-train", "--in", train_file, "--vocab", str(args.vocab),
                "--out", path, "--pre-tokenizer", style, *specials)
        loaded = Tokenizer.from_file(path)
        if loaded.get_vocab_size() != args.vocab:
            print("MISMATCH hai-trained %s: tokenizers sees %d tokens, want %d" % (
                style, loaded.get_vocab_size(), args.vocab))
            failures += 1
        failures += compare("hai-trained %s, tokenizers loads" % style, loaded, path, hai, texts)

    # 3. The older DeepSeek LLM layout: newlines, letter runs, punctuation
    #    runs, trailing spaces (`$` at line ends), CJK runs, then single digits.
    llm = Tokenizer.from_file(os.path.join(args.tmp, "hf_gpt2.json"))
    llm.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex("[\r\n]"), "isolated"),
        pre_tokenizers.Split(Regex("\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳ]+"), "isolated"),
        pre_tokenizers.Split(Regex("\\s?[!-/:-~！-／：-～‘-‟　-。]+"), "isolated"),
        pre_tokenizers.Split(Regex("\\s+$"), "isolated"),
        pre_tokenizers.Split(Regex("[一-龥ࠀ-一가-퟿]+"), "isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    path = os.path.join(args.tmp, "hf_deepseek_llm.json")
    llm.save(path)
    failures += compare("DeepSeek LLM-style splits + Digits", llm, path, hai, texts)

    # 4. Every Split behavior, invert, a String pattern, add_prefix_space.
    mixed = Tokenizer.from_file(os.path.join(args.tmp, "hf_gpt2.json"))
    mixed.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(" ", "merged_with_next"),
        pre_tokenizers.Split(Regex("\\p{P}"), "contiguous"),
        pre_tokenizers.Split(Regex("[0-9]+"), "merged_with_previous"),
        pre_tokenizers.Split(Regex("[^\\n]+"), "isolated", invert=True),
        pre_tokenizers.Split(Regex("~"), "removed"),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
    ])
    path = os.path.join(args.tmp, "hf_mixed.json")
    mixed.save(path)
    failures += compare("all Split behaviors + add_prefix_space", mixed, path, hai,
                        texts + ["a~b ~~ c~ 12ab34, x.. y!? 5"])

    # 5. NFKC normalizer and a non-special added token (normalized=true).
    hf_tok = peer.train("gpt2", train[:3000], 1000, SPECIALS, normalizer=normalizers.NFKC())
    hf_tok.add_tokens(["<tool>"])
    # Added tokens with whitespace stripping and whole-word matching.
    hf_tok.add_special_tokens([AddedToken("<L>", lstrip=True), AddedToken("<R>", rstrip=True),
                               AddedToken("[W]", single_word=True)])
    path = os.path.join(args.tmp, "hf_nfkc.json")
    hf_tok.save(path)
    failures += compare("tokenizers-trained gpt2 + NFKC + added", hf_tok, path, hai,
                        texts[1:] + ["call <tool> then ﬁnish<tool>",
                                     "a  <L>b<R>   c \n <L> <R>\t\td",
                                     "[W] x[W] [W]y ([W]) _[W] é[W] [W]"])
    if failures:
        print("FAILED: %d comparisons differ" % failures)
        return 1
    print("PASSED: hai and tokenizers agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
