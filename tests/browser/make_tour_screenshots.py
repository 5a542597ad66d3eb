"""Screenshots of the notebooks and apps for the README tour, into docs/screenshots/.

    .venv/bin/python tests/browser/make_tour_screenshots.py [--size small] [--only 01_datanet ...]

Runs each notebook top to bottom in a real JupyterLab (and each marimo app under `marimo run`) in headless
Chromium, exactly as the browser tests do, then photographs the widgets. At the default size (small) this
takes a few minutes per notebook on a laptop CPU.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    NOTEBOOKS,
    ROOT,
    JupyterLab,
    free_port,
    server,
    server_env,
    write_lab_settings,
)

OUT = ROOT / "docs" / "screenshots"
# notebook -> [(what to photograph, file stem)]; a string is a CSS selector, a tuple (selector, text inside)
NOTEBOOK_SHOTS = {
    "01_datanet.ipynb": [(".olab-datanet", "01_datanet")],
    "02_finetune.ipynb": [(".olab-training", "02_finetune")],
    "03_attribution.ipynb": [
        (".olab-attribution", "03_attribution_explorer"),
        (".olab-leaderboard", "03_leaderboard"),
        ((".jp-OutputArea-output", "Self-influence finds"), "03_self_influence"),
    ],
    "04_publish.ipynb": [(".olab-publish", "04_publish")],
}
APP_SHOTS = {"datanet_explorer.py": "05_datanet_explorer", "attribution_playground.py": "06_attribution_playground"}


def wait_until_done(page, lab: JupyterLab, notebook: str, timeout_s: float = 1800) -> None:
    """Wait until the code cells have run (the last one shows a number, none shows [*]) and the kernel is idle.
    Cells scrolled out of view may render an empty prompt (JupyterLab's windowed notebook)."""
    deadline, shown = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        prompts = [p.strip() for p in page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()]
        ran = bool(prompts) and prompts[-1][1:-2].isdigit() and not any("*" in p for p in prompts)
        if ran and lab.kernel_state(notebook) == "idle":
            return
        if prompts != shown:
            print(f"  {notebook}: {' '.join(prompts)}", flush=True)
            shown = prompts
        time.sleep(2)
    page.screenshot(path=str(OUT / f"TIMEOUT-{notebook}.png"))
    raise TimeoutError(f"{notebook} did not finish within {timeout_s} s")


def photograph(page, target, stem: str) -> None:
    locator = page.locator(target[0], has_text=target[1]) if isinstance(target, tuple) else page.locator(target)
    locator = locator.first
    locator.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.mouse.move(0, 0)  # no hover effects (plotly's mode bar)
    page.wait_for_timeout(1500)  # plotly transitions
    locator.screenshot(path=str(OUT / f"{stem}.png"), animations="disabled", scale="css")
    print(f"wrote {OUT / stem}.png", flush=True)


def notebooks(context, size: str, workdir: Path, only: set[str]) -> None:
    home, base = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    root = base / "notebooks"  # a copy of the repo's layout: the notebooks read ../configs at size full
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns("*.py", "__pycache__", ".ipynb_checkpoints"))
    shutil.copytree(ROOT / "configs", base / "configs")
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}"]
    cmd += [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.news_url=None"]
    cmd += ["--LabApp.extension_manager=readonly", "--allow-root"]
    write_lab_settings(home / "lab-settings")
    env = server_env(home) | {"OLAB_NOTEBOOK_SIZE": size, "OLAB_NOTEBOOK_DIR": str(workdir), "OLAB_AGNEWS_DIR": ""}
    url = f"http://127.0.0.1:{port}"
    with server(cmd, f"{url}/api/status?token={token}", home / "jupyterlab.log", root, env):
        lab = JupyterLab(url=url, token=token, root=root)
        for name, shots in NOTEBOOK_SHOTS.items():
            if only and Path(name).stem not in only:
                continue
            page = context.new_page()
            lab.open(page, name)
            page.keyboard.press("Control+b")  # hide the file browser: more room for the notebook
            lab.run_all(page)
            wait_until_done(page, lab, name)
            for target, stem in shots:
                photograph(page, target, stem)
            page.close()


def apps(context, size: str, workdir: Path, only: set[str]) -> None:
    for name, stem in APP_SHOTS.items():
        if only and Path(name).stem not in only:
            continue
        home, port = Path(tempfile.mkdtemp()), free_port()
        cmd = [sys.executable, "-m", "marimo", "run", str(NOTEBOOKS / name), "--headless", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--no-token", "--no-sandbox"]
        env = server_env(home) | {"OLAB_NOTEBOOK_SIZE": size, "OLAB_NOTEBOOK_DIR": str(workdir)}
        url = f"http://127.0.0.1:{port}"
        with server(cmd, f"{url}/health", home / "marimo.log", NOTEBOOKS, env):
            page = context.new_page()
            page.goto(url)
            page.locator(".olab-widget").first.wait_for(timeout=3_600_000)
            page.wait_for_timeout(3000)
            clip = {"x": 0, "y": 0, "width": 1200, "height": 1000}  # the controls and the first views
            page.screenshot(path=str(OUT / f"{stem}.png"), animations="disabled", scale="css", clip=clip)
            print(f"wrote {OUT / stem}.png", flush=True)
            page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small", choices=["tiny", "small", "full"])
    parser.add_argument("--only", nargs="*", default=[], help="notebook/app stems, e.g. 01_datanet datanet_explorer")
    parser.add_argument("--workdir", type=Path, default=None, help="work directory (default: a fresh temp dir)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="olab-tour-"))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            tempfile.mkdtemp(),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1200, "height": 1400},
        )
        try:
            notebooks(context, args.size, workdir, set(args.only))
            apps(context, args.size, workdir, set(args.only))
        finally:
            context.close()


if __name__ == "__main__":
    main()
