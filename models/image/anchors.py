"""Latent anchors for the image model's stream, written into decoder.safetensors' metadata.

The decoder's latent is spatial (32 numbers for each cell of a 4x4 grid), so a walk that moves every
number on its own around the latent mean (the plugin's default walk for models with latent
statistics) draws a patchwork of unrelated cells. With anchors the walk glides from one real
picture to the next instead: K centre crops of distinct *training* images at the smallest scale
(seeded order; nearly flat ones passed over), each projected into the shipped decoder's latent space with
Adam on z from the latent mean (as evaluate.py projects), stored as `latent_anchors` (JSON: K lists
of latent_dim numbers, 4 decimals). The file is rewritten beside itself and renamed over the old
one; its tensors are unchanged. Also draws docs/image-anchors.png (the crops, then their anchors
decoded) and docs/image-anchor-walk.png (the walk from anchor to anchor, 8 frames a leg).

    /usr/bin/python3 models/image/anchors.py [--k 12] [--steps 300]

Deterministic for a given decoder (seeded draw, seeded projection), CPU, about a minute.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from safetensors_io import load_file, save_file  # noqa: E402
from train import HELD_OUT, SCALES, SIZE, load_pool  # noqa: E402
from evaluate import fit_latent, grad_mag, load_any, tiles  # noqa: E402

MIN_DETAIL = 0.01  # mean gradient magnitude; the held-out crops average 0.027


def draw_crops(pool, k, seed):
    """Centre crops of k distinct training images (seeded order) at the smallest scale, where a
    64x64 crop shows most of the picture; nearly flat ones (a plain sky) are passed over."""
    per_image = len(SCALES)
    order = np.random.default_rng(seed).permutation(len(pool) // per_image)
    chosen = []
    for i in order:
        a = pool[int(i) * per_image]  # the image's smallest scale
        y, x = (a.shape[0] - SIZE) // 2, (a.shape[1] - SIZE) // 2
        crop = torch.from_numpy(a[y:y + SIZE, x:x + SIZE].copy()).permute(2, 0, 1).float().div(255.0)
        if grad_mag(crop[None]) < MIN_DETAIL:
            continue
        chosen.append(crop)
        if len(chosen) == k:
            break
    return torch.stack(chosen)


def smoothstep(t):
    return t * t * (3 - 2 * t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--decoder", default=os.path.join(HERE, "decoder.safetensors"))
    ap.add_argument("--k", type=int, default=12)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--docs", default=os.path.join(ROOT, "docs"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    tensors, meta = load_file(args.decoder)
    dec = load_any(args.decoder)
    dim = dec.latent_dim
    mean = torch.tensor(json.loads(meta["latent_mean"]), dtype=torch.float32)
    train_pool, _, _ = load_pool(set(HELD_OUT))
    x = draw_crops(train_pool, args.k, args.seed)
    z = fit_latent(dec, x, mean.expand(args.k, dim), args.steps)
    with torch.no_grad():
        rec = dec(z)
    mse = (rec - x).pow(2).mean().item()

    meta = dict(meta)
    meta["latent_anchors"] = json.dumps([[round(float(v), 4) for v in row] for row in z])
    tmp = args.decoder + ".tmp"
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, args.decoder)

    # the walk as the plugin draws it: from anchor to anchor, easing in and out of each
    order = list(range(min(args.k, 5)))
    frames = []
    with torch.no_grad():
        for a, b in zip(order, order[1:]):
            for f in range(8):
                t = smoothstep(f / 8)
                frames.append(dec((z[a] * (1 - t) + z[b] * t)[None]))
    walk = torch.cat(frames)
    tiles([x, rec]).save(os.path.join(args.docs, "image-anchors.png"))
    tiles([walk[i:i + 8] for i in range(0, walk.shape[0], 8)]).save(os.path.join(args.docs, "image-anchor-walk.png"))
    print(json.dumps({"anchors": args.k, "latent_dim": dim, "projection_mse": round(mse, 5),
                      "edge_ratio": round(grad_mag(rec) / grad_mag(x), 3)}))


if __name__ == "__main__":
    main()
