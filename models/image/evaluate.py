"""Measure the shipped image decoder against the first (procedural) one on held-out real images,
and draw the figures in docs/.

Neither decoder has an exported encoder, so each held-out crop is projected into each decoder's
latent space the same way: Adam on z (from z = 0) minimising per-pixel MSE, PROJECT_STEPS steps.
Reported per decoder: MSE of the projection, and the edge-sharpness ratio (mean finite-difference
gradient magnitude of the output over the input's). For the new model the training encoder's
reconstruction (z = mu, from the checkpoint) is reported too, and the sharpness of random samples
(z ~ N(0, I)) over that of held-out crops.

    /usr/bin/python3 models/image/evaluate.py --old /tmp/old-image/decoder.safetensors \
        --checkpoint /tmp/image-vae.pt
(the first model: git show ec9cced:models/image/decoder.safetensors > /tmp/old-image/decoder.safetensors)
Writes docs/image-samples.png, docs/image-latent-walk.png, docs/image-reconstructions.png and
prints a JSON summary.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from safetensors_io import load_file  # noqa: E402
from train import HELD_OUT, LATENT, SIZE, ImageDecoder, ImageEncoder, crops, load_pool  # noqa: E402

PROJECT_STEPS = 150


def load_decoder(path, width):
    dec = ImageDecoder(width)
    sd, _ = load_file(path)
    dec.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    return dec.eval()


def grad_mag(x):
    gx = (x[..., :, 1:] - x[..., :, :-1])[..., :-1, :]
    gy = (x[..., 1:, :] - x[..., :-1, :])[..., :, :-1]
    return torch.sqrt(gx ** 2 + gy ** 2 + 1e-12).mean().item()


def project(dec, x, z0=None, steps=PROJECT_STEPS):
    z = (torch.zeros(x.shape[0], LATENT) if z0 is None else z0.clone()).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.05)
    for p in dec.parameters():
        p.requires_grad_(False)
    for _ in range(steps):
        loss = (dec(z) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return dec(z)


def tiles(rows, pad=2):
    """rows: list of (N, 3, S, S) tensors in [0,1] -> uint8 grid image."""
    n = max(r.shape[0] for r in rows)
    H = len(rows) * (SIZE + pad) + pad
    W = n * (SIZE + pad) + pad
    canvas = np.full((H, W, 3), 255, np.uint8)
    for i, r in enumerate(rows):
        arr = (r.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)
        for j in range(arr.shape[0]):
            y, x = pad + i * (SIZE + pad), pad + j * (SIZE + pad)
            canvas[y:y + SIZE, x:x + SIZE] = arr[j]
    return Image.fromarray(canvas)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--checkpoint", default="/tmp/image-vae.pt")
    ap.add_argument("--new", default=os.path.join(HERE, "decoder.safetensors"))
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--steps", type=int, default=PROJECT_STEPS)
    ap.add_argument("--docs", default=os.path.join(ROOT, "docs"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    _, held_pool, _ = load_pool(set(HELD_OUT), only_held_out=True)
    held = crops(np.random.default_rng(12345), held_pool, 64, flip=False)[:args.n]
    ck = torch.load(args.checkpoint)
    _, meta = load_file(args.new)
    width = int(meta["width"])
    new = load_decoder(args.new, width)
    old = load_decoder(args.old, 128)
    enc = ImageEncoder()
    enc.load_state_dict(ck["enc"])
    enc.eval()

    torch.manual_seed(0)
    with torch.no_grad():
        enc_rec = new(enc(held)[0])
    old_rec = project(old, held, steps=args.steps)
    new_rec = project(new, held, steps=args.steps)
    new_rec_enc_init = project(new, held, enc(held)[0].detach(), steps=args.steps)
    g_in = grad_mag(held)
    result = {"held_out_crops": int(held.shape[0]), "held_out_images": HELD_OUT, "project_steps": args.steps,
              "input_mean_gradient": round(g_in, 5)}
    for name, rec in (("first_model_projected", old_rec), ("new_model_projected", new_rec),
                      ("new_model_projected_from_encoder", new_rec_enc_init), ("new_model_encoder", enc_rec)):
        result[name] = {"mse": round((rec - held).pow(2).mean().item(), 5),
                        "edge_ratio": round(grad_mag(rec) / g_in, 3)}
    g = torch.Generator().manual_seed(7)
    zs = torch.randn(64, LATENT, generator=g)
    with torch.no_grad():
        new_samples, old_samples = new(zs), old(zs)
    result["samples_edge_ratio"] = {"new": round(grad_mag(new_samples) / g_in, 3), "first": round(grad_mag(old_samples) / g_in, 3)}
    print(json.dumps(result, indent=1))

    docs = args.docs
    tiles([new_samples[i * 8:(i + 1) * 8] for i in range(4)]).save(os.path.join(docs, "image-samples.png"), optimize=True)
    tiles([held[:8], old_rec[:8], new_rec_enc_init[:8]]).save(os.path.join(docs, "image-reconstructions.png"), optimize=True)
    ends = torch.randn(5, LATENT, generator=torch.Generator().manual_seed(11))
    t = torch.linspace(0, 1, 8)[:, None]
    with torch.no_grad():
        walk = [new(ends[i] * (1 - t) + ends[i + 1] * t) for i in range(4)]
    tiles(walk).save(os.path.join(docs, "image-latent-walk.png"), optimize=True)


if __name__ == "__main__":
    main()
