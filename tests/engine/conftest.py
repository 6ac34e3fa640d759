"""Fixtures for end-to-end runs on the simulated lab."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def db(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'records.db'}"
