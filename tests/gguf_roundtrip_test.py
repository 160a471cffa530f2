#!/usr/bin/env python3
"""tmac's GGUF reader and writer against llama.cpp's gguf Python package, the reference.

Usage: gguf_roundtrip_test.py [--models DIR] TOOL [ARG...]

TOOL is the binary of tests/gguf_tool.cc. The checks:
  - the ggml type tables (ids, names, block and type sizes) are the same;
  - a file that gguf.GGUFWriter writes with every metadata type and tensors of several types reads
    back through tmac's reader exactly as described;
  - tmac's writer, given the same description, writes a file that gguf.GGUFReader reads back
    exactly, and that is byte for byte the file gguf.GGUFWriter wrote;
  - on llama.cpp's real files in DIR (skipped when absent), both readers agree on everything.
"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import gguf
import numpy as np

VT = gguf.GGUFValueType
TYPE_NAMES = {
    VT.UINT8: "u8", VT.INT8: "i8", VT.UINT16: "u16", VT.INT16: "i16", VT.UINT32: "u32", VT.INT32: "i32",
    VT.FLOAT32: "f32", VT.BOOL: "bool", VT.STRING: "string", VT.ARRAY: "array", VT.UINT64: "u64",
    VT.INT64: "i64", VT.FLOAT64: "f64",
}
TYPES = {name: vt for vt, name in TYPE_NAMES.items()}

TOOL: list[str] = []
MODELS: Path | None = None


def tool(*args: str) -> str:
    return subprocess.run([*TOOL, *args], check=True, capture_output=True, text=True).stdout


def array(element_type: str, items: list) -> dict:
    return {"type": element_type, "items": items}


def spec() -> dict:
    """A file description in gguf_tool's JSON form: every metadata type, tensors of several types."""
    metadata = [
        ("general.architecture", "string", "llama"),
        ("u8", "u8", 255), ("i8", "i8", -128), ("u16", "u16", 65535), ("i16", "i16", -32768),
        ("u32", "u32", 2**32 - 1), ("i32", "i32", -2**31), ("f32", "f32", 0.1),
        ("bool.true", "bool", True), ("bool.false", "bool", False),
        ("string", "string", 'h\u00e9llo \u2713 "quoted"\n\t'), ("string.empty", "string", ""),
        ("general.alignment", "u32", 64),
        ("u64", "u64", 2**64 - 1), ("i64", "i64", -2**63), ("f64", "f64", -1e300),
        ("array.u8", "array", array("u8", [0, 1, 255])),
        ("array.i8", "array", array("i8", [-1, 2])),
        ("array.u16", "array", array("u16", [7])),
        ("array.i16", "array", array("i16", [-7, 7])),
        ("array.u32", "array", array("u32", [1, 2, 2**32 - 1])),
        ("array.i32", "array", array("i32", [-1, 0, 1])),
        ("array.f32", "array", array("f32", [0.5, -2.25, 0.1])),
        ("array.bool", "array", array("bool", [True, False, True])),
        ("array.string", "array", array("string", ["<unk>", "", "\u2581the"])),
        ("array.u64", "array", array("u64", [2**63])),
        ("array.i64", "array", array("i64", [-2**62])),
        ("array.f64", "array", array("f64", [1 / 3])),
        # gguf.GGUFWriter infers the element type of nested arrays: strings and i32 here.
        ("array.nested.string", "array", array("array", [array("string", ["a", "b"]), array("string", ["c"])])),
        ("array.nested.i32", "array", array("array", [array("i32", [1, 2]), array("i32", [3])])),
    ]
    rng = random.Random(0)
    tensors = []
    for name, qtype, shape in [
        ("f32", "F32", [3, 2]), ("f16", "F16", [5]), ("q4_0", "Q4_0", [64, 2]), ("q8_0", "Q8_0", [32]),
        ("i8", "I8", [7]), ("bf16", "BF16", [4, 3]), ("q4_k", "Q4_K", [256]), ("tq2_0", "TQ2_0", [256, 2]),
        ("iq4_nl", "IQ4_NL", [32, 1, 2]), ("mxfp4", "MXFP4", [64, 1, 1, 2]),
    ]:
        size = tensor_bytes(qtype, shape)
        tensors.append({"name": name, "shape": shape, "type": qtype, "data": rng.randbytes(size).hex()})
    return {
        "metadata": [{"key": k, "type": t, "value": v} for k, t, v in metadata],
        "tensors": tensors,
    }


def tensor_bytes(qtype: str, shape: list[int]) -> int:
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[qtype]]
    return int(np.prod(shape)) // block * size


def python_items(value: dict) -> list:
    """An array value as the plain (nested) list gguf.GGUFWriter takes."""
    return [python_items(item) if value["type"] == "array" else item for item in value["items"]]


def write_with_gguf(description: dict, path: Path) -> None:
    metadata = description["metadata"]
    assert metadata[0]["key"] == "general.architecture"  # GGUFWriter writes it first itself
    writer = gguf.GGUFWriter(path, metadata[0]["value"])
    for kv in metadata[1:]:
        if kv["key"] == "general.alignment":
            writer.add_custom_alignment(kv["value"])
        elif kv["type"] == "array":
            value = kv["value"]
            writer.add_key_value(kv["key"], python_items(value), VT.ARRAY, sub_type=TYPES[value["type"]])
        else:
            writer.add_key_value(kv["key"], kv["value"], TYPES[kv["type"]])
    for t in description["tensors"]:
        qtype = gguf.GGMLQuantizationType[t["type"]]
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        byte_shape = [t["shape"][0] // block * size, *t["shape"][1:]]  # ggml order
        data = np.frombuffer(bytes.fromhex(t["data"]), dtype=np.uint8).reshape(byte_shape[::-1])
        writer.add_tensor(t["name"], data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def canonical(type_name: str, value):
    """`value` as a file stores it: f32 values rounded to float32."""
    if type_name == "f32":
        return float(np.float32(value))
    if type_name == "array":
        return array(value["type"], [canonical(value["type"], item) for item in value["items"]])
    return value


def expected_metadata(description: dict) -> list[dict]:
    return [{**kv, "value": canonical(kv["type"], kv["value"])} for kv in description["metadata"]]


def reference_metadata(reader: gguf.GGUFReader) -> list[dict]:
    """The metadata as gguf.GGUFReader reads it, nested arrays rebuilt from its flat field parts."""
    result = []
    for field in reader.fields.values():
        if field.name.startswith("GGUF."):  # the header, which GGUFReader lists as fields too
            continue
        parts = field.parts

        def decode(vtype: VT, pos: int):
            if vtype == VT.STRING:
                return bytes(parts[pos + 1]).decode("utf-8"), pos + 2
            if vtype == VT.ARRAY:
                element_type, count = VT(int(parts[pos][0])), int(parts[pos + 1][0])
                pos += 2
                items = []
                for _ in range(count):
                    item, pos = decode(element_type, pos)
                    items.append(item)
                return array(TYPE_NAMES[element_type], items), pos
            return parts[pos][0].item(), pos + 1

        value, end = decode(field.types[0], 3)  # parts 0-2: key length, key, value type
        assert end == len(parts), field.name
        result.append({"key": field.name, "type": TYPE_NAMES[field.types[0]], "value": value})
    return result


def reference_tensors(reader: gguf.GGUFReader) -> list[dict]:
    return [{
        "name": t.name,
        "shape": [int(d) for d in t.shape],
        "type": t.tensor_type.name,
        "file_offset": int(t.data_offset),
        "bytes": int(t.n_bytes),
    } for t in reader.tensors]


def tmac_tensors(dump: dict) -> list[dict]:
    return [{k: t[k] for k in ("name", "shape", "type", "file_offset", "bytes")} for t in dump["tensors"]]


class RoundTrip(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name)

    def tearDown(self):
        self.dir.cleanup()

    def test_type_tables_agree(self):
        ours = {(t["id"], t["name"], t["block_size"], t["type_size"]) for t in json.loads(tool("types"))}
        reference = {(int(q), q.name, *gguf.GGML_QUANT_SIZES[q]) for q in gguf.GGMLQuantizationType}
        self.assertEqual(ours, reference)

    def test_tmac_reads_what_gguf_writes(self):
        description = spec()
        write_with_gguf(description, self.path / "py.gguf")
        dump = json.loads(tool("dump", str(self.path / "py.gguf")))
        self.assertEqual(dump["version"], 3)
        self.assertEqual(dump["alignment"], 64)
        self.assertEqual(dump["metadata"], expected_metadata(description))
        data = (self.path / "py.gguf").read_bytes()
        self.assertEqual(len(dump["tensors"]), len(description["tensors"]))
        for ours, expected in zip(dump["tensors"], description["tensors"]):
            self.assertEqual([ours["name"], ours["shape"], ours["type"]],
                             [expected["name"], expected["shape"], expected["type"]])
            self.assertEqual(ours["offset"] % 64, 0)
            start = ours["file_offset"]
            self.assertEqual(data[start:start + ours["bytes"]].hex(), expected["data"], ours["name"])

    def test_gguf_reads_what_tmac_writes(self):
        description = spec()
        (self.path / "spec.json").write_text(json.dumps(description))
        tool("write", str(self.path / "spec.json"), str(self.path / "tmac.gguf"))
        reader = gguf.GGUFReader(self.path / "tmac.gguf")
        self.assertEqual(reference_metadata(reader), expected_metadata(description))
        self.assertEqual(int(reader.alignment), 64)
        self.assertEqual(len(reader.tensors), len(description["tensors"]))
        for t, expected in zip(reader.tensors, description["tensors"]):
            self.assertEqual([t.name, [int(d) for d in t.shape], t.tensor_type.name],
                             [expected["name"], expected["shape"], expected["type"]])
            self.assertEqual(t.data.tobytes().hex(), expected["data"], t.name)
        # Both writers lay files out the same way, to the byte.
        write_with_gguf(description, self.path / "py.gguf")
        self.assertEqual((self.path / "tmac.gguf").read_bytes(), (self.path / "py.gguf").read_bytes())

    def test_tmac_writer_refuses_to_overwrite_unless_forced(self):
        (self.path / "spec.json").write_text(json.dumps(spec()))
        (self.path / "out.gguf").write_bytes(b"old")
        run = subprocess.run([*TOOL, "write", str(self.path / "spec.json"), str(self.path / "out.gguf")],
                             capture_output=True, text=True)
        self.assertEqual(run.returncode, 1)
        self.assertIn("already exists", run.stderr)
        self.assertEqual((self.path / "out.gguf").read_bytes(), b"old")
        tool("write", str(self.path / "spec.json"), str(self.path / "out.gguf"), "--force")
        self.assertEqual(len(gguf.GGUFReader(self.path / "out.gguf").tensors), len(spec()["tensors"]))
        self.assertEqual(sorted(p.name for p in self.path.iterdir()), ["out.gguf", "spec.json"])

    def test_readers_agree_on_real_files(self):
        files = ["stories260K/stories260K.gguf", "tokenizer-vectors/ggml-vocab-llama-spm.gguf",
                 "tokenizer-vectors/ggml-vocab-gpt-2.gguf"]
        present = [MODELS / f for f in files if MODELS is not None and (MODELS / f).exists()]
        if not present:
            self.skipTest(f"no model files in {MODELS}")
        for path in present:
            with self.subTest(file=path.name):
                dump = json.loads(tool("dump", str(path)))
                reader = gguf.GGUFReader(path)
                self.assertEqual(dump["data_offset"], int(reader.data_offset))
                self.assertEqual(dump["alignment"], int(reader.alignment))
                self.assertEqual(dump["metadata"], reference_metadata(reader))
                self.assertEqual(tmac_tensors(dump), reference_tensors(reader))


def main() -> None:
    global TOOL, MODELS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, help="directory of llama.cpp's GGUF files (../shared/models)")
    parser.add_argument("tool", nargs=argparse.REMAINDER, help="the gguf_tool command")
    args = parser.parse_args()
    TOOL, MODELS = args.tool, args.models
    if not TOOL:
        parser.error("no gguf_tool command given")
    unittest.main(argv=sys.argv[:1], verbosity=2)


if __name__ == "__main__":
    main()
