"""Shared fixtures."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "bumpnet_root"
# Source files that change what a trained model file contains.
_MODEL_SOURCES = ("model.py", "train.py", "synthetic.py", "export.py")


def pytest_configure(config: pytest.Config) -> None:
    # torch 2.13 deprecates torch.jit.script, save and load, which the model
    # files still use. The test settings turn every warning into an error.
    config.addinivalue_line(
        "filterwarnings", r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning"
    )


@pytest.fixture(scope="session")
def model_path(request: pytest.FixtureRequest) -> Path:
    """Return the shipped default model, or a tiny model trained for the tests.

    The tiny model (20 steps) is cached in pytest's cache directory, keyed by
    the training sources, so later sessions skip the training. It finds
    nothing real: tests that judge physics results need the shipped model.
    """
    from bumpnet_root.api import DEFAULT_MODEL_PATH
    from bumpnet_root.train import TrainingConfig, train

    if DEFAULT_MODEL_PATH.is_file():
        return DEFAULT_MODEL_PATH
    digest = hashlib.sha256()
    for name in _MODEL_SOURCES:
        digest.update((PACKAGE_DIR / name).read_bytes())
    cache_dir = request.config.cache.mkdir(f"tiny-model-{digest.hexdigest()[:16]}")
    path = cache_dir / "model.pt"
    if not path.is_file():
        config = TrainingConfig(
            steps=20, validation_histograms=50, background_only_histograms=50
        )
        train(config, cache_dir)
    return path
