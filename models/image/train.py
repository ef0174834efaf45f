"""Train a small image VAE on procedural 64x64 RGB images; export the decoder.

ImageDecoder: z (N,16) -> fc -> (N,128,4,4) -> 4x [Upsample(2, nearest) +
Conv2d 3x3 + BatchNorm2d + LeakyReLU(0.2)] -> Sigmoid -> (N,3,64,64) in [0,1].
The encoder (not exported) is a strided-conv VAE encoder. Loss: per-pixel
MSE + 5e-4 * KL (mean over latent dims), i.e. a VAE with a small KL.

Usage (repo root):
    /usr/bin/python3 models/image/train.py --minutes 12
Writes models/image/{decoder,reference}.safetensors.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from safetensors_io import load_file, save_file  # noqa: E402

LATENT = 16
SIZE = 64
KL_WEIGHT = 5e-4


class ImageDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(LATENT, 128 * 4 * 4)
        self.net = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(128, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(64, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(32, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(16, 3, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z):
        x = self.fc(z).view(z.shape[0], 128, 4, 4)
        return self.net(x)


class ImageEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        chans = [3, 32, 64, 128, 128]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):  # 64 -> 32 -> 16 -> 8 -> 4
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers)
        self.head = nn.Linear(128 * 4 * 4, 2 * LATENT)

    def forward(self, x):
        h = self.head(self.net(x).flatten(1))
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(-10, 5)


# ----------------------------------------------------------------------------
# Procedural images (H, W, 3) float in [0, 1]
# ----------------------------------------------------------------------------
_c = (np.arange(SIZE) + 0.5) / SIZE
YY, XX = np.meshgrid(_c, _c, indexing="ij")


def color(rng):
    return rng.uniform(0, 1, 3)


def blend(a, b, t):
    return a * (1 - t[..., None]) + b * t[..., None]


def linear_gradient(rng):
    th = rng.uniform(0, 2 * np.pi)
    u = (XX - 0.5) * np.cos(th) + (YY - 0.5) * np.sin(th)
    t = np.clip(u / 1.42 + 0.5, 0, 1)
    return blend(color(rng), color(rng), t)


def radial_gradient(rng):
    cx, cy = rng.uniform(0, 1, 2)
    r = np.hypot(XX - cx, YY - cy) / rng.uniform(0.3, 1.2)
    return blend(color(rng), color(rng), np.clip(r, 0, 1))


def stripes(rng):
    th = rng.uniform(0, np.pi)
    f = rng.uniform(1, 10)
    u = XX * np.cos(th) + YY * np.sin(th)
    s = np.sin(2 * np.pi * f * u + rng.uniform(0, 2 * np.pi))
    t = 0.5 + 0.5 * s if rng.random() < 0.5 else np.clip(s * 4 + 0.5, 0, 1)
    return blend(color(rng), color(rng), t)


def solid(rng):
    return np.broadcast_to(color(rng), (SIZE, SIZE, 3)).copy()


def add_circle(rng, img):
    cx, cy = rng.uniform(0, 1, 2)
    r = rng.uniform(0.05, 0.35)
    d = np.hypot(XX - cx, YY - cy)
    m = np.clip((r - d) * SIZE + 0.5, 0, 1)
    return blend(img, color(rng), m)


def add_rect(rng, img):
    cx, cy = rng.uniform(0.1, 0.9, 2)
    hw, hh = rng.uniform(0.05, 0.35, 2)
    th = rng.uniform(0, np.pi) if rng.random() < 0.5 else 0.0
    u = (XX - cx) * np.cos(th) + (YY - cy) * np.sin(th)
    v = -(XX - cx) * np.sin(th) + (YY - cy) * np.cos(th)
    m = np.clip((hw - np.abs(u)) * SIZE + 0.5, 0, 1) * np.clip((hh - np.abs(v)) * SIZE + 0.5, 0, 1)
    return blend(img, color(rng), m)


BACKGROUNDS = [solid, linear_gradient, radial_gradient, stripes]


def synth_image(rng):
    u = rng.random()
    if u < 0.15:
        return linear_gradient(rng) if rng.random() < 0.5 else radial_gradient(rng)
    if u < 0.3:
        return stripes(rng)
    img = BACKGROUNDS[int(rng.integers(0, 4))](rng)
    if u > 0.85 and rng.random() < 0.5:  # stripes blended over a gradient
        img = blend(img, stripes(rng), np.full((SIZE, SIZE), rng.uniform(0.3, 0.7)))
    for _ in range(int(rng.integers(1, 5))):
        img = add_circle(rng, img) if rng.random() < 0.5 else add_rect(rng, img)
    return img


def synth_batch(rng, n):
    imgs = np.stack([synth_image(rng) for _ in range(n)]).astype(np.float32)
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous()


# ----------------------------------------------------------------------------
def n_params(m):
    return sum(p.numel() for p in m.parameters())


def export_state(m):
    """The whole state dict as PyTorch writes it: float tensors as F32, BatchNorm's
    num_batches_tracked as I64 (tfbend loads it in strict mode, like PyTorch)."""
    return {k: v.detach() if not v.is_floating_point() else v.detach().float() for k, v in m.state_dict().items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=12.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)

    enc, dec = ImageEncoder(), ImageDecoder()
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=args.lr)
    held = synth_batch(np.random.default_rng(12345), 64)

    budget = args.minutes * 60.0
    t0 = time.time()
    step = 0
    recent, recent_mse = [], []
    while time.time() - t0 < budget:
        x = synth_batch(rng, args.batch)
        mu, logvar = enc(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        y = dec(z)
        mse = (y - x).pow(2).mean()
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean()
        loss = mse + KL_WEIGHT * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        recent = (recent + [loss.item()])[-50:]
        recent_mse = (recent_mse + [mse.item()])[-50:]
        if step % 50 == 0 or step == 1:
            print(f"step {step:6d}  t={time.time() - t0:7.1f}s  loss {loss.item():.5f}  "
                  f"(avg50 {np.mean(recent):.5f}; mse {mse.item():.5f} kl {kl.item():.3f})",
                  flush=True)
    train_secs = time.time() - t0

    enc.eval()
    dec.eval()
    with torch.no_grad():
        mu, logvar = enc(held)
        held_mse = (dec(mu) - held).pow(2).mean().item()
        held_kl = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean()).item()
        zs = torch.cat([enc(synth_batch(np.random.default_rng(54321 + i), 64))[0] for i in range(4)])
        lat_mean = zs.mean(0).tolist()
        lat_std = zs.std(0).tolist()
        held_mse_train_bn = None
        dec.train()
        held_mse_train_bn = (dec(mu) - held).pow(2).mean().item()
        dec.eval()
    print(f"held-out (eval mode, z=mu): mse {held_mse:.5f}  kl {held_kl:.3f}  "
          f"loss {held_mse + KL_WEIGHT * held_kl:.5f}  [train-mode BN mse {held_mse_train_bn:.5f}]")
    print("latent mean", [round(v, 3) for v in lat_mean])
    print("latent std ", [round(v, 3) for v in lat_std])

    g = torch.Generator().manual_seed(2024)
    z_ref = torch.randn(2, LATENT, generator=g)
    with torch.no_grad():
        img_ref = dec(z_ref)
    common = {"latent_dim": str(LATENT), "image_size": str(SIZE), "channels": "3",
              "range": "[0,1]"}
    dec_path = os.path.join(args.out, "decoder.safetensors")
    ref_path = os.path.join(args.out, "reference.safetensors")
    save_file(export_state(dec), dec_path, dict(common, latent_mean=json.dumps(lat_mean),
                                               latent_std=json.dumps(lat_std)))
    save_file({"z": z_ref, "image": img_ref}, ref_path, dict(common))

    sd, _ = load_file(dec_path)
    fresh = ImageDecoder()
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(z_ref), img_ref)

    sizes = {os.path.basename(p): os.path.getsize(p) for p in (dec_path, ref_path)}
    summary = dict(steps=step, train_seconds=round(train_secs, 1),
                   final_train_loss_avg50=round(float(np.mean(recent)), 5),
                   final_train_mse_avg50=round(float(np.mean(recent_mse)), 5),
                   held_out_mse=round(held_mse, 5), held_out_kl=round(held_kl, 4),
                   held_out_loss=round(held_mse + KL_WEIGHT * held_kl, 5),
                   decoder_params=n_params(dec), encoder_params=n_params(enc), sizes=sizes,
                   latent_mean=[round(v, 4) for v in lat_mean],
                   latent_std=[round(v, 4) for v in lat_std],
                   torch=torch.__version__, threads=args.threads, batch=args.batch,
                   minutes=args.minutes)
    print("SUMMARY " + json.dumps(summary))
    for k, v in dec.state_dict().items():
        print(f"  {k}: {list(v.shape)} {v.dtype}")


if __name__ == "__main__":
    main()
