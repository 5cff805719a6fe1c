"""Tables for docs/benchmarks/quality.md ("Qualities on photos never tuned for") from
scripts/quality/eval.sh's results: for each setting, on the held-out pairs (photos not
used to choose any setting), its scores against the yardstick's (the reference's
settings through this engine) on the same pair, the median and the worst pair, and how
many pairs meet the issue's goal for it.

Usage: python scripts/quality/summary.py [RESULTS.tsv]
Environment: TUNED (photos the settings were chosen on, default "tubingen chelsea
coffee"), YARDSTICK (its label, default "reference"), GOALS (label:ratio pairs, default
"fine:1.0 draft:1.1 quick:1.15": both scores at most ratio × the yardstick's).
"""

import csv
import os
import statistics
import sys
from collections import defaultdict


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "docs/quality/pairs-384.tsv"
    tuned = set(os.environ.get("TUNED", "tubingen chelsea coffee").split())
    yardstick = os.environ.get("YARDSTICK", "reference")
    goals = dict(
        (label, float(ratio))
        for label, ratio in (
            item.split(":") for item in os.environ.get("GOALS", "fine:1.0 draft:1.1 quick:1.15").split()
        )
    )
    runs = {}
    with open(path, newline="") as results:
        for photo, painting, label, cost, seconds, style, content in csv.reader(results, delimiter="\t"):
            runs[(photo, painting, label)] = (float(cost), float(seconds), float(style), float(content))
    labels = sorted({label for _, _, label in runs}, key=lambda l: min(r[0] for k, r in runs.items() if k[2] == l))
    for held_out in (True, False):
        pairs = sorted({(p, q) for p, q, _ in runs if (p not in tuned) == held_out})
        print(f"\n### {'Held-out' if held_out else 'Tuning'} pairs ({len(pairs)} with any run)\n")
        print("| setting | pairs | seconds (median) | style error (median) | content error (median) "
              "| style / yardstick: median, worst | content / yardstick: median, worst | goal met |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for label in labels:
            mine = [(pair, runs[pair + (label,)]) for pair in pairs if pair + (label,) in runs]
            if not mine:
                continue
            seconds = statistics.median(run[1] for _, run in mine)
            style = statistics.median(run[2] for _, run in mine)
            content = statistics.median(run[3] for _, run in mine)
            ratios = defaultdict(list)
            for pair, run in mine:
                base = runs.get(pair + (yardstick,))
                if base and label != yardstick:
                    ratios["style"].append(run[2] / base[2])
                    ratios["content"].append(run[3] / base[3])
            def spread(kind):
                values = ratios[kind]
                if not values:
                    return "—"
                return f"{statistics.median(values):.2f}, {max(values):.2f}"
            goal = goals.get(label)
            compared = len(ratios["style"])
            met = "—"
            if goal is not None and compared:
                count = sum(s <= goal and c <= goal for s, c in zip(ratios["style"], ratios["content"]))
                met = f"{count} of {compared} (≤ {goal:g}×)"
            print(f"| {label} | {len(mine)} | {seconds:.0f} | {style:.3f} | {content:.3f} "
                  f"| {spread('style')} | {spread('content')} | {met} |")


if __name__ == "__main__":
    main()
