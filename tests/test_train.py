"""Tests of the training loop: seeded, resumable, writes a usable model."""

import json

import pytest
import torch

from bumpnet_root.api import BumpNet
from bumpnet_root.train import TrainingConfig, train

TINY = TrainingConfig(
    steps=4,
    batch_size=8,
    min_bins=30,
    max_bins=40,
    channels=8,
    checkpoint_every=2,
    validation_histograms=20,
    background_only_histograms=20,
)


def _state(path):
    module = torch.jit.load(str(path))
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_training_is_reproducible(tmp_path):
    train(TINY, tmp_path / "a")
    train(TINY, tmp_path / "b")
    first = _state(tmp_path / "a" / "model.pt")
    second = _state(tmp_path / "b" / "model.pt")
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def test_resume_continues_from_checkpoint(tmp_path):
    train(TINY, tmp_path / "full")
    # Keep only the step-2 checkpoint, then resume to step 4.
    partial = tmp_path / "partial"
    train(TINY.__class__(**{**TINY.__dict__, "steps": 2}), partial)
    resumed = train(TINY, partial, resume=True)
    assert resumed["training"]["steps"] == 4
    assert (partial / "checkpoints" / "step_0000004.pt").exists()


def test_model_card_and_model_load(tmp_path):
    card = train(TINY, tmp_path)
    on_disk = json.loads((tmp_path / "model_card.json").read_text())
    assert on_disk["validation"] == card["validation"]
    assert "Delta Z_max" in (tmp_path / "model_card.md").read_text()
    net = BumpNet.load(tmp_path / "model.pt")
    assert net.metadata["training"]["seed"] == TINY.seed
    z = net.predict(([50, 40, 33, 25, 20, 16, 12, 10, 8, 6, 5, 4], range(13)))
    assert z.shape == (12,)


def test_training_data_options():
    import dataclasses

    import numpy as np

    from bumpnet_root.synthetic import SyntheticConfig, generate_batch
    from bumpnet_root.train import draw_bins, synthetic_config

    default = TrainingConfig()
    assert synthetic_config(default) == SyntheticConfig()
    plain = generate_batch(np.random.default_rng(4), 64, 50)
    same = generate_batch(np.random.default_rng(4), 64, 50, synthetic_config(default))
    np.testing.assert_array_equal(plain.counts, same.counts)

    strong = SyntheticConfig(signal_fraction=1.0, strong_fraction=1.0)
    batch = generate_batch(np.random.default_rng(4), 64, 50, strong)
    assert np.all(batch.z_asimov >= 10.0)
    second = SyntheticConfig(signal_fraction=0.0, second_signal_fraction=1.0)
    batch = generate_batch(np.random.default_rng(4), 64, 50, second)
    assert np.all(batch.signal.sum(axis=1) > 0.0)
    assert np.all(np.isnan(batch.signal_center))
    margin = SyntheticConfig(signal_fraction=1.0, signal_margin_bins=2.0)
    batch = generate_batch(np.random.default_rng(4), 256, 50, margin)
    assert batch.signal_center.min() >= 2.0
    assert batch.signal_center.max() <= 48.0
    free = generate_batch(
        np.random.default_rng(4), 256, 50, SyntheticConfig(signal_fraction=1.0)
    )
    assert free.signal_center.min() < 2.0 or free.signal_center.max() > 48.0
    # The margin changes where signals sit, not the backgrounds.
    np.testing.assert_array_equal(batch.background, free.background)

    log_uniform = dataclasses.replace(default, log_uniform_bins=True)
    rng = np.random.default_rng(1)
    drawn = [draw_bins(rng, log_uniform) for _ in range(2000)]
    assert min(drawn) >= default.min_bins
    assert max(drawn) <= default.max_bins
    # Log-uniform puts 43 % of the draws below 60 bins, uniform 25 %.
    assert 0.38 < np.mean(np.array(drawn) < 60) < 0.48


def test_gp_scale_floor_smooths_short_histograms():
    import numpy as np

    from bumpnet_root.synthetic import gaussian_process_shapes

    t = (np.arange(30) + 0.5) / 30
    drop = np.full(200, 3.0)
    free = gaussian_process_shapes(np.random.default_rng(6), t, drop)
    floored = gaussian_process_shapes(np.random.default_rng(6), t, drop, 12.0)

    # The curvature of log f per bin measures how short the slope changes are.
    def curvature(shapes):
        return np.abs(np.diff(np.log(shapes), n=2, axis=1)).max(axis=1)

    assert np.median(curvature(floored)) < 0.85 * np.median(curvature(free))
    wide = (np.arange(200) + 0.5) / 200
    np.testing.assert_array_equal(
        gaussian_process_shapes(np.random.default_rng(6), wide, drop[:5], 12.0),
        gaussian_process_shapes(np.random.default_rng(6), wide, drop[:5]),
    )


def test_edge_weights_of_the_loss():
    import numpy as np

    from bumpnet_root.model import BumpNetModule
    from bumpnet_root.synthetic import generate_batch
    from bumpnet_root.train import _edge_weights, _weighted_mean, training_loss

    batch = generate_batch(np.random.default_rng(2), 16, 40)
    module = BumpNetModule(channels=8)
    tensors = [
        torch.from_numpy(a) for a in (batch.counts, batch.background, batch.edges)
    ]
    _, plain = training_loss(module, *tensors, 0.3)
    _, weighted = training_loss(module, *tensors, 0.3, edge_weight=2.0)
    assert weighted["loss_pull"] != plain["loss_pull"]
    weight = _edge_weights(40, 2.0, torch.float64)
    assert float(weight[0]) == float(weight[-1]) == 3.0
    assert float(weight[20]) == pytest.approx(1.0, abs=1e-3)
    values = torch.rand(3, 40, dtype=torch.float64)
    flat = _edge_weights(40, 0.0, torch.float64)
    assert float(_weighted_mean(values, flat)) == pytest.approx(float(values.mean()))
    edge_only = torch.zeros(3, 40, dtype=torch.float64)
    edge_only[:, 0] = 1.0
    assert float(_weighted_mean(edge_only, weight)) > float(edge_only.mean())


class _ScaledBackground(torch.nn.Module):
    """A stand-in estimator whose background is ``factor`` times the counts."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def log_background(self, counts: torch.Tensor) -> torch.Tensor:
        return torch.log1p(self.factor * counts)


def test_over_weight_charges_high_maxima():
    import numpy as np

    from bumpnet_root.synthetic import generate_batch
    from bumpnet_root.train import training_loss

    batch = generate_batch(np.random.default_rng(3), 16, 40)
    tensors = [
        torch.from_numpy(a) for a in (batch.counts, batch.background, batch.edges)
    ]
    # Half the counts as background: every histogram's largest Z is too high.
    low = _ScaledBackground(0.5)
    plain, _ = training_loss(low, *tensors, 0.3)
    charged, parts = training_loss(low, *tensors, 0.3, over_weight=2.0)
    assert parts["loss_over"] > 1.0
    assert float(charged - plain) == pytest.approx(2.0 * parts["loss_over"])
    # Twice the counts: Z is negative where there are events, below the label.
    high = _ScaledBackground(2.0)
    plain, _ = training_loss(high, *tensors, 0.3)
    charged, parts = training_loss(high, *tensors, 0.3, over_weight=2.0)
    assert parts["loss_over"] == 0.0
    assert float(charged) == float(plain)


def test_shipped_model_card_has_default_settings():
    import dataclasses

    from bumpnet_root.api import DEFAULT_MODEL_PATH
    from bumpnet_root.export import load_torchscript

    # `bumpnet train --out DIR` reproduces the shipped model only if the
    # defaults are the settings it was trained with. Settings added after the
    # model are absent from its card, and their defaults turn them off.
    card_path = DEFAULT_MODEL_PATH.parent / "model_card.json"
    card = json.loads(card_path.read_text())
    defaults = dataclasses.asdict(TrainingConfig())
    assert card["command"] == "bumpnet train --out DIR"
    for key, value in card["training"].items():
        assert defaults[key] == value, key
    _, metadata = load_torchscript(DEFAULT_MODEL_PATH)
    assert metadata["training"] == card["training"]
    assert metadata["validation"] == card["validation"]
