#!/usr/bin/env python3
"""`tmac tokenize --ids` against llama.cpp (llama-cpp-python) on the same vocabularies.

Tokenizes tests/data/mixed_text.txt (English, code, numbers, Chinese, Japanese, Russian, Arabic,
Hindi, emoji, odd white space, special-token text) line by line and as a whole, with and without
BOS and special-token parsing, under SmolLM2-135M-Instruct's byte-level BPE vocabulary (path from
$TMAC_SMOLLM2, default ~/.cache/tmac/models/SmolLM2-135M-Instruct.Q4_1.gguf) and the
tokenizer-vectors' llama-spm and gpt-2 vocabularies, and requires identical ids. The gpt-2
vocabulary is also rewritten with tokenizer.ggml.pre = "llama-bpe" and "default" (the Llama 3 and
fallback pre-tokenizers, which no stored vocabulary uses), and a few hundred random texts built
from the characters that pre-tokenizers treat differently are compared too.

Fails (never skips) when llama_cpp or SmolLM2 is missing: scripts/setup.sh installs both.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

SETUP_HINT = "run scripts/setup.sh to install llama-cpp-python and fetch SmolLM2 into ~/.cache/tmac/models"


def fail(message):
    print(f"tokenizer_vs_llama: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def tmac_ids(tmac, model, texts, add_bos, special):
    """One `tmac tokenize --ids` run over all texts: one `[...]` line per text."""
    command = [tmac, "tokenize", "-m", str(model), "--ids"]
    if not add_bos:
        command.append("--no-bos")
    if not special:
        command.append("--no-parse-special")
    # --prompt=TEXT keeps texts that start with '-' from reading as options; CLI11 drops an
    # empty --prompt=, so the empty text goes as `-p ""`.
    for text in texts:
        command += [f"--prompt={text}"] if text else ["-p", ""]
    result = subprocess.run(command, capture_output=True)
    if result.returncode != 0:
        fail(f"{' '.join(command[:6])} ... exited {result.returncode}: {result.stderr.decode(errors='replace')}")
    lines = result.stdout.decode().splitlines()
    if len(lines) != len(texts):
        fail(f"tmac printed {len(lines)} lines for {len(texts)} inputs")
    return [[int(x) for x in line.strip("[]").split(",") if x.strip()] for line in lines]


def with_pre_tokenizer(source, target, pre):
    """A copy of vocabulary-only GGUF `source` whose tokenizer.ggml.pre is `pre`."""
    import gguf
    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(target, arch=reader.fields["general.architecture"].contents())
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        value = pre if key == "tokenizer.ggml.pre" else field.contents()
        sub_type = field.types[1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, field.types[0], sub_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    return Path(target)


# Pieces the pre-tokenizers split on: letters of several scripts, digits of several kinds,
# contractions in both cases, punctuation and symbols, every kind of white space, emoji.
PIECES = ["a", "Z", "é", "ß", "я", "Ж", "中", "の", "ア", "ك", "ह", "ि", "0", "7", "٣", "①", "½", "Ⅻ",
          "'s", "'S", "'re", "'RE", "'ll", "'Ve", "'d", "'M", "'t", "'x", "'",
          ".", ",", "!", "?", "$", "+", "<", "=", ">", "^", "~", "|", "`", "_", "-", "(", "]", "—", "…", "€", "∑",
          " ", "  ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "\u2003", "\u0085", "\u000b",
          "😀", "👍🏽", "👨\u200d👩", "\u0301", "\ufeff", "<|im_start|>", "<|endoftext|>"]


def random_texts(count, seed=1234):
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 24))) for _ in range(count)]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tmac", required=True, help="the tmac binary")
    parser.add_argument("--models", required=True, type=Path, help="../shared/models")
    parser.add_argument("--text", required=True, type=Path, help="tests/data/mixed_text.txt")
    args = parser.parse_args()

    try:
        import llama_cpp
    except ImportError as e:
        fail(f"cannot import llama_cpp ({e}); {SETUP_HINT}")
    # llama.cpp's log (load messages, double-BOS warnings) says nothing this test needs.
    quiet = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
    llama_cpp.llama_log_set(quiet, None)

    smollm2 = Path(os.environ.get("TMAC_SMOLLM2",
                                  Path.home() / ".cache/tmac/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    if not smollm2.is_file():
        fail(f"{smollm2} is missing; {SETUP_HINT}")
    vocabs = [smollm2, args.models / "tokenizer-vectors/ggml-vocab-llama-spm.gguf",
              args.models / "tokenizer-vectors/ggml-vocab-gpt-2.gguf"]
    for vocab in vocabs:
        if not vocab.is_file():
            fail(f"{vocab} is missing")

    scratch = tempfile.TemporaryDirectory()
    gpt2 = vocabs[2]
    vocabs += [with_pre_tokenizer(gpt2, Path(scratch.name) / f"gpt-2-{pre}.gguf", pre) for pre in ("llama-bpe", "default")]

    # Bytes -> str without changing them: the file is UTF-8, and lines keep their '\r'.
    whole = args.text.read_bytes().decode("utf-8")
    texts = whole.split("\n") + [whole] + random_texts(300)

    passed = failed = 0
    for vocab in vocabs:
        llm = llama_cpp.Llama(model_path=str(vocab), vocab_only=True, verbose=False)
        for add_bos in (True, False):
            for special in (True, False):
                ours = tmac_ids(args.tmac, vocab, texts, add_bos, special)
                for text, got in zip(texts, ours):
                    want = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)
                    if got == want:
                        passed += 1
                        continue
                    failed += 1
                    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
                    print(f"MISMATCH {vocab.name} add_bos={add_bos} special={special} text={text[:80]!r}\n"
                          f"  at token {at}: tmac {got[at:at + 8]} llama.cpp {want[at:at + 8]}", file=sys.stderr)
        del llm
    print(f"tokenizer_vs_llama: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
