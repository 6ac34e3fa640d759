"""The console in a real browser (Playwright driving Debian's chromium): a metrologist logs in, finds the run,
reads its error curve and signs it off; QA releases it and downloads the PDF report. Screenshots of the pages
go to out/console-screenshots/ (not committed) for a person to look at."""

import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import expect, sync_playwright

from meterlab.web.app import create_app

from .conftest import PASSWORDS, REPO

SCREENSHOTS = REPO / "out" / "console-screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's; Playwright's own download is not reachable
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]  # as root in CI; a container's /dev/shm may be small


@pytest.fixture
def console(lab, monkeypatch):
    monkeypatch.chdir(REPO)  # the console offers the lab's files from its working directory
    store, run_id = lab
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store, calibration_dir=REPO / "calibration"), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the console did not start"
    yield f"http://127.0.0.1:{port}", run_id
    server.should_exit = True
    thread.join(timeout=10)


def _log_in(page, base, name):
    page.goto(f"{base}/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()


def test_a_metrologist_signs_in_the_browser_and_qa_releases_and_downloads_the_report(console, tmp_path):
    base, run_id = console
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/runs/{run_id}")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()  # no page without a login
        _log_in(page, base, "mira")
        page.get_by_placeholder("meter serial").fill("WM15-2026-0002")
        page.get_by_role("button", name="Search").click()
        page.screenshot(path=SCREENSHOTS / "runs.png", full_page=True)
        page.get_by_role("link", name=run_id).click()
        expect(page.get_by_role("heading", name=f"Run {run_id}")).to_be_visible()
        expect(page.get_by_alt_text("error curve")).to_be_visible()
        expect(page.get_by_text("still needs metrologist and qa")).to_be_visible()
        page.get_by_label("Comment").fill("budgets and curve reviewed")
        page.get_by_role("button", name="Sign off").click()
        expect(page.get_by_text("Signed off as metrologist.")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "run.png", full_page=True)
        page.get_by_role("button", name="Log out").click()

        _log_in(page, base, "quinn")
        page.goto(f"{base}/runs/{run_id}")
        expect(page.get_by_text("still needs qa")).to_be_visible()
        page.get_by_role("button", name="Sign off").click()
        expect(page.get_by_text("released")).to_be_visible()
        with page.expect_download() as download:
            page.get_by_role("link", name="PDF").click()
        pdf = tmp_path / "report.pdf"
        download.value.save_as(pdf)
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
        page.goto(f"{base}/records")
        expect(page.get_by_text("Intact")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "records.png", full_page=True)
        page.goto(f"{base}/calibration")
        expect(page.get_by_role("cell", name="prt-01", exact=True)).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "calibration.png", full_page=True)
        browser.close()


def test_a_technician_starts_a_run_answers_its_prompt_pauses_resumes_and_it_completes(console):
    base, _ = console
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        _log_in(page, base, "tina")
        page.get_by_role("link", name="Start a run").click()
        page.locator("select[name=procedure]").select_option("procedures/r49/intrinsic-error.yaml")
        page.locator("select[name=meter]").select_option(["examples/meters/dn15-class2.yaml",
                                                   "examples/meters/dn15-class2-sample2.yaml"])
        page.locator("select[name=bench]").select_option("instruments/sim.yaml")
        page.locator("input[name=clock_scale]").fill("200")  # a browser beside the simulated lab loads the machine
        page.get_by_role("button", name="Start").click()
        expect(page.get_by_text("Mount the meters under test")).to_be_visible(timeout=60_000)
        page.screenshot(path=SCREENSHOTS / "live-question.png", full_page=True)
        page.get_by_role("button", name="Done / yes").click()
        expect(page.locator("#state")).to_have_text("running", timeout=60_000)
        expect(page.locator("#doing")).to_contain_text(" of 32: ", timeout=60_000)  # the live panel
        page.get_by_role("button", name="Pause").click()
        expect(page.locator("#state")).to_have_text("paused", timeout=60_000)
        page.get_by_role("button", name="Resume").click()
        expect(page.locator("#state")).to_contain_text(re.compile("completed|failed|aborted"), timeout=240_000)
        expect(page.locator("#state")).to_have_text("completed")
        expect(page.get_by_role("link", name="Results and sign-off")).to_be_visible()
        page.wait_for_function("() => { const i = document.getElementById('curve');"
                               " return i.complete && i.naturalWidth > 0 && i.src.includes('final=1'); }")  # filled in
        page.screenshot(path=SCREENSHOTS / "live-completed.png", full_page=True)
        page.get_by_role("link", name="Results and sign-off").click()
        expect(page.get_by_text("still needs metrologist and qa")).to_be_visible()
        browser.close()
