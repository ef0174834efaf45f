"""Train a 64x64 image VAE on crops of photographs and artwork that Debian packages ship; export the decoder.

ImageDecoder(width=W): z (N,16) -> fc -> (N,W,4,4) -> 4x [Upsample(2, nearest) + Conv2d 3x3 +
BatchNorm2d + LeakyReLU(0.2)] (channels W -> W/2 -> W/4 -> W/8) -> Conv2d 3x3 to RGB -> Sigmoid
-> (N,3,64,64) in [0,1]. The module tree is the one the first (procedural) model had, only wider:
net.2, net.6, net.10 keep their names, so bendings written for it still apply.
The encoder (not exported) is a strided-conv VAE encoder.
Loss: per-pixel MSE + EDGE_WEIGHT * L1 between the finite-difference gradients of the output and
of the input (blur costs something) + KL_WEIGHT * KL (mean over latent dims).

Data: every .jpg/.png/.webp in the Debian packages listed in PACKAGES (installed with apt-get;
see MODEL_CARD.md), decoded at several scales, random 64x64 crops with horizontal flips. The
images named in HELD_OUT are never trained on (evaluate.py measures on them).

Usage (repo root; the defaults are the shipped model's settings):
    nice -n 10 /usr/bin/python3 models/image/train.py --minutes 22
Writes models/image/{decoder,reference}.safetensors and tfbend.json; a checkpoint
(encoder + decoder) goes to --checkpoint for evaluate.py.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from safetensors_io import load_file, save_file  # noqa: E402

LATENT = 16
SIZE = 64
WIDTH = 192
KL_WEIGHT = 5e-4
EDGE_WEIGHT = 0.5
PACKAGES = ["mate-backgrounds", "ukui-wallpapers", "gnome-backgrounds", "lomiri-wallpapers-20.04"]
HELD_OUT = ["Storm.jpg", "LadyBird.jpg", "city.png", "Kleiber_by_Lukas_Baubkus.jpg", "wood-d.webp", "Waves.png"]
SCALES = [96, 144, 224, 320]  # shorter side in pixels before cropping


class ImageDecoder(nn.Module):
    def __init__(self, width=WIDTH):
        super().__init__()
        w = [width, width // 2, width // 4, width // 8]
        self.width = width
        self.fc = nn.Linear(LATENT, width * 4 * 4)
        self.net = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(w[0], w[1], 3, padding=1),
            nn.BatchNorm2d(w[1]),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(w[1], w[2], 3, padding=1),
            nn.BatchNorm2d(w[2]),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(w[2], w[3], 3, padding=1),
            nn.BatchNorm2d(w[3]),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(w[3], 3, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z):
        x = self.fc(z).view(z.shape[0], self.width, 4, 4)
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
# Data: the packages' images at several scales, random crops
# ----------------------------------------------------------------------------
def package_images():
    """(package, version, path) for every raster image the packages install."""
    out = []
    for pkg in PACKAGES:
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True).stdout
        if not version:
            raise SystemExit(f"package {pkg} is not installed: apt-get install {' '.join(PACKAGES)}")
        files = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True).stdout.split("\n")
        for f in sorted(files):
            if f.lower().endswith((".jpg", ".jpeg", ".png", ".webp")) and os.path.isfile(f):
                out.append((pkg, version, f))
    return out


def load_scales(path):
    """The image as uint8 (H, W, 3) arrays whose shorter side is each of SCALES."""
    img = Image.open(path)
    img.draft("RGB", (SCALES[-1] * 2, SCALES[-1] * 2))  # JPEG: decode at a reduced size, much faster
    img = img.convert("RGB")
    arrays = []
    for s in SCALES:
        k = s / min(img.size)
        arrays.append(np.asarray(img.resize((max(SIZE, round(img.size[0] * k)), max(SIZE, round(img.size[1] * k))),
                                            Image.LANCZOS)))
    return arrays


def load_pool(held_out, only_held_out=False):
    """Training and held-out pools: lists of uint8 arrays (one per image and scale)."""
    train, held, names = [], [], {"train": [], "held_out": []}
    for pkg, version, path in package_images():
        base = os.path.basename(path)
        if base.endswith("_3840x2160.jpg") or base.endswith("_5640x3172.jpg"):
            continue  # the same picture at a larger size
        is_held = base in held_out
        if only_held_out and not is_held:
            continue
        (held if is_held else train).extend(load_scales(path))
        names["held_out" if is_held else "train"].append(f"{pkg} {version} {path}")
    return train, held, names


def crops(rng, pool, n, flip=True):
    out = np.empty((n, SIZE, SIZE, 3), np.uint8)
    for i in range(n):
        a = pool[int(rng.integers(0, len(pool)))]
        y = int(rng.integers(0, a.shape[0] - SIZE + 1))
        x = int(rng.integers(0, a.shape[1] - SIZE + 1))
        c = a[y:y + SIZE, x:x + SIZE]
        out[i] = c[:, ::-1] if flip and rng.random() < 0.5 else c
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().div(255.0).contiguous()


def gradients(x):
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def edge_l1(y, x):
    (yx, yy), (xx, xy) = gradients(y), gradients(x)
    return (yx - xx).abs().mean() + (yy - xy).abs().mean()


# ----------------------------------------------------------------------------
def n_params(m):
    return sum(p.numel() for p in m.parameters())


def export_state(m):
    """The whole state dict as PyTorch writes it: float tensors as F32, BatchNorm's
    num_batches_tracked as I64 (tfbend loads it in strict mode, like PyTorch)."""
    return {k: v.detach() if not v.is_floating_point() else v.detach().float() for k, v in m.state_dict().items()}


def export(dec, enc, held, out):
    """decoder.safetensors, reference.safetensors and tfbend.json in `out`."""
    dec.eval()
    enc.eval()
    with torch.no_grad():
        zs = enc(held)[0]
    lat_mean, lat_std = zs.mean(0).tolist(), zs.std(0).tolist()
    g = torch.Generator().manual_seed(2024)
    z_ref = torch.randn(2, LATENT, generator=g)
    with torch.no_grad():
        img_ref = dec(z_ref)
    common = {"latent_dim": str(LATENT), "image_size": str(SIZE), "channels": "3", "range": "[0,1]"}
    dec_path = os.path.join(out, "decoder.safetensors")
    save_file(export_state(dec), dec_path, dict(common, latent_mean=json.dumps(lat_mean), latent_std=json.dumps(lat_std),
                                               width=str(dec.width)))
    save_file({"z": z_ref, "image": img_ref}, os.path.join(out, "reference.safetensors"), dict(common))
    sd, _ = load_file(dec_path)
    fresh = ImageDecoder(dec.width)
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(z_ref), img_ref)
    config = {
        "format": "tfbend", "version": 1,
        "architecture": {"kind": "registered", "name": "image-decoder", "options": {"width": dec.width}},
        "weights": "decoder.safetensors", "versions": {}, "currentVersion": "_default", "interpolation": None,
        "config": None, "traces": {"forward": [[1, LATENT]]},
        "metadata": {"kind": "image", "description": f"image decoder: latent (1, {LATENT}) -> RGB (1, 3, {SIZE}, {SIZE}) "
                     "in [0, 1], trained on photographs and artwork from Debian packages; see MODEL_CARD.md"},
    }
    with open(os.path.join(out, "tfbend.json"), "w") as f:
        f.write(json.dumps(config, indent=2) + "\n")
    return lat_mean, lat_std


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=22.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--width", type=int, default=WIDTH)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--checkpoint", default="/tmp/image-vae.pt")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)

    t_data = time.time()
    train_pool, held_pool, names = load_pool(set(HELD_OUT))
    print(f"data: {len(names['train'])} training images, {len(names['held_out'])} held out, "
          f"{len(train_pool)} scaled copies, {time.time() - t_data:.1f}s", flush=True)
    held = crops(np.random.default_rng(12345), held_pool, 64, flip=False)

    enc, dec = ImageEncoder(), ImageDecoder(args.width)
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=args.lr)

    budget = args.minutes * 60.0
    t0 = time.time()
    last_ckpt = t0
    step = 0
    recent = {"loss": [], "mse": [], "edge": []}
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        for group in opt.param_groups:  # cosine decay over the wall-clock budget, to lr/10
            group["lr"] = args.lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac)))
        x = crops(rng, train_pool, args.batch)
        mu, logvar = enc(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        y = dec(z)
        mse = (y - x).pow(2).mean()
        edge = edge_l1(y, x)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean()
        loss = mse + EDGE_WEIGHT * edge + KL_WEIGHT * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        for k, v in (("loss", loss), ("mse", mse), ("edge", edge)):
            recent[k] = (recent[k] + [v.item()])[-50:]
        if step % 50 == 0 or step == 1:
            print(f"step {step:6d}  t={time.time() - t0:7.1f}s  loss {loss.item():.5f}  (avg50 {np.mean(recent['loss']):.5f}; "
                  f"mse {np.mean(recent['mse']):.5f} edge {np.mean(recent['edge']):.5f} kl {kl.item():.3f})", flush=True)
        if time.time() - last_ckpt > 120:
            torch.save({"enc": enc.state_dict(), "dec": dec.state_dict(), "step": step, "width": args.width}, args.checkpoint)
            last_ckpt = time.time()
    train_secs = time.time() - t0
    torch.save({"enc": enc.state_dict(), "dec": dec.state_dict(), "step": step, "width": args.width}, args.checkpoint)

    with torch.no_grad():
        dec.train()
        held_mse_train_bn = (dec(enc(held)[0]) - held).pow(2).mean().item()
    lat_mean, lat_std = export(dec, enc, held, args.out)
    with torch.no_grad():
        mu, logvar = enc(held)
        y = dec(mu)
        held_mse = (y - held).pow(2).mean().item()
        held_edge = edge_l1(y, held).item()
        held_kl = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean()).item()
    sizes = {p: os.path.getsize(os.path.join(args.out, p)) for p in ("decoder.safetensors", "reference.safetensors")}
    summary = dict(steps=step, train_seconds=round(train_secs, 1),
                   final_train_loss_avg50=round(float(np.mean(recent["loss"])), 5),
                   final_train_mse_avg50=round(float(np.mean(recent["mse"])), 5),
                   final_train_edge_avg50=round(float(np.mean(recent["edge"])), 5),
                   held_out_mse=round(held_mse, 5), held_out_edge_l1=round(held_edge, 5), held_out_kl=round(held_kl, 4),
                   held_out_mse_train_mode_bn=round(held_mse_train_bn, 5),
                   decoder_params=n_params(dec), encoder_params=n_params(enc), sizes=sizes,
                   latent_mean=[round(v, 4) for v in lat_mean], latent_std=[round(v, 4) for v in lat_std],
                   torch=torch.__version__, threads=args.threads, batch=args.batch, minutes=args.minutes,
                   width=args.width, images=names)
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()
