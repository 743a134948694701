"""Easy-VQA accuracy with yes/no questions split by attribute (color, shape) and presence in the image.

About 90% of easy-VQA's color yes/no questions ask about an absent color, so overall yes/no accuracy hides
whether a model binds the question's color to the image. Reads finished evaluation JSONs (`seltda
evaluate`, a run's `eval/*.json`) and prints one row per file:

    python benchmarks/easyvqa_yesno.py runs/v2/full-data/eval.json runs/v2/curve/fraction-0.02/seed-0/eval/*
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seltda.demo import easyvqa


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", type=Path, nargs="+", help="evaluation JSONs on easy-VQA's test split")
    args = parser.parse_args()
    records = easyvqa.load_split("test")
    rows = {
        path: easyvqa.accuracy_by_case(records, json.loads(path.read_text())["per_question"])
        for path in args.results
    }
    cases = sorted({case for row in rows.values() for case in row})
    print("| result | " + " | ".join(cases) + " |")
    print("|---|" + "---|" * len(cases))
    for path, row in rows.items():
        cells = [f"{row[c]['accuracy']:.1f}" if c in row else "-" for c in cases]
        print(f"| {path} | " + " | ".join(cells) + " |")
    counts = next(iter(rows.values()))
    print("questions: " + ", ".join(f"{c} {counts[c]['n']}" for c in cases if c in counts))


if __name__ == "__main__":
    main()
