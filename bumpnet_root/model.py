"""The BumpNet network: a background estimator followed by the likelihood ratio.

The network never outputs Z directly. A fully convolutional stack reads the bin
contents and estimates the smooth expected background b per bin, ignoring any
localised excess; Z per bin then follows from the same profile likelihood ratio
that defines the training label (see :mod:`bumpnet_root.significance`), computed
inside the TorchScript graph in float64. So a model can report Z far above the
training range (the Z peak in a dimuon spectrum) and its output at any count
level has the scaling of a real likelihood ratio; all that is learned is the
background estimate.

Preprocessing is part of the module, so a saved TorchScript file applies it
exactly as in training: y = log(n + 1) per bin, normalised by the histogram's
own mean and spread of y, plus two channels that tell the network its noise
level (1/sqrt(n + 1) per bin and the mean of y over the histogram).
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Template bins beyond this many bins from the centre are dropped inside the
# graph; for one-bin-wide Gaussians the lost probability is below 1e-15.
DEFAULT_TEMPLATE_REACH = 8


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv1d(
            channels, channels, kernel_size, padding=padding, dilation=dilation
        )
        self.mix = nn.Conv1d(channels, channels, 1)
        self.activation = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(self.activation(self.conv(self.activation(x))))


class BumpNetModule(nn.Module):
    """Estimate the background per bin and return (Z, background).

    ``forward(counts, edges)`` takes counts of shape (batch, n_bins) and edges of
    shape (batch, n_bins + 1) and returns two float64 tensors of shape
    (batch, n_bins): the signed local significance and the background estimate.
    """

    def __init__(
        self,
        channels: int = 48,
        kernel_size: int = 5,
        dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1, 2, 4, 8, 16),
        template_reach: int = DEFAULT_TEMPLATE_REACH,
        template_width: float = 1.0,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.template_reach = template_reach
        self.template_width = template_width
        self.input = nn.Conv1d(6, channels, 1)
        self.blocks = nn.ModuleList(
            [_ResidualBlock(channels, kernel_size, d) for d in dilations]
        )
        self.head = nn.Sequential(
            nn.GELU(),
            nn.Conv1d(channels, channels, 1),
            nn.GELU(),
            nn.Conv1d(channels, 2, 1),
        )
        # The last layer starts at zero, so an untrained model returns b = n.
        last = self.head[-1]
        assert isinstance(last, nn.Conv1d)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def log_background(self, counts: torch.Tensor) -> torch.Tensor:
        """Return log(b + 1) per bin (float64) for counts of shape (batch, n_bins)."""
        n = counts.to(torch.float64).clamp(min=0.0)
        y = torch.log1p(n)
        center = y.mean(dim=1, keepdim=True)
        spread = y.std(dim=1, keepdim=True, unbiased=False) + 0.1
        # Relative Poisson noise of a bin, which is also its noise in log space.
        noise = torch.rsqrt(n + 1.0)
        padded = torch.nn.functional.pad(y[:, None, :], (1, 1), mode="replicate")[
            :, 0, :
        ]
        curvature = (y - 0.5 * (padded[:, :-2] + padded[:, 2:])) / noise
        slope = 0.5 * (padded[:, 2:] - padded[:, :-2]) / noise
        features = torch.stack(
            [
                (y - center) / spread,
                torch.asinh(curvature),
                torch.asinh(slope),
                noise,
                (center / 10.0).expand_as(y),
                torch.ones_like(y),
            ],
            dim=1,
        ).float()
        x = self.input(features)
        for block in self.blocks:
            x = block(x)
        correction = self.head(x).to(torch.float64)
        # Two outputs: a fine correction in units of the bin's Poisson noise and
        # a coarse one in units of the histogram's spread of log counts, so
        # that both noise and large excesses are within reach.
        return y + noise * correction[:, 0, :] + spread * correction[:, 1, :]

    def forward(
        self, counts: torch.Tensor, edges: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        counts64 = counts.to(torch.float64)
        background = torch.exp(self.log_background(counts64)) - 1.0
        background = background.clamp(min=1e-3)
        z = likelihood_ratio_z(
            counts64,
            background,
            edges.to(torch.float64),
            self.template_reach,
            self.template_width,
        )
        return z, background


def template_windows(
    edges: torch.Tensor, reach: int, width: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (index, weight) of shape (batch, n_bins, 2 * reach + 1).

    Row j holds the bins j - reach .. j + reach (clamped) and the normalised
    Gaussian template centred on bin j with sigma = width x (width of bin j),
    integrated over each bin; out-of-range entries get weight 0.
    """
    n_bins = edges.shape[1] - 1
    offsets = torch.arange(-reach, reach + 1, device=edges.device)
    raw = torch.arange(n_bins, device=edges.device)[:, None] + offsets[None, :]
    valid = (raw >= 0) & (raw < n_bins)
    index = raw.clamp(0, n_bins - 1)
    low = edges[:, :-1]
    high = edges[:, 1:]
    center = 0.5 * (low + high)
    sigma = (high - low) * width
    flat = index.reshape(-1)
    batch = edges.shape[0]
    low_w = low[:, flat].reshape(batch, n_bins, -1)
    high_w = high[:, flat].reshape(batch, n_bins, -1)
    scale = 1.0 / (sigma[:, :, None] * math.sqrt(2.0))
    weight = 0.5 * (
        torch.erf((high_w - center[:, :, None]) * scale)
        - torch.erf((low_w - center[:, :, None]) * scale)
    )
    weight = torch.where(valid[None, :, :], weight.clamp(min=0.0), 0.0)
    weight = weight / weight.sum(dim=2, keepdim=True)
    return index.expand(batch, n_bins, 2 * reach + 1), weight


def likelihood_ratio_z(
    counts: torch.Tensor,
    background: torch.Tensor,
    edges: torch.Tensor,
    reach: int = DEFAULT_TEMPLATE_REACH,
    width: float = 1.0,
    smoothing: float = 0.0,
) -> torch.Tensor:
    """Return the signed local significance per bin, batched, in the graph.

    Same definition as :func:`bumpnet_root.significance.local_significance`.
    A positive ``smoothing`` eps returns sign(mu) (sqrt(q0 + eps) - sqrt(eps))
    instead, whose gradient stays finite at q0 = 0; training uses it for both
    the label and the prediction, inference uses 0.
    mu_hat is found without gradient (safeguarded Newton on a concave function);
    by the envelope theorem the gradient of q0 with respect to b at fixed
    mu_hat is the full gradient, so training can backpropagate through Z.
    """
    index, weight = template_windows(edges, reach, width)
    batch, n_bins, k = index.shape
    flat = index.reshape(batch, -1)
    n = torch.gather(counts, 1, flat).reshape(batch, n_bins, k)
    b = torch.gather(background.clamp(min=1e-9), 1, flat)
    b = b.reshape(batch, n_bins, k)
    with torch.no_grad():
        mu = _fit_signal_strength(n, b.detach(), weight)
    shift = mu[:, :, None] * weight / b
    log_term = torch.where(
        n > 0, n * torch.log1p(shift.clamp(min=-1.0 + 1e-12)), torch.zeros_like(n)
    )
    q0 = 2.0 * (log_term - mu[:, :, None] * weight).sum(dim=2)
    q0 = q0.clamp(min=0.0)
    if smoothing > 0.0:
        return torch.sign(mu) * (torch.sqrt(q0 + smoothing) - math.sqrt(smoothing))
    return torch.sign(mu) * torch.sqrt(q0)


def _fit_signal_strength(
    n: torch.Tensor, b: torch.Tensor, s: torch.Tensor
) -> torch.Tensor:
    active = s > 0
    ratio = torch.where(active, b / torch.where(active, s, torch.ones_like(s)), 1e300)
    low = -ratio.min(dim=2).values
    high = n.sum(dim=2).clamp(min=0.0) + 1.0
    mu = ((n - b) * s).sum(dim=2) / (s * s).sum(dim=2)
    mu = torch.minimum(torch.maximum(mu, 0.5 * low), 0.5 * high)
    for _ in range(30):
        expected = b + mu[:, :, None] * s
        safe = torch.where(expected > 0, expected, torch.ones_like(expected))
        grad = torch.where(active, n * s / safe, torch.zeros_like(s)).sum(dim=2) - 1.0
        hess = -torch.where(active, n * s * s / (safe * safe), torch.zeros_like(s))
        hess = hess.sum(dim=2)
        low = torch.where(grad > 0, mu, low)
        high = torch.where(grad <= 0, mu, high)
        step = torch.where(hess < 0, -grad / torch.where(hess < 0, hess, -1.0), 0.0)
        candidate = mu + step
        inside = (hess < 0) & (candidate > low) & (candidate < high)
        mu = torch.where(inside, candidate, 0.5 * (low + high))
    return mu


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
