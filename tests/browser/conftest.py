"""JupyterLab started for the test on 127.0.0.1, and Debian's Chromium driven by Playwright.

The lessons run in the ci profile against the run cache that `make lessons` filled, so each opens, runs
and answers in seconds. Screenshots and the dashboards' latencies go to build/browser/.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "browser"
CHROMIUM = "/usr/bin/chromium"
LAB_SETTINGS = {
    # every cell rendered (JupyterLab draws only the visible ones by default), and no news pop-up
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving copies of the lessons; stopped after the tests."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no browser at {CHROMIUM}: apt-get install chromium")
    lessons, settings = tmp_path_factory.mktemp("lessons"), tmp_path_factory.mktemp("settings")
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy(notebook, lessons)
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "LTKIT_PROFILE": "ci", "LTKIT_THREADS": "1"}
    env.pop("TQDM_DISABLE", None)  # the lessons' progress bars are part of what a student sees
    command = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={lessons}",
        f"--LabApp.user_settings_dir={settings}",
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    log = open(OUT / f"jupyterlab-{port}.log", "w")  # two lanes may each run one
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"JupyterLab did not start; see {log.name}")
                time.sleep(0.5)
        yield dict(url=f"http://127.0.0.1:{port}", token=token)
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="session")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1024, "height": 768})  # a classroom projector
    yield page
    page.close()
