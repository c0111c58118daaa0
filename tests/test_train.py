"""Tests of the training loop: seeded, resumable, writes a usable model."""

import json

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
