"""Fixtures for the core tests."""

import numpy as np
import pytest

from ._corpus import TINY_LABELS, TINY_PRED_PROBS


@pytest.fixture
def tiny():
    return TINY_LABELS, TINY_PRED_PROBS


@pytest.fixture
def rng():
    return np.random.default_rng(0)
