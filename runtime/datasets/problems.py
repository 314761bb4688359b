"""The skipped-sample report shared by train and val: every file, label line or annotation that was left out or
adjusted appears once with its reason, on the console (abridged) and in full in a CSV beside the run's outputs."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

Problem = tuple[str, str]  # (file, reason)


def reason_kind(reason: str) -> str:
    """The reason without its line number or particulars ("line 3: duplicate line dropped" -> "duplicate line
    dropped"; "image too large to decode (40000x40000 ...)" -> "image too large to decode")."""
    head, _, tail = reason.partition(": ")
    reason = tail if head.startswith("line ") and tail else reason
    return reason.split(" (", 1)[0] if reason.endswith(")") else reason


def summary_lines(report: list[Problem], limit: int = 20) -> list[str]:
    if not report:
        return []
    counts = Counter(reason_kind(r) for _, r in report)
    lines = [f"{len(report)} dataset problems (skipped or adjusted); by reason: "
             + "; ".join(f"{k} x{n}" for k, n in counts.most_common())]
    lines += [f"  {path}: {reason}" for path, reason in report[:limit]]
    if len(report) > limit:
        lines.append(f"  ... and {len(report) - limit} more")
    return lines


def write_problems_csv(path: Path, report: list[Problem]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "reason"])
        writer.writerows(report)
    return path


def read_problems_csv(path: Path) -> list[Problem]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [(row[0], row[1]) for row in list(csv.reader(fh))[1:]]
