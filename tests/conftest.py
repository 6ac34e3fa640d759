"""Shared fixtures: a clean PostgreSQL store when .ci/run has started PostgreSQL; the tests' temporary folders
on the allow-list of files an input file may name (adapter and level tables written by tests)."""

import os
import re
import zlib

import pytest

from meterlab.records.keys import KEY_FILE_ENV
from meterlab.records.store import Base, Store
from meterlab.yamlio import INPUT_DIRS_ENV

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


@pytest.fixture(autouse=True)
def _temporary_files_may_be_named(monkeypatch, tmp_path_factory):
    monkeypatch.setenv(INPUT_DIRS_ENV, str(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="session", autouse=True)
def _records_key_of_the_test_session(tmp_path_factory):
    """The records key outside the user's configuration: one key file for the whole session (set before any
    module's fixtures write records)."""
    os.environ[KEY_FILE_ENV] = str(tmp_path_factory.getbasetemp() / "records.key")


def _inflated(pdf: bytes) -> bytes:
    """The PDF with its Flate-compressed streams (content, object and CMap streams) inflated."""
    parts = [pdf]
    for match in re.finditer(rb"stream\r?\n", pdf):
        end = pdf.find(b"endstream", match.end())
        try:
            parts.append(zlib.decompressobj().decompress(pdf[match.end():end]))
        except zlib.error:
            continue  # not a Flate stream
    return b"\n".join(parts)


def extract_pdf_text(pdf: bytes) -> str:
    """The text WeasyPrint drew, without a PDF library (pypdf is not a dependency): its text operators name
    glyphs by hex id, and each font's ToUnicode CMap maps ids to characters. The fonts' maps are merged, which is
    right for the report's DejaVu faces (same glyph ids in regular and bold); a glyph drawn with no mapping is '?'."""
    objects = _inflated(pdf)
    glyphs: dict[str, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", objects, re.S):
        for gid, code in re.findall(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            glyphs[gid.decode().lower()] = bytes.fromhex(code.decode()).decode("utf-16-be")
    lines = []
    for array in re.findall(rb"\[((?:<[0-9a-fA-F]*>|[-\d.\s])*)\]\s*TJ", objects):
        text = "".join(glyphs.get(h[i:i + 4].lower(), "?") for h in re.findall(rb"<([0-9a-fA-F]*)>", array)
                       for h in [h.decode()] for i in range(0, len(h), 4))
        lines.append(text)
    return "\n".join(lines)


@pytest.fixture
def pdf_text():
    """`pdf_text(pdf_bytes)`: the text a WeasyPrint PDF shows (extract_pdf_text)."""
    return extract_pdf_text
