"""Minimal hand-written .safetensors reader/writer (float32, and int64 for integer tensors
such as BatchNorm's num_batches_tracked).

Format: 8-byte little-endian unsigned header length N, then N bytes of UTF-8
JSON header {name: {"dtype": "F32", "shape": [...], "data_offsets": [b, e]},
"__metadata__": {str: str}}, then the raw little-endian tensor data, tensors
stored contiguously in header order. No dependency on the safetensors package.
"""
import json
import struct

import numpy as np


def _to_numpy(t):
    """Integer tensors as int64 (PyTorch's long), everything else as float32."""
    if hasattr(t, "detach"):  # torch.Tensor
        t = t.detach().cpu().contiguous()
        t = t.long().numpy() if not t.is_floating_point() else t.float().numpy()
    arr = np.asarray(t)
    dtype = np.int64 if np.issubdtype(arr.dtype, np.integer) else np.float32
    return np.asarray(arr, dtype=dtype, order="C")  # keeps 0-d tensors 0-d (ascontiguousarray makes them 1-d)


def save_file(tensors, path, metadata=None):
    """Write a dict {name: tensor/ndarray} as safetensors (F32; I64 for integer tensors)."""
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        arr = _to_numpy(t)
        integer = arr.dtype == np.int64
        data = arr.astype("<i8" if integer else "<f4", copy=False).tobytes(order="C")
        header[name] = {
            "dtype": "I64" if integer else "F32",
            "shape": [int(s) for s in arr.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("__metadata__ must map str to str")
        header["__metadata__"] = dict(metadata)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # pad header with spaces to an 8-byte multiple (allowed by the spec)
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for b in blobs:
            f.write(b)


def load_file(path):
    """Read an F32/I64 safetensors file -> ({name: np.ndarray}, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, info in header.items():
        if info["dtype"] not in ("F32", "I64"):
            raise ValueError(f"{name}: unsupported dtype {info['dtype']}")
        b, e = info["data_offsets"]
        integer = info["dtype"] == "I64"
        arr = np.frombuffer(raw[base + b : base + e], dtype="<i8" if integer else "<f4")
        out[name] = arr.reshape(info["shape"]).astype(np.int64 if integer else np.float32)
    return out, meta


if __name__ == "__main__":
    import sys

    for p in sys.argv[1:]:
        tensors, meta = load_file(p)
        print(p)
        for k, v in meta.items():
            print(f"  meta {k}: {v[:200]}")
        for k, v in tensors.items():
            print(f"  {k}: {list(v.shape)}")
