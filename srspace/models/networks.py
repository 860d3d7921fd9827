"""The networks: pure ``nn.Module``s that only compute.

Key layouts follow the official checkpoints so one loader serves every source:
SRCNN as MMEditing's ``SRCNNNet`` (conv1/conv2/conv3; our residual_gain defaults
where a checkpoint lacks it), ESPCN as PyTorch's
super-resolution example (conv1..conv4).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..contract import CUBIC_A, KERNELS


def cubic_near(t, a: float = CUBIC_A):
    """Keys' cubic kernel for |t| <= 1 (a = -0.75, PyTorch's and the contract's): floats, arrays or tensors."""
    return ((a + 2) * t - (a + 3)) * t * t + 1


def cubic_far(t, a: float = CUBIC_A):
    """Keys' cubic kernel for 1 < |t| < 2."""
    return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a


def interpolation_matrix(n_in: int, n_out, scale: torch.Tensor) -> torch.Tensor:
    """The [n_out, n_in] matrix of a bicubic resize along one axis by ``scale`` (a float32 scalar tensor).

    Row i holds the four cubic weights of output i, which samples input coordinate
    (i + 0.5) / s - 0.5 (half-pixel, as PyTorch with align_corners=False and ONNX Resize);
    taps past the border are clamped to the edge pixel, so a row may add weights on one column.
    Built from elementwise ops (Range, Floor, Equal, Mul, Add), it exports as part of the graph.
    """
    i = torch.arange(n_out, dtype=torch.float32)
    source = (i + 0.5) / scale - 0.5
    base = torch.floor(source)
    t = source - base
    columns = torch.arange(n_in, dtype=torch.float32)[None, :]
    matrix = None
    for offset, weight in ((-1, cubic_far(t + 1)), (0, cubic_near(t)), (1, cubic_near(1 - t)), (2, cubic_far(2 - t))):
        tap = torch.clamp(base + offset, 0, n_in - 1)[:, None]
        term = weight[:, None] * (tap == columns).to(torch.float32)
        matrix = term if matrix is None else matrix + term
    return matrix


def bicubic_resize(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Bicubic resize of NCHW ``x`` by ``factor`` = [1, 1, s, s] given as a tensor.

    Two interpolation matrices are built from the factor and applied by ``MatMul``:
    out = M_h @ x @ M_w^T. The same code runs in PyTorch and, exported, in the graph, where
    the factor stays a graph input. It replaced an ONNX cubic ``Resize`` (the OpenMMLab
    deployment trick) because ONNX Runtime runs that single-threaded, about 40% of the
    model's time; MatMul runs on every core. Output sides follow the contract's size rule,
    floor(n * s) in float32.
    """
    height, width = x.shape[2], x.shape[3]
    out_h = torch.floor(factor[2] * height).to(torch.int64)
    out_w = torch.floor(factor[3] * width).to(torch.int64)
    if torch.onnx.is_in_onnx_export():  # sizes from the factor's value: unbacked in the exported program
        out_h, out_w = out_h.item(), out_w.item()
        torch._check(out_h >= 1)
        torch._check(out_w >= 1)
    else:
        out_h, out_w = int(out_h), int(out_w)
    rows = interpolation_matrix(height, out_h, factor[2])
    cols = interpolation_matrix(width, out_w, factor[3])
    return torch.matmul(rows, torch.matmul(x, cols.transpose(0, 1)))


def cubic_kernel(t, a: float = CUBIC_A) -> np.ndarray:
    """The bicubic convolution kernel (Keys), with PyTorch's a = -0.75, on floats or arrays."""
    t = np.abs(t)
    return np.where(t <= 1, cubic_near(t, a), np.where(t < 2, cubic_far(t, a), 0.0))


class BicubicUpsample(nn.Module):
    """Bicubic upsampling by an integer factor, exactly as PyTorch's (align_corners=False):
    replicate-pad 2, a depthwise 5x5 conv giving each of the f*f output phases, DepthToSpace.

    Output pixel f*i + r samples input coordinate i + (r + 0.5)/f - 0.5, so each phase is a
    fixed 5-tap filter per axis, and edge replication is PyTorch's index clamping. ONNX
    Runtime runs this multithreaded, where its cubic Resize is single-threaded and slower.
    """

    def __init__(self, factor: int, channels: int = 3):
        super().__init__()
        self.factor, self.channels = factor, channels
        taps = torch.zeros(factor, 5, dtype=torch.float64)
        for r in range(factor):
            x = (r + 0.5) / factor - 0.5
            base = math.floor(x)
            for k in range(-1, 3):
                taps[r, base + k + 2] = float(cubic_kernel(x - (base + k)))
        phases = torch.einsum("yi,xj->yxij", taps, taps).reshape(factor * factor, 1, 5, 5)
        self.register_buffer("weight", phases.repeat(channels, 1, 1, 1).float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (2, 2, 2, 2), mode="replicate")
        return F.pixel_shuffle(F.conv2d(x, self.weight, groups=self.channels), self.factor)


def gain_polynomial(c, t):
    """SRCNN's residual gain before its clamp, c0 + c1 t + c2 t^2 with t = ln s: tensors or floats."""
    return c[0] + (c[1] + c[2] * t) * t


class SRCNN(nn.Module):
    """SRCNN 9-1-5 (Dong et al. 2014): bicubic upsample, then three convolutions.

    ``upscale_factor=None`` makes the factor a forward argument (``factor``, float32 [4]).

    One addition to MMEditing's ``SRCNNNet``: ``residual_gain``, the coefficients of a
    quadratic in ln(s) (clamped at 0) that scales what the convolutions change in the bicubic
    image, ``out = up + g(s) * (convs(up) - up)``. A network serving every factor cannot see
    the factor, and the right amount of sharpening grows with it; with the gain, one
    set of weights learns the shape of the correction and the factor sets its strength.
    Official checkpoints have no gain: it defaults to g = 1, which is exactly SRCNNNet.
    """

    GAIN_KEY = "residual_gain"

    def __init__(self, upscale_factor: int | None = 3, channels=(3, 64, 32, 3), kernel_sizes=KERNELS["srcnn"]):
        super().__init__()
        self.upscale_factor = upscale_factor
        self.conv1 = nn.Conv2d(channels[0], channels[1], kernel_sizes[0], padding=kernel_sizes[0] // 2)
        self.conv2 = nn.Conv2d(channels[1], channels[2], kernel_sizes[1], padding=kernel_sizes[1] // 2)
        self.conv3 = nn.Conv2d(channels[2], channels[3], kernel_sizes[2], padding=kernel_sizes[2] // 2)
        self.relu = nn.ReLU()
        self.upsampler = BicubicUpsample(upscale_factor, channels[0]) if upscale_factor else None
        self.residual_gain = nn.Parameter(torch.tensor([1.0, 0.0, 0.0]))  # g = 1: exactly SRCNNNet

    def upsample(self, x: torch.Tensor, factor: torch.Tensor | None = None) -> torch.Tensor:
        if self.upscale_factor is None:
            if factor is None:
                raise ValueError("this SRCNN takes its factor at run time: pass factor=[1, 1, s, s]")
            return bicubic_resize(x, factor)
        return self.upsampler(x)

    def gain(self, factor: torch.Tensor | None = None) -> torch.Tensor:
        """g(s) = max(0, c0 + c1 ln s + c2 ln^2 s), for the run-time factor or the fixed one.

        Never negative: a negative gain would push the image away from what the network
        suggests. At 0 the output is exactly the bicubic image, which is how weights trained
        for one large factor (the official x4 SRCNN) stay harmless at small ones.
        """
        t = torch.log(factor[2]) if self.upscale_factor is None else math.log(self.upscale_factor)
        return torch.clamp(gain_polynomial(self.residual_gain, t), min=0.0)

    def correction(self, x: torch.Tensor) -> torch.Tensor:
        """The three convolutions at output resolution: MMEditing's SRCNNNet after its upsample."""
        return self.last_conv(self.relu(self.conv2(self.relu(self.conv1(x)))))

    def last_conv(self, features: torch.Tensor) -> torch.Tensor:
        """``conv3`` (k x k, 32 -> 3 channels), computed as a 1x1 conv to 3*k*k channels and ``fold``.

        The same sum, in another order: each pixel's features are multiplied by every tap of
        the kernel at once (one GEMM with 75 outputs, where a 3-output conv wastes most of a
        CPU's vector lanes), and ``fold`` (ONNX ``Col2Im``) adds each tap's product into the
        pixel it lands on. ONNX Runtime ran this conv 2x faster so: 174 -> 88 ms at 1 MP.
        The kernel is flipped because fold scatters where a convolution gathers.
        """
        conv = self.conv3
        out_c, in_c, k, _ = conv.weight.shape
        n, _, height, width = features.shape
        taps = conv.weight.flip(2, 3).permute(0, 2, 3, 1).reshape(out_c * k * k, in_c, 1, 1)
        products = F.conv2d(features, taps).reshape(n, out_c * k * k, height * width)
        return F.fold(products, (height, width), k, padding=k // 2) + conv.bias[None, :, None, None]

    def refine(self, x: torch.Tensor, factor: torch.Tensor | None = None) -> torch.Tensor:
        """The three convolutions at output resolution, their change to ``x`` scaled by the gain."""
        return x + self.gain(factor) * (self.correction(x) - x)

    def forward(self, x: torch.Tensor, factor: torch.Tensor | None = None) -> torch.Tensor:
        return self.refine(self.upsample(x, factor), factor)


class ESPCN(nn.Module):
    """ESPCN (Shi et al. 2016) as in PyTorch's super-resolution example: Y in, Y out."""

    def __init__(self, upscale_factor: int = 3):
        super().__init__()
        self.upscale_factor = upscale_factor
        k1, k2, k3, k4 = KERNELS["espcn"]
        self.conv1 = nn.Conv2d(1, 64, k1, padding=k1 // 2)
        self.conv2 = nn.Conv2d(64, 64, k2, padding=k2 // 2)
        self.conv3 = nn.Conv2d(64, 32, k3, padding=k3 // 2)
        self.conv4 = nn.Conv2d(32, upscale_factor**2, k4, padding=k4 // 2)
        self.relu = nn.ReLU()
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        return self.pixel_shuffle(self.conv4(x))


def build_network(network: str, upscale_factor: int | None) -> nn.Module:
    """A fresh, untrained network by name ("srcnn" or "espcn")."""
    if network == "srcnn":
        return SRCNN(upscale_factor)
    if network == "espcn":
        return ESPCN(upscale_factor or 3)
    raise KeyError(f"unknown network {network!r}")


def init_srcnn_as_bicubic(model: SRCNN, noise: float = 1e-4, seed: int = 0) -> None:
    """Start SRCNN as an exact pass-through of its bicubic input.

    Channels 0-2 of every layer carry the image through (inputs are >= 0, so the
    ReLUs pass them); the other features start random (He init), and what they add
    to the output starts ``noise`` small. Training then only adds to bicubic instead
    of first having to learn it.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for conv in (model.conv1, model.conv2, model.conv3):
            w = conv.weight
            fan_in = w.shape[1] * w.shape[2] * w.shape[3]
            w.copy_(torch.randn(w.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            conv.bias.zero_()
            w[:3] = 0.0
            for c in range(3):
                w[c, c, w.shape[2] // 2, w.shape[3] // 2] = 1.0
        model.conv3.weight[:, 3:] = torch.randn(model.conv3.weight[:, 3:].shape, generator=gen) * noise
