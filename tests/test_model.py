"""Tests of the network module, TorchScript export and the synthetic data."""

import json

import numpy as np
import pytest
import torch

from bumpnet_root.errors import ModelNotFoundError
from bumpnet_root.export import load_torchscript, save_torchscript
from bumpnet_root.model import BumpNetModule
from bumpnet_root.significance import asimov_significance
from bumpnet_root.synthetic import SyntheticConfig, asimov_yield, generate_batch


def _inputs(n_bins, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    background = np.tile(np.geomspace(5000, 5, n_bins), (batch, 1))
    counts = torch.tensor(rng.poisson(background).astype(float))
    edges = torch.tensor(np.tile(np.linspace(100, 1000, n_bins + 1), (batch, 1)))
    return counts, edges


def test_module_accepts_any_number_of_bins():
    module = BumpNetModule(channels=8).eval()
    for n_bins in (1, 7, 30, 151, 1000):
        counts, edges = _inputs(n_bins)
        z, background = module(counts, edges)
        assert z.shape == (3, n_bins)
        assert background.shape == (3, n_bins)
        assert torch.all(torch.isfinite(z))
        assert torch.all(background > 0)


def test_untrained_module_returns_counts_as_background():
    # The output layer starts at zero, so b = n (clamped at 1e-3) and Z = 0.
    module = BumpNetModule(channels=8).eval()
    counts, edges = _inputs(40)
    with torch.no_grad():
        z, background = module(counts, edges)
    np.testing.assert_allclose(
        background.numpy(), counts.clamp(min=1e-3).numpy(), rtol=1e-9
    )
    assert float(z.abs().max()) < 1e-4


def test_torchscript_round_trip(tmp_path):
    torch.manual_seed(1)
    module = BumpNetModule(channels=8)
    # Give the output layer weights so the round trip compares non-trivial Z.
    torch.nn.init.normal_(module.head[-1].weight, std=0.3)
    module.eval()
    counts, edges = _inputs(50)
    expected_z, expected_b = module(counts, edges)
    path = tmp_path / "model.pt"
    save_torchscript(module, path, {"note": "round trip"})
    loaded, metadata = load_torchscript(path)
    z, background = loaded(counts, edges)
    assert metadata == {"note": "round trip"}
    torch.testing.assert_close(z, expected_z, rtol=0, atol=1e-10)
    torch.testing.assert_close(background, expected_b, rtol=0, atol=1e-10)
    assert not list(tmp_path.glob("*.tmp"))


def test_load_missing_and_damaged_model(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_torchscript(tmp_path / "absent.pt")
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"not a zip archive")
    with pytest.raises(ModelNotFoundError, match="cannot load"):
        load_torchscript(damaged)
    with pytest.raises(ModelNotFoundError, match="is a directory"):
        load_torchscript(tmp_path)


def test_synthetic_batches_are_seeded():
    first = generate_batch(np.random.default_rng(42), 16, 45)
    second = generate_batch(np.random.default_rng(42), 16, 45)
    np.testing.assert_array_equal(first.counts, second.counts)
    np.testing.assert_array_equal(first.background, second.background)


def test_synthetic_backgrounds_fall_and_stay_positive():
    batch = generate_batch(np.random.default_rng(7), 200, 60)
    assert np.all(batch.background > 0)
    assert np.all(np.diff(batch.background, axis=1) <= 1e-9 * batch.background[:, 1:])
    assert batch.counts.shape == (200, 60)
    assert np.all(batch.counts == np.round(batch.counts))


def test_signal_yield_reaches_target_asimov_z():
    config = SyntheticConfig(signal_fraction=1.0)
    batch = generate_batch(np.random.default_rng(3), 50, 40, config)
    for row in range(50):
        z = asimov_significance(batch.signal[row], batch.background[row])
        assert z == pytest.approx(batch.z_asimov[row], rel=1e-6)


def test_asimov_yield_monotone_targets():
    background = np.full((3, 20), 100.0)
    template = np.zeros((3, 20))
    template[:, 10] = 1.0
    yields = asimov_yield(background, template, np.array([1.0, 3.0, 5.0]))
    assert np.all(np.diff(yields) > 0)


def test_model_card_json_is_serialisable(tmp_path):
    module = BumpNetModule(channels=8)
    path = tmp_path / "m.pt"
    save_torchscript(module, path, {"validation": {"x": 1.5}})
    _, metadata = load_torchscript(path)
    assert json.loads(json.dumps(metadata)) == metadata


def _wide_bump_prediction():
    from bumpnet_root.api import BumpNet

    rng = np.random.default_rng(5)
    index = np.arange(80)
    background = 3000 * np.exp(-index / 20)
    signal = 350 * np.exp(-0.5 * ((index - 40) / 2.5) ** 2)
    counts = rng.poisson(background + signal).astype(float)
    edges = np.linspace(200.0, 600.0, 81)
    return BumpNet.load().evaluate([(counts, edges)], domain="full")[0]


def test_z_for_width_matches_label():
    from bumpnet_root.significance import local_significance

    prediction = _wide_bump_prediction()
    np.testing.assert_array_equal(prediction.z_for_width(1.0), prediction.z)
    h = prediction.histogram
    expected = local_significance(h.counts, prediction.background, h.edges, width=2.5)
    np.testing.assert_allclose(prediction.z_for_width(2.5), expected, atol=1e-9)


def test_best_width_finds_a_wide_signal():
    prediction = _wide_bump_prediction()
    z_best, width = prediction.best_width_z((1.0, 2.0, 3.0))
    assert np.all(z_best >= prediction.z - 1e-12)
    peak = int(np.argmax(z_best))
    assert abs(peak - 40) <= 2
    assert width[peak] > 1.0
    assert z_best[peak] > prediction.z_max + 0.5
    with pytest.raises(ValueError, match="at least one template width"):
        prediction.best_width_z(())


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda p: p.z_for_width(0), ValueError, "positive finite"),
        (lambda p: p.z_for_width(float("nan")), ValueError, "positive finite"),
        (lambda p: p.z_for_width("2"), TypeError, "number of bins"),
        (lambda p: p.z_for_width(None), TypeError, "number of bins"),
        (lambda p: p.z_for_width(True), TypeError, "number of bins"),
        (lambda p: p.best_width_z(2), TypeError, "sequence of template widths"),
        (lambda p: p.best_width_z("abc"), TypeError, "sequence of template widths"),
        (lambda p: p.best_width_z(None), TypeError, "sequence of template widths"),
        (lambda p: p.best_width_z((1.0, -2.0)), ValueError, "positive finite"),
    ],
)
def test_template_width_rejects_invalid(call, error, message):
    with pytest.raises(error, match=message):
        call(_wide_bump_prediction())


def test_evaluate_rejects_bare_counts_edges_pair():
    from bumpnet_root.api import BumpNet

    counts = np.random.default_rng(2).poisson(np.geomspace(1e3, 10, 50)).astype(float)
    edges = np.linspace(0.0, 1.0, 51)
    net = BumpNet.load()
    with pytest.raises(TypeError, match=r"pass \[\(counts, edges\)\]"):
        net.evaluate((counts, edges))
    assert len(net.evaluate([(counts, edges)])) == 1
    assert len(net.evaluate(((counts, edges), (counts, edges)))) == 2


@pytest.mark.parametrize("start, stop", [(50, 70), (5, 5), (-5, 10)])
def test_evaluate_rejects_invalid_scan_range(start, stop):
    from bumpnet_root.api import BumpNet
    from bumpnet_root.domain import ScanDomain

    counts = np.random.default_rng(3).poisson(np.geomspace(1e3, 10, 60)).astype(float)
    good = (counts, np.linspace(0.0, 1.0, 61))
    net = BumpNet.load()
    domains = [ScanDomain(start, stop), ScanDomain(0, 60)]
    results = net.evaluate([good, good], domains=domains)
    assert isinstance(results[0], ValueError)
    assert f"{start}:{stop}" in str(results[0])
    assert results[1].z.shape == (60,)
    with pytest.raises(ValueError, match="outside its 60 bins"):
        net.evaluate([good], domains=domains[:1], strict=True)


def test_evaluate_rejects_batch_size_zero():
    from bumpnet_root.api import BumpNet

    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        BumpNet.load().evaluate([], batch_size=0)


def test_empty_bins_after_cutoff_ignored():
    from bumpnet_root.api import BumpNet

    net = BumpNet.load()
    rng = np.random.default_rng(8)
    filled = rng.poisson(20000.0 * np.exp(-np.arange(25) / 15.0)).astype(float)
    edges = np.arange(61.0)
    cut = np.concatenate([filled, np.zeros(35)])
    with_zeros = net.evaluate([(cut, edges)])[0]
    trimmed = net.evaluate([(filled, edges[:26])])[0]
    assert (with_zeros.domain.start, with_zeros.domain.stop) == (0, 25)
    np.testing.assert_allclose(with_zeros.z[:25], trimmed.z, rtol=0, atol=1e-9)
    assert np.all(with_zeros.z[25:] == 0.0)
