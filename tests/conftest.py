"""Shared fixtures: a clean PostgreSQL store when .ci/run has started PostgreSQL; the tests' temporary folders
on the allow-list of files an input file may name (adapter and level tables written by tests)."""

import functools
import io
import os

import pytest
from sqlalchemy import create_engine, text

from meterlab.records.keys import KEY_FILE_ENV
from meterlab.records.store import Base, Store
from meterlab.yamlio import INPUT_DIRS_ENV

POSTGRES_URL = os.environ.get("METERLAB_TEST_POSTGRES_URL")


@functools.cache  # the schema is made once per worker, not for every test that asks for the store
def _worker_url(url: str) -> str:
    """The database for this test process: under pytest-xdist (make test runs a worker per core) each worker has a
    schema of its own in the one test database, so that emptying it never pulls tables from under another's test.
    The schema goes into the URL, which bench processes started by a test are given as it is."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return url
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{worker}"'))
    engine.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{worker}"


@pytest.fixture
def postgres_store():
    """A Store on an emptied PostgreSQL database (.ci/run starts the server and sets the URL)."""
    if POSTGRES_URL is None:
        pytest.skip("METERLAB_TEST_POSTGRES_URL not set: .ci/run starts PostgreSQL and sets it")
    store = Store(_worker_url(POSTGRES_URL))
    Base.metadata.drop_all(store.engine)
    Base.metadata.create_all(store.engine)
    yield store
    store.close()


@pytest.fixture(autouse=True)
def _temporary_files_may_be_named(monkeypatch, tmp_path_factory):
    monkeypatch.setenv(INPUT_DIRS_ENV, str(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="session", autouse=True)
def _records_key_of_the_test_session(tmp_path_factory):
    """The records key outside the user's configuration: one key file for the whole session (set before any
    module's fixtures write records)."""
    os.environ[KEY_FILE_ENV] = str(tmp_path_factory.getbasetemp() / "records.key")


def extract_pdf_text(pdf: bytes) -> str:
    """The text a PDF shows, page after page (pypdf)."""
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture
def pdf_text():
    """`pdf_text(pdf_bytes)`: the text a WeasyPrint PDF shows (extract_pdf_text)."""
    return extract_pdf_text
