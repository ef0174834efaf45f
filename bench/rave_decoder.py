"""The RAVE-v2-sized decoder of bench/rave.js in PyTorch (random weights), streaming with
cached padding, timed on one CPU thread. Prints one JSON line {frames: {p50, p95}} (ms).

  /usr/bin/python3 bench/rave_decoder.py --frames 1,8 --rounds 30
  /usr/bin/python3 bench/rave_decoder.py --export decoder.ts   # scripted streaming decoder
  /usr/bin/python3 bench/rave_decoder.py --export decoder.ts --nn-tilde   # ... with nn~'s decode method
"""
import argparse
import json
import os
import time

import torch
import torch.nn as nn

LATENT, CHANNELS, RATIOS, DILATIONS = 128, [1536, 768, 384, 192, 96], [2, 4, 4, 4], [1, 3, 9]
BANDS, FILTER_TAPS = 16, 16


class CausalConv1d(nn.Conv1d):
    """Conv1d that keeps its last (k-1)*dilation input samples between calls."""

    def __init__(self, cin, cout, k, dilation=1, bias=True):
        super().__init__(cin, cout, k, dilation=dilation, bias=bias)
        self.past_size = (k - 1) * dilation
        self.register_buffer("past", torch.zeros(1, cin, self.past_size))

    def forward(self, x):
        if self.past_size == 0:
            return nn.functional.conv1d(x, self.weight, self.bias)
        padded = torch.cat([self.past, x], -1)
        self.past.copy_(padded[..., padded.shape[-1] - self.past_size:])
        return nn.functional.conv1d(padded, self.weight, self.bias, dilation=self.dilation)


class CachedConvTranspose1d(nn.ConvTranspose1d):
    """ConvTranspose1d (kernel taps*stride) that keeps its last taps-1 input frames."""

    def __init__(self, cin, cout, stride, taps, bias=True):
        super().__init__(cin, cout, stride * taps, stride=stride, padding=(taps - 1) * stride, bias=bias)
        self.keep = taps - 1
        self.register_buffer("past", torch.zeros(1, cin, self.keep))

    def forward(self, x):
        padded = torch.cat([self.past, x], -1)
        self.past.copy_(padded[..., padded.shape[-1] - self.keep:])
        return nn.functional.conv_transpose1d(padded, self.weight, self.bias, stride=self.stride,
                                              padding=self.padding)


class ResidualUnit(nn.Module):
    def __init__(self, channels, dilation):
        super().__init__()
        self.act1 = nn.LeakyReLU(0.2)
        self.conv1 = CausalConv1d(channels, channels, 3, dilation=dilation)
        self.act2 = nn.LeakyReLU(0.2)
        self.conv2 = CausalConv1d(channels, channels, 1)

    def forward(self, x):
        return x + self.conv2(self.act2(self.conv1(self.act1(x))))


class RaveDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        layers = [CausalConv1d(LATENT, CHANNELS[0], 3)]
        for i, r in enumerate(RATIOS):
            layers += [nn.LeakyReLU(0.2), CachedConvTranspose1d(CHANNELS[i], CHANNELS[i + 1], r, 2)]
            layers += [ResidualUnit(CHANNELS[i + 1], d) for d in DILATIONS]
        layers += [nn.LeakyReLU(0.2), CausalConv1d(CHANNELS[-1], 2 * BANDS, 7)]
        self.net = nn.Sequential(*layers)
        self.synthesis = CachedConvTranspose1d(BANDS, 1, BANDS, FILTER_TAPS, bias=False)
        self.bands = BANDS

    def forward(self, z):
        h = self.net(z)
        wave = torch.tanh(h[:, :self.bands])
        amplitude = torch.sigmoid(h[:, self.bands:])
        return self.synthesis(wave * amplitude)


class NnTildeDecoder(nn.Module):
    """The decoder as an nn~ export declares it (RAVE v1's way: a `decode_params` buffer
    [in_channels, in_ratio, out_channels, out_ratio] beside the method), so that a session
    streams it with `method decode`."""

    def __init__(self, decoder: RaveDecoder):
        super().__init__()
        self.decoder = decoder
        hop = BANDS
        for r in RATIOS:
            hop *= r
        self.register_buffer("decode_params", torch.tensor([LATENT, hop, 1, 1]))

    @torch.jit.export
    def decode(self, z):
        return self.decoder(z)

    def forward(self, z):
        return self.decoder(z)


# BENCH_CLOCK=cpu: this process's CPU time, as bench/util.js does (wall time on a shared machine
# mostly measures the waiting)
clock = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter


def time_blocks(model, frames, rounds):
    z = torch.randn(1, LATENT, frames)
    times = []
    with torch.no_grad():
        for _ in range(3):
            model(z)
        for _ in range(rounds):
            t0 = clock()
            model(z)
            times.append((clock() - t0) * 1000)
    times.sort()
    pick = lambda q: times[min(len(times) - 1, max(0, round(q * (len(times) - 1))))]
    return {"p50": pick(0.5), "p95": pick(0.95)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", default="1,8")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--export", help="save the scripted streaming decoder here (torch.jit.save)")
    parser.add_argument("--nn-tilde", action="store_true", help="with --export: wrapped with nn~'s decode method")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = RaveDecoder().eval()
    if args.export:
        torch.jit.save(torch.jit.script(NnTildeDecoder(model) if args.nn_tilde else model), args.export)
        print(json.dumps({"exported": args.export}))
        return
    print(json.dumps({f: time_blocks(model, int(f), args.rounds) for f in args.frames.split(",")}))


if __name__ == "__main__":
    main()
