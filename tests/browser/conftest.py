"""Real-browser fixtures: headless Debian Chromium through Playwright, JupyterLab and `marimo run` on loopback.

Servers bind 127.0.0.1 on a free port, are polled until they answer (bounded), and are always stopped
(their whole process group). Screenshots go to test-artifacts/browser/ (git-ignored) and are kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("OLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 120
NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK_ENV = {"OLAB_NOTEBOOK_SIZE": "tiny", "OLAB_AGNEWS_DIR": ""}  # kernels and apps run at the smallest size


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is a browser test, run in one xdist group (one JupyterLab, one Chromium)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = START_TIMEOUT_S) -> None:
    """Poll `url` until it answers 200, the server exits, or `timeout_s` passes (then fail with its log)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} before answering {url}:\n{log.read_text()[-4000:]}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(url, timeout=5) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout_s} s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def server(cmd: list[str], ready_url: str, log: Path, cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """Start `cmd` in its own process group, wait until `ready_url` answers, and stop the group afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_http(ready_url, proc, log)
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (kernels included), SIGKILL whatever is left after 15 s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):  # children that outlived the leader
        os.killpg(proc.pid, signal.SIGKILL)


def server_env(home: Path) -> dict[str, str]:
    """The test's environment with every Jupyter/marimo state directory inside `home` (nothing leaks out)."""
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
        IPYTHONDIR=str(home / "ipython"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_STATE_HOME=str(home / "state"),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="session")
def chromium_context(tmp_path_factory: pytest.TempPathFactory):
    """One headless Chromium (Debian's, fresh profile) for the session; tests open pages in it."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set OLAB_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Assertions wait too: an answer from Python (a kernel still running the cells before it) can take longer than
    # Playwright's default 5 s on a busy 2-core CI machine. A test that waits for a first run sets its own, longer.
    sync_api.expect.set_options(timeout=30_000)
    for stale in ARTIFACTS.glob("FAILED-*.png"):  # from an earlier session
        stale.unlink()
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(chromium_context, request: pytest.FixtureRequest):
    """A fresh page; its console errors are collected in `page.console_errors`; closed after the test."""
    pg = chromium_context.new_page()
    pg.set_default_timeout(60_000)
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.console_errors = errors  # type: ignore[attr-defined]
    yield pg
    outcome = getattr(request.node, "rep_call", None)
    if outcome is not None and outcome.failed:
        save_screenshot(pg, f"FAILED-{request.node.name}")
    pg.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def save_screenshot(page, name: str, locator=None) -> Path:
    """Save a PNG of the page (or of one element) under test-artifacts/browser/ and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    (locator or page).screenshot(path=str(path))
    return path


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """`screenshot(page, name, locator=None)`: a PNG kept under test-artifacts/browser/."""
    return save_screenshot


@dataclass
class JupyterLab:
    url: str
    token: str
    root: Path

    def copy_notebook(self, name: str) -> None:
        """Copy notebooks/<name> and the configs it reads (notebooks/*.yaml) into the server's root."""
        shutil.copy(NOTEBOOKS / name, self.root / name)
        for config in NOTEBOOKS.glob("*.yaml"):
            shutil.copy(config, self.root / config.name)

    def open(self, page, notebook: str, timeout_s: float = 120) -> None:
        """Open `notebook` (a path under root) in JupyterLab and wait until its kernel has started and is idle."""
        page.goto(f"{self.url}/lab/tree/{notebook}?reset&token={self.token}")  # reset: no tabs from earlier pages
        page.locator(".jp-NotebookPanel:visible .jp-Notebook").wait_for()
        deadline = time.monotonic() + timeout_s
        while self.kernel_state(notebook) != "idle":
            if time.monotonic() > deadline:
                pytest.fail(f"the kernel of {notebook} did not become idle within {timeout_s} s")
            time.sleep(0.5)
        page.locator(".jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()

    def kernel_state(self, notebook: str) -> str | None:
        """The execution state of `notebook`'s kernel, from the server's sessions API (None: no session yet)."""
        with urllib.request.urlopen(f"{self.url}/api/sessions?token={self.token}", timeout=10) as response:
            sessions = json.load(response)
        for s in sessions:
            if s.get("path") == notebook and s.get("kernel"):
                return s["kernel"].get("execution_state")
        return None

    def run_all(self, page) -> None:
        """Run > Run All Cells, through the menu a user clicks."""
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


LAB_SETTINGS = {
    # start the notebook's kernel without asking, and no news prompt (the machine may be offline)
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}


def write_lab_settings(settings_dir: Path) -> None:
    for name, values in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """JupyterLab on 127.0.0.1:<free port> with a random token, serving a temp root dir; stopped at the end."""
    root = tmp_path_factory.mktemp("lab-root")
    home = tmp_path_factory.mktemp("lab-home")
    port, token = free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",  # no news pop-up and no update check: the machine may be offline
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # no PyPI queries
    ]
    if os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    url = f"http://127.0.0.1:{port}"
    write_lab_settings(home / "lab-settings")
    env = server_env(home) | NOTEBOOK_ENV | {"OLAB_NOTEBOOK_DIR": str(tmp_path_factory.mktemp("lab-work"))}
    with server(cmd, f"{url}/api/status?token={token}", home / "jupyterlab.log", root, env):
        yield JupyterLab(url=url, token=token, root=root)


@pytest.fixture
def marimo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Path], str]]:
    """`start(app.py) -> url`: `marimo run` the app on loopback; every app started is stopped after the test."""
    stack = contextlib.ExitStack()

    def start(app: Path, *args: str) -> str:
        home = tmp_path_factory.mktemp("marimo-home")
        env = server_env(home) | NOTEBOOK_ENV | {"OLAB_NOTEBOOK_DIR": str(home / "work")}
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "marimo",
            "run",
            str(app),
            "--headless",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        cmd += ["--no-token", "--no-sandbox", "--session-ttl", "5", *args]
        url = f"http://127.0.0.1:{port}"
        stack.enter_context(server(cmd, f"{url}/health", home / "marimo.log", app.parent, env))
        return url

    with stack:
        yield start
