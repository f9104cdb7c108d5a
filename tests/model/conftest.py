"""Fixtures for the model-compiler tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.model.helpers import dataset


@pytest.fixture(scope="session")
def iris() -> tuple[NDArray[np.float64], NDArray[Any]]:
    return dataset("iris")
