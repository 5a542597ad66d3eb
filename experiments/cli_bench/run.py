"""CLI start-up benchmark: how long `olab --help`, a subcommand's help, shell completion and checking a
config take, as a ratio to starting a bare interpreter (`python -c pass`) measured side by side.

    .venv/bin/python experiments/cli_bench/run.py                 # best of 5 interleaved rounds
    .venv/bin/python experiments/cli_bench/run.py --repeats 1

Each command runs in a fresh process, as a user's shell starts it. Rounds interleave the commands, so a
burst of load on a shared machine hits them alike. Results go to out/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from olab.errors import exit_on_error

OUT = Path(__file__).parent / "out"
REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
# what the `olab` console script runs (named `olab`, so click's completion variable is _OLAB_COMPLETE)
OLAB = [PY, "-c", "import sys; sys.argv[0] = 'olab'; from olab.cli import main; main()"]

# name -> (argv, extra environment)
COMMANDS: dict[str, tuple[list[str], dict[str, str]]] = {
    "python -c pass": ([PY, "-c", "pass"], {}),
    "olab --help": ([*OLAB, "--help"], {}),
    "olab datanet build --help": ([*OLAB, "datanet", "build", "--help"], {}),
    "olab chain up --help": ([*OLAB, "chain", "up", "--help"], {}),
    "olab <TAB> (bash completion)": (
        OLAB,
        {"_OLAB_COMPLETE": "bash_complete", "COMP_WORDS": "olab ", "COMP_CWORD": "1"},
    ),
    "validate configs/quickstart.yaml": (
        [
            PY,
            "-c",
            f"from olab.pipeline.config import load_config; load_config({str(REPO / 'configs/quickstart.yaml')!r})",
        ],
        {},
    ),
}


def time_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="Interleaved rounds; each command's best is kept.")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, (argv, env) in COMMANDS.items():
            times[name].append(time_once(argv, env))
    base = min(times["python -c pass"])
    results = {name: {"seconds": min(t), "ratio_to_python": min(t) / base} for name, t in times.items()}
    print(f"{'command':<36} {'best s':>8} {'/ python -c pass':>17}")
    for name, r in results.items():
        print(f"{name:<36} {r['seconds']:>8.3f} {r['ratio_to_python']:>16.1f}x")
    OUT.mkdir(exist_ok=True)
    (OUT / "results.json").write_text(json.dumps({"repeats": args.repeats, "results": results}, indent=2) + "\n")
    return results


if __name__ == "__main__":
    with exit_on_error():
        main()
