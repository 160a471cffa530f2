#!/usr/bin/env python3
"""`tmac synth` models against llama.cpp (llama-cpp-python) and its gguf Python package.

Usage: synth_llama_test.py --tmac TMAC

For tiny-llama and tiny-bitnet in several weight types:
  - gguf.GGUFReader reads the file: architecture, tensor names, shapes and types, and a vocabulary
    as long as token_embd; gguf.quants.dequantize gives every matrix mean ~0 and standard
    deviation ~1/sqrt(row length), ternary types only -d, 0 and +d with a third of zeros, norms 1;
  - llama.cpp loads the file, evaluates a few tokens and gives finite, non-constant logits.
The script fails, rather than skip, when llama_cpp cannot be imported: scripts/setup.sh installs it.
"""

import argparse
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

try:
    import gguf
    import llama_cpp
    import llama_cpp.llama
    import numpy as np
    from llama_reference import load_llama
except ImportError as error:
    sys.exit(f"FAIL: {error}; run scripts/setup.sh, which installs numpy, gguf and llama-cpp-python in .venv")

TMAC = ""
CASES = [("tiny-llama", t) for t in ("F16", "Q4_0", "Q2_K", "TQ1_0", "TQ2_0")] + \
        [("tiny-bitnet", t) for t in ("TQ1_0", "TQ2_0")]
TERNARY = {"TQ1_0", "TQ2_0"}


def synth(out: Path, shape: str, type_name: str, seed: int = 7) -> None:
    subprocess.run([TMAC, "synth", "--shape", shape, "--type", type_name, "-o", str(out), "--seed", str(seed)],
                   check=True, capture_output=True, text=True)


class SynthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.files = {}
        for shape, type_name in CASES:
            path = Path(cls.dir.name) / f"{shape}-{type_name}.gguf"
            synth(path, shape, type_name)
            cls.files[shape, type_name] = path

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def check_weights(self, tensor, type_name: str) -> None:
        k = int(tensor.shape[0])
        w = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float64)
        self.assertEqual(w.size, int(np.prod(tensor.shape)))
        self.assertTrue(np.isfinite(w).all())
        target = 1 / np.sqrt(k)
        self.assertAlmostEqual(w.std() / target, 1.0, delta=0.06, msg=tensor.name)
        self.assertLess(abs(w.mean()), 0.12 * target, tensor.name)
        if type_name in TERNARY:  # each 256-weight block is d * {-1, 0, +1}
            blocks = w.reshape(-1, 256)
            scale = np.abs(blocks).max(axis=1, keepdims=True)
            self.assertTrue(np.isin(blocks / scale, [-1.0, 0.0, 1.0]).all(), tensor.name)
            self.assertAlmostEqual((blocks == 0).mean(), 1 / 3, delta=0.03, msg=tensor.name)

    def test_gguf_reader_reads_the_model(self):
        for (shape, type_name), path in self.files.items():
            with self.subTest(shape=shape, type=type_name):
                reader = gguf.GGUFReader(path)
                arch = reader.get_field("general.architecture").contents()
                self.assertEqual(arch, "bitnet" if shape == "tiny-bitnet" else "llama")
                tensors = {t.name: t for t in reader.tensors}
                n_vocab = len(reader.get_field("tokenizer.ggml.tokens").contents())
                self.assertEqual(reader.get_field(f"{arch}.vocab_size").contents(), n_vocab)
                embd = tensors["token_embd.weight"]
                self.assertEqual(list(embd.shape), [256, n_vocab])
                self.assertEqual(embd.tensor_type.name, "Q8_0")
                self.assertEqual("output.weight" in tensors, arch == "llama")  # BitNet ties it
                self.assertEqual("blk.0.ffn_sub_norm.weight" in tensors, arch == "bitnet")
                n_ff = reader.get_field(f"{arch}.feed_forward_length").contents()
                self.assertEqual(list(tensors["blk.1.ffn_down.weight"].shape), [n_ff, 256])
                for name, t in tensors.items():
                    if "norm" in name:
                        self.assertEqual(t.tensor_type.name, "F32")
                        self.assertTrue((np.asarray(t.data) == 1).all(), name)
                    elif name.startswith("blk."):
                        self.assertEqual(t.tensor_type.name, type_name, name)
                        self.check_weights(t, type_name)
                self.check_weights(embd, "Q8_0")

    def test_llama_cpp_runs_the_model(self):
        for (shape, type_name), path in self.files.items():
            with self.subTest(shape=shape, type=type_name):
                model = load_llama(path)
                tokens = model.tokenize(b"The quick brown fox", add_bos=True)
                model.eval(tokens)
                logits = np.ctypeslib.as_array(model._ctx.get_logits_ith(-1), shape=(model.n_vocab(),))
                self.assertTrue(np.isfinite(logits).all())
                self.assertGreater(logits.std(), 0.1)  # rows of std 1/sqrt(K) times normalized inputs: ~1
                model.close()

    def test_the_same_seed_gives_the_same_file(self):
        again = Path(self.dir.name) / "again.gguf"
        synth(again, "tiny-llama", "Q4_0")
        self.assertEqual(again.read_bytes(), self.files["tiny-llama", "Q4_0"].read_bytes())


def main() -> None:
    global TMAC
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tmac", required=True, help="the tmac binary")
    TMAC = parser.parse_args().tmac
    unittest.main(argv=sys.argv[:1], verbosity=2)


if __name__ == "__main__":
    main()
