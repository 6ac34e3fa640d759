"""Shared fixtures: a clean PostgreSQL store when .ci/run has started PostgreSQL."""

import os

import pytest

from meterlab.records.store import Base, Store

POSTGRES_URL = os.environ.get("METERLAB_TEST_POSTGRES_URL")


@pytest.fixture
def postgres_store():
    """A Store on an emptied PostgreSQL database (.ci/run starts the server and sets the URL)."""
    if POSTGRES_URL is None:
        pytest.skip("METERLAB_TEST_POSTGRES_URL not set: .ci/run starts PostgreSQL and sets it")
    store = Store(POSTGRES_URL)
    Base.metadata.drop_all(store.engine)
    Base.metadata.create_all(store.engine)
    yield store
    store.close()
