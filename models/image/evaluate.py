"""Measure the shipped image decoder against the earlier ones on held-out real images, and draw the
figures in docs/. The earlier decoders: the first (procedural shapes, width 128), with --previous
the second (wallpapers, MSE + edge loss only, width 192) and with --third the third (the same
vector latent of 16, fine-tuned against blur). Each file's metadata says its width and latent.

No decoder has an exported encoder, so each held-out crop is projected into each decoder's
latent space the same way: Adam on z (from z = 0) minimising per-pixel MSE, PROJECT_STEPS steps.
Reported per decoder: MSE of the projection, and the edge-sharpness ratio (mean finite-difference
gradient magnitude of the output over the input's). For the new model the training encoder's
reconstruction (z = mu, from the checkpoint) is reported too, and the sharpness of random samples
(z ~ N(0, I)) over that of held-out crops.

    /usr/bin/python3 models/image/evaluate.py --old /tmp/old-image/decoder.safetensors \
        --previous /tmp/prev-image/decoder.safetensors --third /tmp/third-image/decoder.safetensors \
        --checkpoint /tmp/image-vae.pt
(the first model: git show ec9cced:models/image/decoder.safetensors > /tmp/old-image/decoder.safetensors;
the second: git show 5f6dadc:models/image/decoder.safetensors > /tmp/prev-image/decoder.safetensors;
the third: git show 84ad631:models/image/decoder.safetensors > /tmp/third-image/decoder.safetensors)
Random samples draw z ~ N(0, I) from each model's own latent space (of its own size, seed 7); the
new model's samples are also drawn as the plugin's latent walk does, z = latent_mean + latent_std * e.
Writes docs/image-samples.png, docs/image-latent-walk.png, docs/image-reconstructions.png,
docs/image-samples-compare.png and prints a JSON summary.

Besides the edge ratio (which extra pixel noise alone would raise), it reports how the outputs'
amplitude spectrum compares with the held-out crops' in three radial frequency bands: detail that
is structure shows up in the middle band too, not only in the highest one.
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
from train import HELD_OUT, SIZE, ImageDecoder, ImageEncoder, crops, load_pool  # noqa: E402

PROJECT_STEPS = 150


def load_decoder(path, width, latent_channels=0):
    dec = ImageDecoder(width, latent_channels)
    sd, _ = load_file(path)
    dec.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    return dec.eval()


def grad_mag(x):
    gx = (x[..., :, 1:] - x[..., :, :-1])[..., :-1, :]
    gy = (x[..., 1:, :] - x[..., :-1, :])[..., :, :-1]
    return torch.sqrt(gx ** 2 + gy ** 2 + 1e-12).mean().item()


def load_any(path):
    _, meta = load_file(path)
    return load_decoder(path, int(meta.get("width", 128)), int(meta.get("latent_channels", 0)))


def band_ratios(y, x):
    """Mean amplitude spectrum of y over that of x in radial bands (cycles per pixel):
    low < 1/16 <= mid < 1/4 <= high."""
    fy = torch.fft.rfft2(y, norm="ortho").abs().mean(dim=(0, 1))
    fx = torch.fft.rfft2(x, norm="ortho").abs().mean(dim=(0, 1))
    ky = torch.fft.fftfreq(x.shape[-2])[:, None]
    kx = torch.fft.rfftfreq(x.shape[-1])[None, :]
    r = torch.sqrt(ky ** 2 + kx ** 2)
    out = {}
    for name, lo, hi in (("low", 1e-9, 1 / 16), ("mid", 1 / 16, 1 / 4), ("high", 1 / 4, 1.0)):
        m = (r >= lo) & (r < hi)
        out[name] = round((fy[m].sum() / fx[m].sum()).item(), 3)
    return out


def fit_latent(dec, x, z0=None, steps=PROJECT_STEPS):
    """The latent whose decoding is closest to x (per-pixel MSE): Adam (lr 0.05) on z from z0 (default 0)."""
    z = (torch.zeros(x.shape[0], dec.latent_dim) if z0 is None else z0.clone()).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.05)
    for p in dec.parameters():
        p.requires_grad_(False)
    for _ in range(steps):
        loss = (dec(z) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return z.detach()


def project(dec, x, z0=None, steps=PROJECT_STEPS):
    """x as the decoder draws it from its fitted latent."""
    with torch.no_grad():
        return dec(fit_latent(dec, x, z0, steps))


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
    ap.add_argument("--previous", default="", help="the second decoder, to compare as well")
    ap.add_argument("--third", default="", help="the third decoder (vector latent, against blur), to compare as well")
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
    new = load_any(args.new)
    old = load_decoder(args.old, 128)
    prev = load_any(args.previous) if args.previous else None
    third = load_any(args.third) if args.third else None
    enc = ImageEncoder(int(ck.get("latent_channels", 0)))
    enc.load_state_dict(ck["enc"])
    enc.eval()

    torch.manual_seed(0)
    with torch.no_grad():
        mu = enc(held)[0]
        enc_rec = new(mu)
    recs = [("first_model_projected", project(old, held, steps=args.steps)),
            ("previous_model_projected", project(prev, held, steps=args.steps) if prev is not None else None),
            ("third_model_projected", project(third, held, steps=args.steps) if third is not None else None),
            ("new_model_projected", project(new, held, steps=args.steps)),
            ("new_model_projected_from_encoder", project(new, held, mu, steps=args.steps)),
            ("new_model_encoder", enc_rec)]
    g_in = grad_mag(held)
    result = {"held_out_crops": int(held.shape[0]), "held_out_images": HELD_OUT, "project_steps": args.steps,
              "input_mean_gradient": round(g_in, 5), "new_latent_dim": new.latent_dim}
    for name, rec in recs:
        if rec is not None:
            result[name] = {"mse": round((rec - held).pow(2).mean().item(), 5),
                            "edge_ratio": round(grad_mag(rec) / g_in, 3), "spectrum_ratio": band_ratios(rec, held)}

    def samples(dec, n=64, seed=7):
        with torch.no_grad():
            return dec(torch.randn(n, dec.latent_dim, generator=torch.Generator().manual_seed(seed)))

    models = {"first": old, "previous": prev, "third": third, "new": new}
    drawn = {k: samples(m) for k, m in models.items() if m is not None}
    lat_mean = torch.tensor(json.loads(meta["latent_mean"]))
    lat_std = torch.tensor(json.loads(meta["latent_std"]))
    with torch.no_grad():
        e = torch.randn(64, new.latent_dim, generator=torch.Generator().manual_seed(7))
        drawn["new_from_latent_stats"] = new(lat_mean + lat_std * e)
    result["samples_edge_ratio"] = {k: round(grad_mag(v) / g_in, 3) for k, v in drawn.items()}
    result["samples_spectrum_ratio"] = {k: band_ratios(v, held) for k, v in drawn.items()}
    print(json.dumps(result, indent=1))

    docs = args.docs
    new_samples = drawn["new"]
    tiles([new_samples[i * 8:(i + 1) * 8] for i in range(4)]).save(os.path.join(docs, "image-samples.png"), optimize=True)
    stats_samples = drawn["new_from_latent_stats"]
    tiles([stats_samples[i * 8:(i + 1) * 8] for i in range(4)]).save(os.path.join(docs, "image-samples-latent-stats.png"), optimize=True)
    rows = [held[:8]] + [rec[:8] for name, rec in recs if rec is not None and name in (
        "first_model_projected", "previous_model_projected", "third_model_projected", "new_model_projected")]
    tiles(rows).save(os.path.join(docs, "image-reconstructions.png"), optimize=True)
    tiles([held[:8], enc_rec[:8]]).save(os.path.join(docs, "image-reconstructions-encoder.png"), optimize=True)
    tiles([drawn[k][:8] for k in ("first", "previous", "third", "new", "new_from_latent_stats") if k in drawn]).save(
        os.path.join(docs, "image-samples-compare.png"), optimize=True)
    # the walk the plugin's stream takes: between points drawn from the latent statistics
    ends = lat_mean + lat_std * torch.randn(5, new.latent_dim, generator=torch.Generator().manual_seed(11))
    t = torch.linspace(0, 1, 8)[:, None]
    with torch.no_grad():
        walk = [new(ends[i] * (1 - t) + ends[i + 1] * t) for i in range(4)]
    tiles(walk).save(os.path.join(docs, "image-latent-walk.png"), optimize=True)


if __name__ == "__main__":
    main()
