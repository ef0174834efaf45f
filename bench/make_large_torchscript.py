"""Write a RAVE-v2-sized TorchScript file (~150 MB of float32 weights, random) for the load benchmark.

  /usr/bin/python3 bench/make_large_torchscript.py OUT.ts [--megabytes 150]

A streaming decoder: cached causal convolutions (state buffers), transposed-conv upsampling,
dilated residual stacks, scripted with torch.jit.script and saved with torch.jit.save.
Deterministic (seed 0). Weights are random: only the file's size and layout matter here.
"""
import argparse
from typing import List

import torch
import torch.nn as nn


class CachedConv(nn.Module):
    """Causal Conv1d that keeps its last (k-1)*dilation input samples between calls."""

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, dilation=dilation)
        self.register_buffer("cache", torch.zeros(1, cin, (kernel - 1) * dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.cache, x], -1)
        self.cache.copy_(x[..., x.shape[-1] - self.cache.shape[-1]:])
        return self.conv(x)


class Residual(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv = CachedConv(channels, channels, 3, dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(nn.functional.leaky_relu(self.conv(nn.functional.leaky_relu(x, 0.2)), 0.2))


class Upsample(nn.Module):
    def __init__(self, cin: int, cout: int, ratio: int):
        super().__init__()
        self.conv = nn.ConvTranspose1d(cin, cout, 2 * ratio, stride=ratio, padding=ratio // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class LargeDecoder(nn.Module):
    def __init__(self, width: int, latent: int = 16, ratios: List[int] = [4, 4, 4, 2]):
        super().__init__()
        layers: List[nn.Module] = [CachedConv(latent, width, 3)]
        channels = width
        for ratio in ratios:
            out = max(channels // 2, 16)
            layers.append(Upsample(channels, out, ratio))
            layers += [Residual(out, d) for d in (1, 3, 9)]
            channels = out
        layers.append(CachedConv(channels, 16, 3))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(z))


def size_bytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--megabytes", type=float, default=150.0)
    args = parser.parse_args()
    torch.manual_seed(0)
    target = args.megabytes * 1e6
    # The weights grow with width^2: pick the width from a small probe.
    probe = 256
    scale = (target / size_bytes(LargeDecoder(probe))) ** 0.5
    width = max(16, int(probe * scale / 16) * 16)
    model = LargeDecoder(width)
    while size_bytes(model) < target:
        width += 16
        model = LargeDecoder(width)
    model.eval()
    with torch.no_grad():
        model(torch.randn(1, 16, 2))  # streaming caches are not zero in real exports
    torch.jit.save(torch.jit.script(model), args.out)
    print(f"{args.out}: width {width}, {size_bytes(model) / 1e6:.1f} MB of weights and buffers")


if __name__ == "__main__":
    main()
