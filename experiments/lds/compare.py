"""Paired LDS differences between any two methods of a finished run (results.json), beyond the table's compare_to.

    .venv/bin/python experiments/lds/compare.py experiments/lds/out/small olab-5:traker-5 olab-5:olab-1

Each PAIR a:b prints mean(LDS_a − LDS_b) over the targets defined in both, with the paired bootstrap interval
(olab.metrics.paired_difference, the same resamples and seed as run.py uses for the table's column).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from olab.errors import exit_on_error
from olab.io import read_json
from olab.metrics import LDSResult, paired_difference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="The run's output folder (holds results.json).")
    parser.add_argument("pairs", nargs="+", help="a:b, two method names: prints LDS_a − LDS_b.")
    args = parser.parse_args(argv)
    results = args.out / "results.json"
    if not results.is_file():
        parser.error(f"{results} does not exist: OUT is the folder a finished `run.py --out OUT` wrote")
    data = read_json(results)
    conf, boot = data["confidence"], data["config"]["bootstrap"]
    rows = {r["name"]: LDSResult.from_dict(r) for r in data["methods"]}
    for pair in args.pairs:
        a, _, b = pair.partition(":")
        missing = [n for n in (a, b) if n not in rows]
        if missing:
            parser.error(f"{missing} not among the methods {sorted(rows)}")
        diff, low, high = paired_difference(rows[a], rows[b], bootstrap=boot, confidence=conf)
        print(f"{a} − {b}: {diff:+.4f} [{low:+.4f}, {high:+.4f}] ({conf:.0%} paired bootstrap, {boot} resamples)")
    return 0


if __name__ == "__main__":
    with exit_on_error():
        sys.exit(main())
