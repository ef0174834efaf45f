"""The shipped encoder made streamable: causal padding, fine-tuned against the frozen decoder.

tfbend streams the encoder block by block, which needs causal padding (k - stride zeros on
the left, none on the right) instead of the symmetric padding train.py trains with. The
same weights under causal padding lose some quality (see the table this prints), so this
script fine-tunes a copy of the encoder under causal padding against the shipped decoder,
which stays frozen (decoder.safetensors and reference.safetensors do not change).

Usage (repo root): /usr/bin/python3 models/audio/causal_encoder.py --minutes 10
Writes models/audio/encoder_causal.safetensors (keys net.{0,2,4,6,8}.{weight,bias}) and
reference_causal.safetensors (x, z = encode(x), y = decode(encode(x))) and prints a table.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import train  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402


class CausalEncoder(train.Encoder):
    """The same layers; each conv pads (k - stride) zeros on the left and none on the right."""

    def forward(self, x):
        for m in self.net:
            if isinstance(m, torch.nn.Conv1d):
                k, s = m.kernel_size[0], m.stride[0]
                x = F.conv1d(F.pad(x, (k - s, 0)), m.weight, m.bias, stride=s)
            else:
                x = m(x)
        return x


def weights(path):
    tensors, _ = load_file(path)
    return {k: torch.from_numpy(v.copy()) for k, v in tensors.items()}


def held_out(enc, dec, held):
    enc.eval()
    with torch.no_grad():
        loss, parts = train.full_loss(enc, dec, held)
    enc.train()
    return loss.item(), parts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    dec = train.Decoder()
    dec.load_state_dict(weights(os.path.join(HERE, "decoder.safetensors")))
    dec.eval()
    for p in dec.parameters():
        p.requires_grad_(False)
    held = train.synth_batch(np.random.default_rng(12345), 8)
    trained = train.Encoder()
    trained.load_state_dict(weights(os.path.join(HERE, "encoder.safetensors")))
    enc = CausalEncoder()
    enc.load_state_dict(trained.state_dict())
    rows = [("as trained, symmetric padding (not streamable)", held_out(trained, dec, held)),
            ("same weights, causal padding", held_out(enc, dec, held))]

    opt = torch.optim.Adam(enc.parameters(), lr=args.lr)
    t0, step, recent = time.time(), 0, []
    while time.time() - t0 < args.minutes * 60:
        loss, parts = train.full_loss(enc, dec, train.synth_batch(rng, args.batch))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        recent = (recent + [loss.item()])[-50:]
        if step % 50 == 0 or step == 1:
            print(f"step {step:5d}  t={time.time() - t0:6.1f}s  loss {loss.item():.4f} (avg50 {np.mean(recent):.4f})", flush=True)
    secs = time.time() - t0
    rows.append((f"causal padding, fine-tuned {secs / 60:.1f} min ({step} steps)", held_out(enc, dec, held)))

    enc.eval()
    meta = {"sample_rate": str(train.SR), "ratio": str(train.RATIO), "latent_dim": str(train.LATENT), "padding": "causal"}
    save_file(train.float_state(enc), os.path.join(HERE, "encoder_causal.safetensors"), metadata=meta)
    x = held[:1, :, :4096]
    with torch.no_grad():
        z = enc(x)
        y = dec(z)
    save_file({"x": x, "z": z, "y": y}, os.path.join(HERE, "reference_causal.safetensors"))

    print("| encoder | held-out loss | STFT | waveform L1 | mean z² |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (loss, (spec, wav, z2)) in rows:
        print(f"| {name} | {loss:.3f} | {spec:.3f} | {wav:.4f} | {z2:.2f} |")
    print("SUMMARY " + json.dumps({"steps": step, "seconds": round(secs, 1), "final_train_avg50": round(float(np.mean(recent)), 4)}))


if __name__ == "__main__":
    main()
