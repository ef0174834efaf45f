"""Re-export the shipped image decoder with BatchNorm's num_batches_tracked, without retraining.

The first export (train.py before it kept integer buffers) stripped num_batches_tracked. Its
value is known exactly: the decoder ran one train-mode pass per training step and one more
for the train-mode BN check, so every BatchNorm tracked steps + 1 batches (steps from
MODEL_CARD.md). Checks a strict PyTorch load and the reference output, then rewrites the file.

    /usr/bin/python3 models/image/reexport.py --steps 6823
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from safetensors_io import load_file, save_file  # noqa: E402
from train import ImageDecoder  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, required=True)
    args = ap.parse_args()
    path = os.path.join(HERE, "decoder.safetensors")
    tensors, meta = load_file(path)
    dec = ImageDecoder()
    state = {}
    for key in dec.state_dict():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(args.steps + 1, dtype=torch.long)
        else:
            state[key] = torch.from_numpy(tensors[key])
    dec.load_state_dict(state, strict=True)
    dec.eval()
    ref, _ = load_file(os.path.join(HERE, "reference.safetensors"))
    with torch.no_grad():
        diff = (dec(torch.from_numpy(ref["z"])) - torch.from_numpy(ref["image"])).abs().max().item()
    assert diff < 1e-5, diff  # the same weights; only the thread count's summation order differs
    save_file(dec.state_dict(), path, meta)
    back, _ = load_file(path)
    assert set(back) == set(dec.state_dict()) and all(
        np.array_equal(back[k], v.numpy()) for k, v in dec.state_dict().items())
    print(f"wrote {path}: {len(back)} tensors, num_batches_tracked = {args.steps + 1}, reference max diff {diff:.2e}")


if __name__ == "__main__":
    main()
