#!/usr/bin/env python3
"""`tmac bench -m MODEL` on a tiny synthetic model: the structure of its three outputs, and the
numbers that do not depend on timing checked against independent computations.

Usage: bench_model_test.py --tmac TMAC

One tiny-llama Q4_0 file from `tmac synth`, benchmarked with -p 8 -n 4 -r 2 -t 1,2:
  - json parses (so stdout carries nothing but the output; progress goes to stderr), one record per
    thread count and test; the file size, parameter counts (from gguf-py's reader), mean and
    sample standard deviation of the samples, bits per weight and the roofline are recomputed here;
  - csv has the json's fields as its header and the same tests as rows;
  - md is a table with llama-bench's leading columns and the roofline columns on tg rows only;
  - bad arguments end with "tmac: error: ..." and exit status 1.
No timing is asserted: the machine is shared.
"""

import argparse
import csv
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

try:
    import gguf
except ImportError as error:
    sys.exit(f"FAIL: {error}; run scripts/setup.sh, which installs gguf in .venv")

TMAC = ""
ARGS = ["-p", "8", "-n", "4", "-r", "2", "-t", "1,2"]
TESTS = {(1, "pp8"), (1, "tg4"), (2, "pp8"), (2, "tg4")}
MD_HEADER = "| model | arch | size | params | bpw | kernel | threads | test | t/s | roofline t/s | % roofline |"
LAYER_MATRICES = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


def tmac(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TMAC, *args], capture_output=True, text=True, timeout=300)


class BenchModelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.model = Path(cls.dir.name) / "tiny.gguf"
        subprocess.run([TMAC, "synth", "--shape", "tiny-llama", "--type", "Q4_0", "-o", str(cls.model)],
                       check=True, capture_output=True, text=True)
        cls.outputs = {}
        for fmt in ("md", "json", "csv"):
            run = tmac("bench", "-m", str(cls.model), *ARGS, "-o", fmt)
            if run.returncode != 0:
                raise AssertionError(f"tmac bench -o {fmt} failed ({run.returncode}): {run.stderr}")
            cls.outputs[fmt] = run.stdout
        reader = gguf.GGUFReader(cls.model)
        cls.params = sum(int(t.n_elements) for t in reader.tensors)
        cls.matmul_params = sum(int(t.n_elements) for t in reader.tensors
                                if t.name == "output.weight" or t.name.split(".")[-2] in LAYER_MATRICES)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_json_records(self):
        records = json.loads(self.outputs["json"])
        self.assertEqual({(r["n_threads"], r["test"]) for r in records}, TESTS)
        self.assertEqual(len(records), len(TESTS))
        for r in records:
            with self.subTest(threads=r["n_threads"], test=r["test"]):
                self.assertEqual(r["model_filename"], "tiny.gguf")
                self.assertEqual(r["model_arch"], "llama")
                self.assertEqual(r["model_size"], os.path.getsize(self.model))
                self.assertEqual(r["model_n_params"], self.params)
                self.assertEqual(r["matmul_n_params"], self.matmul_params)
                self.assertAlmostEqual(r["bits_per_weight"], 8 * r["weight_bytes_per_token"] / self.matmul_params)
                self.assertIn("lut 4-bit", r["kernel"])  # Q4_0 is repacked at load
                samples = r["samples_ts"]
                self.assertEqual(len(samples), 2)
                self.assertTrue(all(s > 0 for s in samples))
                self.assertAlmostEqual(r["avg_ts"], statistics.mean(samples))
                self.assertAlmostEqual(r["stddev_ts"], statistics.stdev(samples))
                self.assertGreater(r["read_bandwidth_gbps"], 0)
                generation = r["test"].startswith("tg")
                self.assertEqual((r["n_prompt"], r["n_gen"]), (0, 4) if generation else (8, 0))
                if generation:
                    roofline = r["read_bandwidth_gbps"] * 1e9 / r["weight_bytes_per_token"]
                    self.assertAlmostEqual(r["roofline_ts"] / roofline, 1)
                    self.assertAlmostEqual(r["roofline_fraction"], r["avg_ts"] / r["roofline_ts"])
                else:
                    self.assertIsNone(r["roofline_ts"])
                    self.assertIsNone(r["roofline_fraction"])
        # One probe per thread count, shared by its tests.
        for threads in (1, 2):
            self.assertEqual(len({r["read_bandwidth_gbps"] for r in records if r["n_threads"] == threads}), 1)

    def test_csv_matches_json_fields(self):
        rows = list(csv.DictReader(io.StringIO(self.outputs["csv"])))
        fields = list(json.loads(self.outputs["json"])[0].keys())
        self.assertEqual(list(rows[0].keys()), fields)
        self.assertEqual({(int(r["n_threads"]), r["test"]) for r in rows}, TESTS)
        for r in rows:
            samples = [float(s) for s in r["samples_ts"].split(" ")]
            self.assertEqual(len(samples), 2)
            self.assertAlmostEqual(float(r["avg_ts"]), statistics.mean(samples))
            self.assertEqual(r["roofline_ts"] == "", r["test"].startswith("pp"))

    def test_markdown_table(self):
        lines = self.outputs["md"].splitlines()
        self.assertEqual(lines[0], MD_HEADER)
        self.assertRegex(lines[1], r"^\|( -+:? \|)+$")
        rows = [line.split("|")[1:-1] for line in lines[2:] if line.startswith("|")]
        self.assertEqual(len(rows), len(TESTS))
        columns = MD_HEADER.split("|")[1:-1]
        seen = set()
        for row in rows:
            cells = dict(zip((c.strip() for c in columns), (c.strip() for c in row)))
            self.assertEqual(len(row), len(columns))
            self.assertEqual(cells["model"], "tiny.gguf")
            self.assertRegex(cells["size"], r"^\d+\.\d\d GiB$")
            self.assertRegex(cells["t/s"], r"^\d+\.\d\d ± \d+\.\d\d$")
            if cells["test"].startswith("tg"):
                self.assertRegex(cells["roofline t/s"], r"^\d+\.\d\d$")
                self.assertRegex(cells["% roofline"], r"^\d+%$")
            else:
                self.assertEqual((cells["roofline t/s"], cells["% roofline"]), ("", ""))
            seen.add((int(cells["threads"]), cells["test"]))
        self.assertEqual(seen, TESTS)
        self.assertRegex(self.outputs["md"], r"read bandwidth: [\d.]+ GB/s on 1 thread, [\d.]+ GB/s on 2 threads")

    def test_bad_arguments(self):
        model = str(self.model)
        cases = [
            (["-m", str(Path(self.dir.name) / "missing.gguf")], "missing.gguf: no such file"),
            (["-m", model, "-t", "0"], "-t: thread counts must be at least 1, got 0"),
            (["-m", model, "-t", "1,0"], "-t: thread counts must be at least 1, got 0"),
            (["-m", model, "-r", "0"], "-r: repetitions must be at least 1, got 0"),
            (["-m", model, "-o", "xml"], "-o: unknown output format 'xml'"),
            (["-m", model, "-p", "0", "-n", "0"], "nothing to measure"),
            (["-m", model, "-p", "64", "--ctx", "32"], "--ctx 32 is too small"),
            (["-t", "1"], "give -m MODEL"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                run = tmac("bench", *args)
                self.assertEqual(run.returncode, 1, run.stderr)
                self.assertIn("tmac: error: ", run.stderr)
                self.assertIn(message, run.stderr)
                self.assertEqual(run.stdout, "")

    def test_bench_kernels_still_runs(self):
        run = tmac("bench", "kernels", "--shapes", "3200x3200", "--bits", "2", "-t", "1", "--regime", "hot", "-r", "1")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("3200x3200", run.stdout)

    def test_bare_bench_prints_help(self):
        run = tmac("bench")
        self.assertEqual(run.returncode, 1)
        self.assertIn("kernels", run.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tmac", required=True)
    args, rest = parser.parse_known_args()
    TMAC = args.tmac
    unittest.main(argv=[sys.argv[0], *rest])
