"""Train a tiny RAVE-style audio autoencoder (44.1 kHz, latent dim 8, ratio 256).

The decoder uses only: CausalConv1d (nn.Conv1d with left zero-padding),
subpixel Upsample1d, ResidualBlock, LeakyReLU(0.2), Tanh. The encoder uses
plain strided nn.Conv1d + LeakyReLU(0.2).

Data is synthesised on the fly (harmonic tones, filtered noise, percussive
hits, mixtures). Loss: multi-scale STFT (log-magnitude L1 + spectral
convergence, FFT 2048/512/128) + 0.1 * waveform L1 + 1e-3 * mean(z^2).

Usage (repo root):
    /usr/bin/python3 models/audio/train.py --minutes 25
Writes models/audio/{decoder,encoder,reference}.safetensors and MODEL_CARD.md.
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
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from safetensors_io import load_file, save_file  # noqa: E402

SR = 44100
RATIO = 256
LATENT = 8
SEG = 16384


# ----------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------
class CausalConv1d(nn.Conv1d):
    """nn.Conv1d (constructed with padding=0) that left-pads its input with
    (kernel_size-1)*dilation zeros, so output[t] depends on input[<= t].

    For the streaming check only, `_stream=True` replaces the zero padding by
    the last (kernel_size-1)*dilation input samples of the previous call
    (this state is not part of the state_dict)."""

    def __init__(self, in_channels, out_channels, kernel_size, dilation=1):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, padding=0)
        self._stream = False
        self._state = None

    @property
    def causal_pad(self):
        return (self.kernel_size[0] - 1) * self.dilation[0]

    def forward(self, x):
        p = self.causal_pad
        if self._stream:
            if self._state is None:
                self._state = x.new_zeros(x.shape[0], x.shape[1], p)
            xp = torch.cat([self._state, x], dim=-1)
            self._state = xp[..., xp.shape[-1] - p:]
        else:
            xp = F.pad(x, (p, 0))
        return super().forward(xp)


class Upsample1d(nn.Module):
    """Subpixel (pixel-shuffle) upsampling by `factor`.

    y = conv(x): (N, cout*factor, T). Channel index k of y is interpreted as
    k = c * factor + f  (c = output channel, f = sub-sample phase), i.e.
    reshape (N, cout, factor, T) -> permute (N, cout, T, factor) ->
    reshape (N, cout, T*factor), so out[n, c, t*factor + f] = y[n, c*factor + f, t].
    """

    def __init__(self, cin, cout, factor):
        super().__init__()
        self.cout = cout
        self.factor = factor
        self.conv = CausalConv1d(cin, cout * factor, 3)

    def forward(self, x):
        y = self.conv(x)
        n, _, t = y.shape
        y = y.reshape(n, self.cout, self.factor, t)
        y = y.permute(0, 1, 3, 2)
        return y.reshape(n, self.cout, t * self.factor)


class ResidualBlock(nn.Module):
    def __init__(self, c, d=1):
        super().__init__()
        self.conv1 = CausalConv1d(c, c, 3, dilation=d)
        self.act = nn.LeakyReLU(0.2)
        self.conv2 = CausalConv1d(c, c, 1)

    def forward(self, x):
        return x + self.conv2(self.act(self.conv1(self.act(x))))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        layers = [CausalConv1d(LATENT, 128, 3)]
        for cin, cout in [(128, 64), (64, 32), (32, 16), (16, 16)]:
            layers += [
                nn.LeakyReLU(0.2),
                Upsample1d(cin, cout, 4),
                ResidualBlock(cout, d=1),
                ResidualBlock(cout, d=3),
            ]
        layers += [nn.LeakyReLU(0.2), CausalConv1d(16, 1, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z):  # (N, 8, T) -> (N, 1, T*256)
        return self.net(z)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        chans = [1, 16, 32, 64, 128]
        for cin, cout in zip(chans[:-1], chans[1:]):
            # kernel 8, stride 4, padding 2: L_out = (L + 4 - 8)/4 + 1 = L/4 for L % 4 == 0
            layers += [nn.Conv1d(cin, cout, 8, stride=4, padding=2), nn.LeakyReLU(0.2)]
        layers += [nn.Conv1d(128, LATENT, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):  # (N, 1, L) -> (N, 8, L/256)
        return self.net(x)


# ----------------------------------------------------------------------------
# Synthetic data
# ----------------------------------------------------------------------------
def adsr(rng, L):
    onset = rng.uniform(0, 0.3) * L
    a = rng.uniform(0.002, 0.08) * SR
    d = rng.uniform(0.02, 0.25) * SR
    s = rng.uniform(0.2, 1.0)
    length = rng.uniform(0.08, 0.45) * SR
    r = rng.uniform(0.01, 0.2) * SR
    off = onset + max(length, a + d)
    tp = [0, onset, onset + a, onset + a + d, off, off + r, max(off + r, L) + 1]
    vp = [0, 0, 1, s, s, 0, 0]
    return np.interp(np.arange(L), tp, vp)


def harmonic(rng, L):
    t = np.arange(L) / SR
    f0 = math.exp(rng.uniform(math.log(60), math.log(1000)))
    semis = rng.uniform(-12, 12) if rng.random() < 0.5 else 0.0
    vib_depth = rng.uniform(0, 0.4) if rng.random() < 0.5 else 0.0
    vib_rate = rng.uniform(3, 8)
    f = f0 * 2 ** ((semis * t / t[-1] + vib_depth * np.sin(2 * np.pi * vib_rate * t)) / 12)
    phase = 2 * np.pi * np.cumsum(f) / SR
    nh = int(rng.integers(1, 24))
    tilt = rng.uniform(0.3, 2.0)
    fmax = f.max()
    x = np.zeros(L)
    for h in range(1, nh + 1):
        if fmax * h > 0.45 * SR:
            break
        amp = rng.uniform(0.1, 1.0) * h ** (-tilt)
        x += amp * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    return x * adsr(rng, L)


def bandpass_noise(rng, L):
    n = rng.standard_normal(L)
    spec = np.fft.rfft(n)
    freqs = np.fft.rfftfreq(L, 1 / SR)
    fc = math.exp(rng.uniform(math.log(100), math.log(12000)))
    bw = rng.uniform(0.2, 3.0)  # octaves
    g = np.exp(-0.5 * (np.log2(np.maximum(freqs, 1.0) / fc) / (bw / 2)) ** 2)
    return np.fft.irfft(spec * g, n=L)


def noise_bursts(rng, L):
    x = np.zeros(L)
    for _ in range(int(rng.integers(1, 4))):
        x += rng.uniform(0.3, 1.0) * bandpass_noise(rng, L) * adsr(rng, L)
    return x


def percussion(rng, L):
    x = np.zeros(L)
    for _ in range(int(rng.integers(1, 5))):
        start = int(rng.uniform(0, 0.85) * L)
        n = L - start
        t = np.arange(n) / SR
        f1 = rng.uniform(80, 800)
        f2 = f1 * rng.uniform(0.15, 0.8)
        f = f2 + (f1 - f2) * np.exp(-t / rng.uniform(0.005, 0.05))
        body = np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-t / rng.uniform(0.02, 0.25))
        click = rng.standard_normal(n) * np.exp(-t / rng.uniform(0.0005, 0.006))
        if rng.random() < 0.5:
            click = np.diff(click, prepend=0.0)  # brighter
        x[start:] += rng.uniform(0.3, 1.0) * body + rng.uniform(0.0, 0.8) * click
    return x


GENS = [harmonic, noise_bursts, percussion]


def synth_one(rng, L=SEG):
    u = rng.random()
    if u < 0.3:
        x = harmonic(rng, L)
    elif u < 0.45:
        x = noise_bursts(rng, L)
    elif u < 0.65:
        x = percussion(rng, L)
    else:
        x = np.zeros(L)
        for _ in range(int(rng.integers(2, 4))):
            x += rng.uniform(0.3, 1.0) * GENS[int(rng.integers(0, 3))](rng, L)
    peak = np.abs(x).max()
    if peak < 1e-8:
        return np.zeros(L, dtype=np.float32)
    return (x / peak * rng.uniform(0.3, 0.9)).astype(np.float32)


def synth_batch(rng, n, L=SEG):
    return torch.from_numpy(np.stack([synth_one(rng, L) for _ in range(n)]))[:, None, :]


# ----------------------------------------------------------------------------
# Loss
# ----------------------------------------------------------------------------
FFTS = (2048, 512, 128)
_WINDOWS = {n: torch.hann_window(n) for n in FFTS}


def stft_mag(x, n):
    s = torch.stft(x, n, hop_length=n // 4, win_length=n, window=_WINDOWS[n],
                   center=True, return_complex=True)
    s = torch.view_as_real(s)
    return torch.sqrt(s.pow(2).sum(-1) + 1e-8)


def mss_loss(y, x):
    """y: reconstruction, x: target, both (N, 1, L)."""
    y, x = y[:, 0], x[:, 0]
    total = 0.0
    for n in FFTS:
        Y, X = stft_mag(y, n), stft_mag(x, n)
        sc = torch.linalg.norm(X - Y) / (torch.linalg.norm(X) + 1e-8)
        lm = (torch.log(Y + 1e-5) - torch.log(X + 1e-5)).abs().mean()
        total = total + sc + lm
    return total


def full_loss(enc, dec, x):
    z = enc(x)
    y = dec(z)
    spec = mss_loss(y, x)
    wav = (y - x).abs().mean()
    reg = z.pow(2).mean()
    return spec + 0.1 * wav + 1e-3 * reg, (spec.item(), wav.item(), reg.item())


# ----------------------------------------------------------------------------
def n_params(m):
    return sum(p.numel() for p in m.parameters())


def export_state(m):
    """The whole state dict as PyTorch writes it (F32; integer buffers such as BatchNorm's
    num_batches_tracked as I64, which tfbend loads in strict mode, like PyTorch)."""
    return {k: v.detach() if not v.is_floating_point() else v.detach().float() for k, v in m.state_dict().items()}


def streaming_check(dec, z):
    with torch.no_grad():
        full = dec(z)
        causal_prefix = dec(z[..., :8])
        convs = [m for m in dec.modules() if isinstance(m, CausalConv1d)]
        for m in convs:
            m._stream, m._state = True, None
        try:
            a = dec(z[..., :8])
            b = dec(z[..., 8:16])
        finally:
            for m in convs:
                m._stream, m._state = False, None
        streamed = torch.cat([a, b], -1)
    e1 = (causal_prefix - full[..., : 8 * RATIO]).abs().max().item()
    e2 = (streamed - full).abs().max().item()
    print(f"causality: |dec(z[:8]) - dec(z)[:2048]|max = {e1:.3e}")
    print(f"streaming: |cat(stream(z[:8]), stream(z[8:16])) - dec(z)|max = {e2:.3e}")
    assert e1 < 1e-5 and e2 < 1e-5, "decoder is not causal/streamable"
    return e1, e2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)

    enc, dec = Encoder(), Decoder()
    # shape sanity checks
    with torch.no_grad():
        for L in (256, 4096, SEG):
            assert enc(torch.zeros(1, 1, L)).shape == (1, LATENT, L // RATIO)
        assert dec(torch.zeros(1, LATENT, 5)).shape == (1, 1, 5 * RATIO)
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=args.lr)

    held = synth_batch(np.random.default_rng(12345), 8)
    budget = args.minutes * 60.0
    t0 = time.time()
    step = 0
    recent = []
    while time.time() - t0 < budget:
        x = synth_batch(rng, args.batch)
        loss, parts = full_loss(enc, dec, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        recent.append(loss.item())
        recent = recent[-50:]
        if step % 50 == 0 or step == 1:
            print(f"step {step:6d}  t={time.time() - t0:7.1f}s  loss {loss.item():.4f}  "
                  f"(avg50 {np.mean(recent):.4f}; spec {parts[0]:.4f} wav {parts[1]:.4f} "
                  f"z2 {parts[2]:.3f})", flush=True)
    train_secs = time.time() - t0
    final_train = float(np.mean(recent))

    enc.eval()
    dec.eval()
    with torch.no_grad():
        held_loss, held_parts = full_loss(enc, dec, held)
        held_loss = held_loss.item()
        # latent statistics over a held-out set (64 segments)
        stat_rng = np.random.default_rng(54321)
        zs = torch.cat([enc(synth_batch(stat_rng, 16)) for _ in range(4)])  # (64, 8, 64)
        zf = zs.permute(1, 0, 2).reshape(LATENT, -1)
        lat_mean = zf.mean(1).tolist()
        lat_std = zf.std(1).tolist()
    print(f"held-out loss {held_loss:.4f} (spec {held_parts[0]:.4f} wav {held_parts[1]:.4f} "
          f"z2 {held_parts[2]:.3f})")
    print("latent mean", [round(v, 3) for v in lat_mean])
    print("latent std ", [round(v, 3) for v in lat_std])

    # reference tensors
    g = torch.Generator().manual_seed(2024)
    z_ref = torch.randn(1, LATENT, 16, generator=g)
    x_ref = synth_batch(np.random.default_rng(777), 1, 4096)
    with torch.no_grad():
        audio_ref = dec(z_ref)
        z_enc = enc(x_ref)
    streaming_check(dec, z_ref)

    common = {"sample_rate": str(SR), "ratio": str(RATIO), "latent_dim": str(LATENT)}
    dec_path = os.path.join(args.out, "decoder.safetensors")
    enc_path = os.path.join(args.out, "encoder.safetensors")
    ref_path = os.path.join(args.out, "reference.safetensors")
    save_file(export_state(dec), dec_path, dict(common, latent_mean=json.dumps(lat_mean),
                                               latent_std=json.dumps(lat_std)))
    save_file(export_state(enc), enc_path, dict(common))
    save_file({"z": z_ref, "audio": audio_ref, "x": x_ref, "z_enc": z_enc}, ref_path,
              dict(common))

    # verify files round-trip into fresh models
    for path, cls, m in ((dec_path, Decoder, dec), (enc_path, Encoder, enc)):
        sd, _ = load_file(path)
        fresh = cls()
        fresh.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
        fresh.eval()
        probe = z_ref if cls is Decoder else x_ref
        with torch.no_grad():
            assert torch.equal(fresh(probe), m(probe))

    sizes = {os.path.basename(p): os.path.getsize(p) for p in (dec_path, enc_path, ref_path)}
    summary = dict(steps=step, train_seconds=round(train_secs, 1),
                   final_train_loss_avg50=round(final_train, 4),
                   held_out_loss=round(held_loss, 4),
                   held_out_parts=dict(spec=round(held_parts[0], 4), wav_l1=round(held_parts[1], 5),
                                       z2=round(held_parts[2], 4)),
                   decoder_params=n_params(dec), encoder_params=n_params(enc), sizes=sizes,
                   latent_mean=[round(v, 4) for v in lat_mean],
                   latent_std=[round(v, 4) for v in lat_std],
                   torch=torch.__version__, threads=args.threads, batch=args.batch,
                   minutes=args.minutes)
    print("SUMMARY " + json.dumps(summary))
    for k, v in dec.state_dict().items():
        print(f"  {k}: {list(v.shape)}")


if __name__ == "__main__":
    main()
