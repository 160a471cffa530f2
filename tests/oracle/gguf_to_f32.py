#!/usr/bin/env python3
"""A GGUF model with every tensor dequantized to F32 by gguf-py (the same weights, no quantized
types left): the float "truth" the oracle tests compare quantized engines against.

Usage as a script: gguf_to_f32.py IN.gguf OUT.gguf; or import and call write_f32_copy.
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize


def write_f32_copy(src, dst):
    reader = GGUFReader(src)
    writer = GGUFWriter(dst, reader.fields["general.architecture"].contents())
    for name, field in reader.fields.items():
        # The writer makes the GGUF.* header fields and general.architecture itself.
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value_type = field.types[0]
        item_type = field.types[-1] if value_type == GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), value_type, item_type)
    for tensor in reader.tensors:
        values = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        shape = [int(d) for d in reversed(tensor.shape)]  # gguf-py lists ggml's order, fastest first
        writer.add_tensor(tensor.name, values.reshape(shape), raw_dtype=GGMLQuantizationType.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: gguf_to_f32.py IN.gguf OUT.gguf")
    write_f32_copy(sys.argv[1], sys.argv[2])
