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
        channels: int = 32,
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
        features = network_features(
            y, padded[:, :-2], padded[:, 2:], center, spread, noise
        )
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


def network_features(
    y: torch.Tensor,
    before: torch.Tensor,
    after: torch.Tensor,
    center: torch.Tensor,
    spread: torch.Tensor,
    noise: torch.Tensor,
) -> torch.Tensor:
    """Return the six float32 input channels, shape (batch, 6, n_bins).

    ``y`` is log(n + 1) per bin, ``before`` and ``after`` its neighbours,
    ``center`` and ``spread`` the histogram's mean and spread of ``y``, and
    ``noise`` 1/sqrt(n + 1).
    """
    curvature = (y - 0.5 * (before + after)) / noise
    slope = 0.5 * (after - before) / noise
    return torch.stack(
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
    index, weight = batch_template_windows(edges, reach, width)
    return z_from_windows(counts, background, index, weight, smoothing)


def batch_template_windows(
    edges: torch.Tensor, reach: int, width: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return :func:`template_windows` for a batch, built once where rows share them.

    ``index`` has shape (batch, n_bins, K); ``weight`` has a first dimension of
    1 when every row has the same templates, and of batch otherwise.
    """
    batch = edges.shape[0]
    if batch > 1 and bool((edges == edges[:1]).all()):
        # One binning for the whole batch (the usual case in a scan): build the
        # templates once and broadcast them.
        index, weight = template_windows(edges[:1], reach, width)
        index = index.expand(batch, -1, -1)
    elif batch > 1 and _all_uniform(edges):
        # Equal-width bins give the same templates at any position and width,
        # in units of the bin width.
        unit = torch.arange(edges.shape[1], dtype=edges.dtype, device=edges.device)
        index, weight = template_windows(unit[None, :], reach, width)
        index = index.expand(batch, -1, -1)
    else:
        index, weight = template_windows(edges, reach, width)
    return index, weight


def z_from_windows(
    counts: torch.Tensor,
    background: torch.Tensor,
    index: torch.Tensor,
    weight: torch.Tensor,
    smoothing: float = 0.0,
) -> torch.Tensor:
    """Return Z per bin for template windows from :func:`template_windows`.

    ``index`` and ``weight`` have shape (batch, n_bins, K); see
    :func:`likelihood_ratio_z` for ``smoothing``.
    """
    batch = counts.shape[0]
    n_bins, k = index.shape[1], index.shape[2]
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


def _all_uniform(edges: torch.Tensor) -> bool:
    """Return whether every row of ``edges`` has bins of one width."""
    widths = edges[:, 1:] - edges[:, :-1]
    first = widths[:, :1]
    return bool(((widths - first).abs() <= 1e-9 * first.abs()).all())


def _fit_signal_strength(
    n: torch.Tensor,
    b: torch.Tensor,
    s: torch.Tensor,
    max_iterations: int = 30,
    tolerance: float = 1e-20,
) -> torch.Tensor:
    """Return mu_hat of shape (batch, n_bins) for windows of shape (batch, n_bins, K).

    ln L(mu) is concave, so Newton steps safeguarded by bisection inside the
    bracket [low, high] converge. A row stops once its Newton decrement
    grad^2 / |hess|, which approximates the error of q0 at the current mu, is
    below ``tolerance``: the error of Z is then below sqrt(tolerance). Later
    iterations run only on the rows still moving, which are few after four
    steps. Rows whose maximum lies on the lower bound of mu (windows without
    events, deficits next to empty bins) get that bound without iterating.
    """
    batch, n_bins, k = n.shape
    n = n.reshape(-1, k)
    b = b.reshape(-1, k)
    s = s.expand(batch, n_bins, k).reshape(-1, k)
    active = s > 0
    ratio = torch.where(active, b / torch.where(active, s, 1.0), 1e300)
    low = -ratio.min(dim=1).values
    high = n.sum(dim=1).clamp(min=0.0) + 1.0
    mu = ((n - b) * s).sum(dim=1) / (s * s).sum(dim=1)
    mu = torch.minimum(torch.maximum(mu, 0.5 * low), 0.5 * high)
    # Inactive template bins have s = 0, so n s contributes nothing there.
    ns = n * s
    # At mu = low the expectation b + mu s reaches 0 in the bins of the
    # smallest b / s. Without events there, ln L stays finite at the bound, and
    # when it still rises towards the bound (grad <= 0 at low) the maximum is
    # the bound itself.
    bound_bin = active & (ratio <= -low[:, None])
    expected_low = torch.where(bound_bin, 1.0, b + low[:, None] * s)
    grad_low = torch.where(bound_bin, 0.0, ns / expected_low).sum(dim=1) - 1.0
    on_bound = ~(bound_bin & (n > 0)).any(dim=1) & (grad_low <= 0)
    result = torch.where(on_bound, low, mu)
    keep = ~on_bound
    rows = torch.arange(mu.shape[0], device=mu.device)[keep]
    mu, low, high = mu[keep], low[keep], high[keep]
    n, b, s, ns = n[keep], b[keep], s[keep], ns[keep]
    finished = torch.zeros_like(mu, dtype=torch.bool)
    for _ in range(max_iterations):
        if rows.numel() == 0:
            break
        expected = b + mu[:, None] * s
        safe = torch.where(expected > 0, expected, 1.0)
        ratio = ns / safe
        grad = ratio.sum(dim=1) - 1.0
        hess = -(ratio * s / safe).sum(dim=1)
        low = torch.where(grad > 0, mu, low)
        high = torch.where(grad <= 0, mu, high)
        newton = hess < 0
        step = torch.where(newton, -grad / torch.where(newton, hess, -1.0), 0.0)
        candidate = mu + step
        inside = newton & (candidate > low) & (candidate < high)
        # A converged row keeps its Newton point, or its current mu when the
        # step is too small to leave the collapsed bracket, because a bisection
        # step there would move it away from the maximum.
        done = newton & (grad * grad <= -tolerance * hess)
        mu = torch.where(inside, candidate, torch.where(done, mu, 0.5 * (low + high)))
        finished = finished | done
        # Dropping rows copies nine arrays, so it waits until a quarter of the
        # rows are done. Until then a done row goes on with Newton steps, which
        # keep it at the maximum.
        count = int(finished.sum())
        if count > 0 and (4 * count >= rows.numel() or count == rows.numel()):
            result[rows[finished]] = mu[finished]
            keep = ~finished
            rows = rows[keep]
            mu, low, high = mu[keep], low[keep], high[keep]
            n, b, s, ns = n[keep], b[keep], s[keep], ns[keep]
            finished = finished[keep]
    if rows.numel() > 0:
        result[rows] = mu
    return result.reshape(batch, n_bins)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
