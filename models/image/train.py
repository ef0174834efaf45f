"""Train a 64x64 image VAE on crops of photographs and artwork that Debian packages ship; export the decoder.

ImageDecoder(width=W, latent_channels=C): with C > 0 (the shipped model: C = 32) the latent is
spatial: z (N, C*16) is viewed as (N, C, 4, 4), one C-vector per 16x16 px region, and fc is a
Conv2d(C, W, 3, padding=1) on that grid; with C = 0 (the earlier models) z (N, 16) -> fc (Linear)
-> (N, W, 4, 4). Then 4x [Upsample(2, nearest) + Conv2d 3x3 + BatchNorm2d + LeakyReLU(0.2)]
(channels W -> W/2 -> W/4 -> W/8) -> Conv2d 3x3 to RGB -> Sigmoid -> (N,3,64,64) in [0,1]. The
`net` module tree is the one the first (procedural) model had, only wider: net.2, net.6, net.10
keep their names, so bendings written for it still apply.
The encoder (not exported) is a strided-conv VAE encoder to a 4x4 map, then a Linear to (mu,
logvar) for the vector latent, or a 3x3 conv to 2C channels (mu, logvar per cell) for the spatial one.
Loss (against blur): L1 + edge_weight * L1 between finite-difference gradients + multiscale_weight *
L1 at 1/2 and 1/4 resolution + spectrum_weight * L1 between log amplitude spectra (phase-free) +
kl_weight * KL (mean per latent number) + an adversarial hinge term from a small patch
discriminator, balanced against the reconstruction terms on the decoder's last layer (VQGAN's
adaptive weight) times adv_weight (0 turns it and the discriminator off).

Data: every .jpg/.png/.webp in the Debian packages listed in PACKAGES (installed with apt-get;
see MODEL_CARD.md), decoded at several scales, random 64x64 crops with horizontal flips. The
images named in HELD_OUT are never trained on (evaluate.py measures on them).

Usage (repo root; MODEL_CARD.md lists the shipped model's commands, a from-scratch stage and a
fine-tuning stage that starts from its checkpoint):
    nice -n 19 /usr/bin/python3 models/image/train.py --minutes 22 --latent-channels 32 --adv-weight 0 \
        --lr 1e-3 --kl-weight 2e-3 --checkpoint /tmp/image-vae.pt --pool-cache /tmp/image-pool.pt
Writes models/image/{decoder,reference}.safetensors and tfbend.json (at every checkpoint too); a
checkpoint (encoder, decoder, discriminator) goes to --checkpoint, numbered copies beside it.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from safetensors_io import load_file, save_file  # noqa: E402

LATENT = 16
SIZE = 64
WIDTH = 192
KL_WEIGHT = 5e-4
EDGE_WEIGHT = 1.0
MULTISCALE_WEIGHT = 1.0
SPECTRUM_WEIGHT = 0.3
SPECTRUM_EPS = 2e-3
PACKAGES = ["mate-backgrounds", "ukui-wallpapers", "gnome-backgrounds", "lomiri-wallpapers-20.04"]
HELD_OUT = ["Storm.jpg", "LadyBird.jpg", "city.png", "Kleiber_by_Lukas_Baubkus.jpg", "wood-d.webp", "Waves.png"]
SCALES = [96, 144, 224, 320]  # shorter side in pixels before cropping


def latent_dim(latent_channels):
    """Numbers in one latent: LATENT for the vector latent, C x 4 x 4 for the spatial one."""
    return latent_channels * 16 if latent_channels else LATENT


class ImageDecoder(nn.Module):
    def __init__(self, width=WIDTH, latent_channels=0):
        super().__init__()
        w = [width, width // 2, width // 4, width // 8]
        self.width = width
        self.latent_channels = latent_channels
        self.latent_dim = latent_dim(latent_channels)
        # Spatial latent: z (N, C*16) is viewed as (N, C, 4, 4), one C-vector per 16x16 px cell, and fc
        # is a 3x3 conv on that grid, so each cell places its own edges instead of one code for the crop.
        self.fc = nn.Conv2d(latent_channels, width, 3, padding=1) if latent_channels else nn.Linear(LATENT, width * 4 * 4)
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
        if self.latent_channels:
            return self.net(self.fc(z.view(z.shape[0], self.latent_channels, 4, 4)))
        x = self.fc(z).view(z.shape[0], self.width, 4, 4)
        return self.net(x)


class ImageEncoder(nn.Module):
    """Strided convs to a 4x4 map; then, for the vector latent, a Linear to (mu, logvar), or, for the
    spatial latent (latent_channels C), a 3x3 conv to 2C channels: mu and logvar per cell, flattened
    channel-major as the decoder views them."""

    def __init__(self, latent_channels=0):
        super().__init__()
        self.latent_channels = latent_channels
        chans = [3, 32, 64, 128, 128]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):  # 64 -> 32 -> 16 -> 8 -> 4
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers)
        if latent_channels:
            self.head = nn.Conv2d(128, 2 * latent_channels, 3, padding=1)
        else:
            self.head = nn.Linear(128 * 4 * 4, 2 * LATENT)

    def forward(self, x):
        if self.latent_channels:
            mu, logvar = self.head(self.net(x)).chunk(2, dim=1)
            return mu.flatten(1), logvar.flatten(1).clamp(-10, 5)
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


def multiscale_l1(y, x):
    """L1 at 1/2 and 1/4 resolution: the layout must agree even where fine detail cannot."""
    total = 0.0
    for k in (2, 4):
        total = total + (F.avg_pool2d(y, k) - F.avg_pool2d(x, k)).abs().mean()
    return total / 2


def spectrum_l1(y, x, eps=SPECTRUM_EPS):
    """L1 between the log amplitude spectra of output and input (per image and channel, orthonormal
    FFT; a focal-frequency-style loss). It ignores phase, so a decoder that cannot place a texture
    exactly still pays for leaving it out; the log gives the weak high frequencies, which a blurred
    output lacks, as much say as the strong low ones. eps keeps bins near zero in both out of it."""
    fy = torch.fft.rfft2(y, norm="ortho").abs()
    fx = torch.fft.rfft2(x, norm="ortho").abs()
    return (torch.log(fy + eps) - torch.log(fx + eps)).abs().mean()


class PatchDiscriminator(nn.Module):
    """A small spectrally normalised PatchGAN: 64x64 RGB -> 8x8 real/fake logits (receptive field 22 px)."""

    def __init__(self, ch=32):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(3, ch, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),           # 32x32
            sn(nn.Conv2d(ch, ch * 2, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),      # 16x16
            sn(nn.Conv2d(ch * 2, ch * 4, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),  # 8x8
            sn(nn.Conv2d(ch * 4, 1, 3, padding=1)),
        )

    def forward(self, x):
        return self.net(x * 2 - 1)


def adaptive_weight(rec_loss, adv_loss, last_layer):
    """VQGAN's balance: scale the adversarial term so its gradient on the last layer matches the
    reconstruction's (keeps the GAN from swamping or vanishing as both losses drift)."""
    g_rec = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adv_loss, last_layer, retain_graph=True)[0]
    return (g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0.0, 1e4).detach()


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
    z_ref = torch.randn(2, dec.latent_dim, generator=g)
    with torch.no_grad():
        img_ref = dec(z_ref)
    common = {"latent_dim": str(dec.latent_dim), "image_size": str(SIZE), "channels": "3", "range": "[0,1]"}
    dec_path = os.path.join(out, "decoder.safetensors")
    save_file(export_state(dec), dec_path, dict(common, latent_mean=json.dumps(lat_mean), latent_std=json.dumps(lat_std),
                                               width=str(dec.width), latent_channels=str(dec.latent_channels)))
    save_file({"z": z_ref, "image": img_ref}, os.path.join(out, "reference.safetensors"), dict(common))
    sd, _ = load_file(dec_path)
    fresh = ImageDecoder(dec.width, dec.latent_channels)
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(z_ref), img_ref)
    options = {"width": dec.width}
    if dec.latent_channels:
        options["latentChannels"] = dec.latent_channels
    config = {
        "format": "tfbend", "version": 1,
        "architecture": {"kind": "registered", "name": "image-decoder", "options": options},
        "weights": "decoder.safetensors", "versions": {}, "currentVersion": "_default", "interpolation": None,
        "config": None, "traces": {"forward": [[1, dec.latent_dim]]},
        "metadata": {"kind": "image", "description": f"image decoder: latent (1, {dec.latent_dim}) -> RGB (1, 3, {SIZE}, {SIZE}) "
                     "in [0, 1], trained on photographs and artwork from Debian packages; see MODEL_CARD.md"},
    }
    with open(os.path.join(out, "tfbend.json"), "w") as f:
        f.write(json.dumps(config, indent=2) + "\n")
    return lat_mean, lat_std


def grad_mag(x):
    """Mean finite-difference gradient magnitude (the edge-sharpness measure evaluate.py reports)."""
    gx = (x[..., :, 1:] - x[..., :, :-1])[..., :-1, :]
    gy = (x[..., 1:, :] - x[..., :-1, :])[..., :, :-1]
    return torch.sqrt(gx ** 2 + gy ** 2 + 1e-12).mean()


def cached_pool(path):
    """load_pool, kept in `path` (decoding the wallpapers takes minutes on the loaded machine)."""
    if path and os.path.exists(path):
        return torch.load(path)
    pools = load_pool(set(HELD_OUT))
    if path:
        torch.save(pools, path + ".tmp")
        os.replace(path + ".tmp", path)
    return pools


def save_checkpoint(path, enc, dec, disc, step, width):
    torch.save({"enc": enc.state_dict(), "dec": dec.state_dict(), "disc": disc.state_dict(), "step": step,
                "width": width, "latent_channels": dec.latent_channels}, path + ".tmp")
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=16.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--prior", type=int, default=0, help="decoded z ~ N(0, I) per step, shown to the discriminator")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--d-lr", type=float, default=2e-4)
    ap.add_argument("--adv-weight", type=float, default=0.05)
    ap.add_argument("--edge-weight", type=float, default=EDGE_WEIGHT)
    ap.add_argument("--multiscale-weight", type=float, default=MULTISCALE_WEIGHT)
    ap.add_argument("--spectrum-weight", type=float, default=SPECTRUM_WEIGHT)
    ap.add_argument("--adv-start", type=int, default=150, help="steps the discriminator trains alone first")
    ap.add_argument("--init", default="", help="checkpoint (enc, dec) to start from: the previous model's")
    ap.add_argument("--init-disc", default="", help="checkpoint whose discriminator to start from")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--width", type=int, default=WIDTH)
    ap.add_argument("--latent-channels", type=int, default=0,
                    help="C > 0: a spatial latent of C x 4 x 4 numbers (fc becomes a 3x3 conv); 0: the vector latent of 16")
    ap.add_argument("--kl-weight", type=float, default=KL_WEIGHT)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--checkpoint", default="/tmp/image-vae.pt")
    ap.add_argument("--pool-cache", default="")
    ap.add_argument("--max-steps", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)

    t_data = time.time()
    train_pool, held_pool, names = cached_pool(args.pool_cache)
    print(f"data: {len(names['train'])} training images, {len(names['held_out'])} held out, "
          f"{len(train_pool)} scaled copies, {time.time() - t_data:.1f}s", flush=True)
    held = crops(np.random.default_rng(12345), held_pool, 64, flip=False)

    enc, dec, disc = ImageEncoder(args.latent_channels), ImageDecoder(args.width, args.latent_channels), PatchDiscriminator()
    start_step = 0
    if args.init:
        ck = torch.load(args.init)
        enc.load_state_dict(ck["enc"])
        dec.load_state_dict(ck["dec"])
        if "disc" in ck:
            disc.load_state_dict(ck["disc"])
        start_step = int(ck.get("step", 0))
        print(f"init from {args.init} (step {start_step})", flush=True)
    if args.init_disc:
        disc.load_state_dict(torch.load(args.init_disc)["disc"])
        print(f"discriminator from {args.init_disc}", flush=True)
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=args.lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.d_lr, betas=(0.5, 0.9))
    last_layer = dec.net[14].weight

    budget = args.minutes * 60.0
    t0 = time.time()
    last_ckpt = t0
    step = 0
    keys = ("loss", "mse", "l1", "edge", "ms", "fft", "kl", "g_adv", "lam", "d", "ratio", "ratio_prior")
    recent = {k: [] for k in keys}
    while time.time() - t0 < budget and (not args.max_steps or step < args.max_steps):
        frac = (time.time() - t0) / budget
        for o, base in ((opt, args.lr), (opt_d, args.d_lr)):  # cosine decay over the wall-clock budget, to lr/10
            for group in o.param_groups:
                group["lr"] = base * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac)))
        x = crops(rng, train_pool, args.batch)
        mu, logvar = enc(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        y_all = dec(torch.cat([z, torch.randn(args.prior, dec.latent_dim)]))
        y = y_all[:args.batch]
        l1 = (y - x).abs().mean()
        edge = edge_l1(y, x)
        ms = multiscale_l1(y, x)
        fft = spectrum_l1(y, x)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean()
        rec = l1 + args.edge_weight * edge + args.multiscale_weight * ms + args.spectrum_weight * fft
        loss = rec + args.kl_weight * kl
        g_adv = torch.zeros(())
        lam = torch.zeros(())
        if args.adv_weight > 0 and step >= args.adv_start:
            g_adv = -disc(y_all).mean()
            lam = adaptive_weight(rec, g_adv, last_layer) * args.adv_weight
            loss = loss + lam * g_adv
        opt.zero_grad()
        loss.backward()
        opt.step()

        d_loss = torch.zeros(())
        if args.adv_weight > 0:  # without the adversarial term the discriminator is not trained (saves ~30% per step)
            d_loss = F.relu(1 - disc(x)).mean() + F.relu(1 + disc(y_all.detach())).mean()  # hinge
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        step += 1
        with torch.no_grad():
            gx = grad_mag(x)
            ratio = grad_mag(y) / gx
            ratio_prior = grad_mag(y_all[args.batch:]) / gx if args.prior else torch.zeros(())
            mse = (y - x).pow(2).mean()
        for k, v in zip(keys, (loss, mse, l1, edge, ms, fft, kl, g_adv, lam, d_loss, ratio, ratio_prior)):
            recent[k] = (recent[k] + [float(v)])[-50:]
        if step % 50 == 0 or step == 1:
            avg = "  ".join(f"{k} {np.mean(recent[k]):.4f}" for k in keys)
            print(f"step {step:6d}  t={time.time() - t0:7.1f}s  avg50: {avg}", flush=True)
        if time.time() - last_ckpt > 120:
            save_checkpoint(args.checkpoint, enc, dec, disc, start_step + step, args.width)
            shutil.copyfile(args.checkpoint, f"{args.checkpoint}.{step}")  # earlier states, to compare
            export(dec, enc, held, args.out)  # a usable model at every checkpoint
            dec.train()
            enc.train()
            last_ckpt = time.time()
    train_secs = time.time() - t0
    save_checkpoint(args.checkpoint, enc, dec, disc, start_step + step, args.width)

    with torch.no_grad():
        dec.train()
        held_mse_train_bn = (dec(enc(held)[0]) - held).pow(2).mean().item()
    lat_mean, lat_std = export(dec, enc, held, args.out)
    with torch.no_grad():
        mu, logvar = enc(held)
        y = dec(mu)
        held_mse = (y - held).pow(2).mean().item()
        held_edge = edge_l1(y, held).item()
        held_ratio = (grad_mag(y) / grad_mag(held)).item()
        held_kl = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean()).item()
    sizes = {p: os.path.getsize(os.path.join(args.out, p)) for p in ("decoder.safetensors", "reference.safetensors")}
    summary = dict(steps=step, start_step=start_step, train_seconds=round(train_secs, 1),
                   final_avg50={k: round(float(np.mean(recent[k])), 5) for k in keys},
                   held_out_mse=round(held_mse, 5), held_out_edge_l1=round(held_edge, 5), held_out_kl=round(held_kl, 4),
                   held_out_edge_ratio=round(held_ratio, 3), held_out_mse_train_mode_bn=round(held_mse_train_bn, 5),
                   decoder_params=n_params(dec), encoder_params=n_params(enc), discriminator_params=n_params(disc),
                   sizes=sizes, latent_mean=[round(v, 4) for v in lat_mean], latent_std=[round(v, 4) for v in lat_std],
                   torch=torch.__version__, threads=args.threads, batch=args.batch, prior=args.prior,
                   minutes=args.minutes, width=args.width, latent_channels=args.latent_channels, kl_weight=args.kl_weight, lr=args.lr, adv_weight=args.adv_weight,
                   edge_weight=args.edge_weight, multiscale_weight=args.multiscale_weight,
                   spectrum_weight=args.spectrum_weight, init=args.init, init_disc=args.init_disc, images=names)
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()
