"""Generate PyTorch reference fixtures for single layers.

Writes test/fixtures/torch/<case>.safetensors, each holding
  params.<state_dict name>  (float buffers/parameters only)
  input, output             (float32)
and __metadata__ {"module": <torch.nn class name>, "config": <JSON of the
constructor keyword arguments>}.

Run from the repo root:  /usr/bin/python3 models/make_torch_fixtures.py
"""
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import load_file, save_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "torch")


def conv_cfg(cin, cout, k, stride=1, padding=0, dilation=1, groups=1, bias=True):
    return dict(in_channels=cin, out_channels=cout, kernel_size=k, stride=stride,
                padding=padding, dilation=dilation, groups=groups, bias=bias)


def convT_cfg(cin, cout, k, stride=1, padding=0, output_padding=0, groups=1,
              bias=True, dilation=1):
    return dict(in_channels=cin, out_channels=cout, kernel_size=k, stride=stride,
                padding=padding, output_padding=output_padding, groups=groups,
                bias=bias, dilation=dilation)


def act_input():
    # (2,7) values spread over [-4, 4]: a linspace row plus a random row
    a = torch.linspace(-4.0, 4.0, 7)
    b = torch.rand(7) * 8.0 - 4.0
    return torch.stack([a, b])


# (case name, nn class name, constructor kwargs, input factory)
CASES = [
    ("conv1d_basic", "Conv1d", conv_cfg(3, 5, 3), lambda: torch.randn(2, 3, 16)),
    ("conv1d_opts", "Conv1d", conv_cfg(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
     lambda: torch.randn(2, 4, 20)),
    ("conv1d_nobias", "Conv1d", conv_cfg(2, 3, 5, bias=False), lambda: torch.randn(1, 2, 12)),
    ("convtranspose1d", "ConvTranspose1d", convT_cfg(4, 3, 4, stride=2, padding=1),
     lambda: torch.randn(2, 4, 10)),
    ("convtranspose1d_opts", "ConvTranspose1d",
     convT_cfg(4, 2, 3, stride=3, padding=0, output_padding=1, dilation=1, groups=2),
     lambda: torch.randn(1, 4, 7)),
    ("conv2d", "Conv2d", conv_cfg(3, 4, 3, stride=1, padding=1), lambda: torch.randn(2, 3, 8, 8)),
    ("conv2d_opts", "Conv2d",
     conv_cfg(4, 4, [3, 5], stride=[2, 1], padding=[1, 2], dilation=1, groups=2),
     lambda: torch.randn(1, 4, 9, 10)),
    ("convtranspose2d", "ConvTranspose2d", convT_cfg(4, 3, 4, stride=2, padding=1),
     lambda: torch.randn(1, 4, 5, 6)),
    ("linear", "Linear", dict(in_features=6, out_features=4, bias=True), lambda: torch.randn(3, 6)),
    ("linear_3d", "Linear", dict(in_features=5, out_features=2, bias=True),
     lambda: torch.randn(2, 3, 5)),
    ("batchnorm1d", "BatchNorm1d", dict(num_features=4, eps=1e-5, momentum=0.1, affine=True,
                                        track_running_stats=True),
     lambda: torch.randn(2, 4, 7)),
    ("batchnorm1d_2d", "BatchNorm1d", dict(num_features=4, eps=1e-5, momentum=0.1, affine=True,
                                           track_running_stats=True),
     lambda: torch.randn(3, 4)),
    ("batchnorm2d", "BatchNorm2d", dict(num_features=3, eps=1e-5, momentum=0.1, affine=True,
                                        track_running_stats=True),
     lambda: torch.randn(2, 3, 4, 4)),
    ("layernorm", "LayerNorm", dict(normalized_shape=6, eps=1e-5, elementwise_affine=True),
     lambda: torch.randn(2, 3, 6)),
    ("embedding", "Embedding", dict(num_embeddings=10, embedding_dim=4),
     lambda: torch.randint(0, 10, (2, 5)).float()),
    ("gelu", "GELU", dict(approximate="none"), act_input),
    ("tanh", "Tanh", dict(), act_input),
    ("sigmoid", "Sigmoid", dict(), act_input),
    ("relu", "ReLU", dict(), act_input),
    ("leaky_relu", "LeakyReLU", dict(negative_slope=0.2), act_input),
    ("elu", "ELU", dict(alpha=1.0), act_input),
    ("silu", "SiLU", dict(), act_input),
    ("softplus", "Softplus", dict(beta=1.0, threshold=20.0), act_input),
    ("upsample_nearest", "Upsample", dict(scale_factor=2, mode="nearest"),
     lambda: torch.randn(1, 2, 3, 4)),
    # transposed convs large enough for the polyphase path (in·out/groups·taps >= 64),
    # RAVE's upsampling shapes (kernel 2·stride, padding stride/2) and the corner cases
    ("convtranspose1d_s2", "ConvTranspose1d", convT_cfg(16, 8, 4, stride=2, padding=1),
     lambda: torch.randn(2, 16, 9)),
    ("convtranspose1d_s4", "ConvTranspose1d", convT_cfg(8, 8, 8, stride=4, padding=2),
     lambda: torch.randn(1, 8, 6)),
    ("convtranspose1d_s8", "ConvTranspose1d", convT_cfg(8, 4, 16, stride=8, padding=4),
     lambda: torch.randn(1, 8, 5)),
    ("convtranspose1d_dilated", "ConvTranspose1d",
     convT_cfg(8, 8, 5, stride=3, padding=2, output_padding=2, dilation=2),
     lambda: torch.randn(2, 8, 7)),
    ("convtranspose1d_outpad_past", "ConvTranspose1d",
     convT_cfg(8, 8, 4, stride=4, padding=0, output_padding=1),
     lambda: torch.randn(1, 8, 5)),
    ("convtranspose1d_groups", "ConvTranspose1d",
     convT_cfg(8, 12, 6, stride=2, padding=2, groups=2, bias=True),
     lambda: torch.randn(1, 8, 8)),
    ("convtranspose1d_nobias", "ConvTranspose1d", convT_cfg(8, 8, 3, stride=1, padding=1, bias=False),
     lambda: torch.randn(1, 8, 10)),
    ("convtranspose2d_s2x4", "ConvTranspose2d",
     convT_cfg(8, 6, [3, 8], stride=[2, 4], padding=[1, 2], output_padding=[1, 0]),
     lambda: torch.randn(1, 8, 4, 5)),
    ("convtranspose2d_dil_groups", "ConvTranspose2d",
     convT_cfg(8, 8, 3, stride=2, padding=1, output_padding=1, dilation=2, groups=2),
     lambda: torch.randn(2, 8, 4, 3)),
]


def build(cls_name, cfg):
    kw = dict(cfg)
    for k, v in kw.items():
        if isinstance(v, list):
            kw[k] = tuple(v)
    return getattr(nn, cls_name)(**kw)


def randomize(m):
    """Make normalisation layers non-trivial (convs/linear/embedding are already random)."""
    with torch.no_grad():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0.0, 0.3)
            m.running_mean.normal_(0.0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(7)  # int64, as a trained model's state dict has it
        elif isinstance(m, nn.LayerNorm):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0.0, 0.3)


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    for name, cls_name, cfg, make_input in CASES:
        layer = build(cls_name, cfg)
        randomize(layer)
        layer.eval()
        x = make_input()
        with torch.no_grad():
            y = layer(x.long() if cls_name == "Embedding" else x)
        tensors = {}
        for k, v in layer.state_dict().items():
            tensors["params." + k] = v  # the whole state dict, num_batches_tracked (I64) included
        tensors["input"] = x
        tensors["output"] = y
        path = os.path.join(OUT, name + ".safetensors")
        save_file(tensors, path, {"module": cls_name, "config": json.dumps(cfg)})
        # round-trip check
        back, meta = load_file(path)
        for k, v in tensors.items():
            assert back[k].shape == tuple(v.shape) and (torch.from_numpy(back[k]) == v).all(), k
        assert json.loads(meta["config"]) == cfg
        shapes = {k: list(v.shape) for k, v in tensors.items()}
        print(f"{name:22s} {cls_name:16s} {shapes}")


if __name__ == "__main__":
    main()
