"""Markdown for the report: the one table helper, number formats, and reading a table back."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

NOT_RUN = "not run"
NOT_FINISHED = "not finished"
NOT_MEASURED = "not measured"


def heading(title: str, citation: str, ours: str) -> List[str]:
  """A report file's head: its title, the paper it reproduces, and what "ours" is."""
  return [title, "", f"Paper: {citation}  ", ours, ""]


def section(title: str, intro: str, header: Sequence, rows: Sequence[Sequence],
            empty: str) -> List[str]:
  """A '## title' section appended to a page: its intro, then the table, or `empty` when there
  are no rows."""
  out = ["", f"## {title}", "", intro, ""]
  return out + (table(header, rows) if rows else [empty]) + [""]


def table(header: Sequence, rows: Sequence[Sequence]) -> List[str]:
  """A Markdown table's lines; '|' inside a cell becomes '/'."""
  def line(cells):
    return "| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |"
  return [line(header), line(["---"] * len(header)), *[line(r) for r in rows]]


def parse_table(text: str) -> List[Dict[str, str]]:
  """The rows of the first Markdown table in `text` as dicts keyed by the header (for tests and
  scripts that read the report back)."""
  lines = []
  for line in text.splitlines():
    if line.startswith("|"):
      lines.append(line)
    elif lines:
      break
  if len(lines) < 2:
    return []
  split = lambda l: [c.strip() for c in l.strip().strip("|").split("|")]  # noqa: E731
  header = split(lines[0])
  return [dict(zip(header, split(l))) for l in lines[2:]]


def percent(x: float) -> str:
  """A percentage with two decimals, except that a value below 100 never prints as 100.00: a
  run 2 images short of fitting 50,000 reads 99.996, not 100.00, since the report's "fit" is
  exactly 100% and a reader would otherwise see "100.00" beside "not fit". More decimals are
  added only as far as they are needed to stay below 100 (six at most)."""
  for decimals in range(2, 7):
    text = f"{x:.{decimals}f}"
    if x >= 100 or float(text) < 100:
      return text
  return text


def _formatted(x: float, fmt: Optional[str]) -> str:
  return percent(x) if fmt is None else fmt.format(x)


def number(x: Optional[float], fmt: Optional[str] = None, missing: str = "-") -> str:
  """fmt=None: a percentage (percent())."""
  return missing if x is None else _formatted(x, fmt)


def signed(x: Optional[float]) -> str:
  return "-" if x is None else f"{x:+.2f}"


def yes(flag: bool) -> str:
  return "yes" if flag else "no"


def pooled(values: Sequence[Optional[float]]) -> Optional[dict]:
  """Mean, min, max and count of the values that exist (None when none do)."""
  present = [v for v in values if v is not None]
  if not present:
    return None
  return {"mean": sum(present) / len(present), "min": min(present), "max": max(present),
          "n": len(present)}


def pooled_text(stats: Optional[dict], missing: str = "-", fmt: Optional[str] = None,
                unit: str = "") -> str:
  """'99.41' for one run; '99.41 (99.38-99.44, 2 seeds)' for several; fmt=None: percentages
  (percent()). A unit follows the mean and the range ('99.41% (99.38-99.44%, 2 seeds)'), not
  the seed count."""
  if stats is None:
    return missing
  text = _formatted(stats["mean"], fmt) + unit
  if stats["n"] > 1:
    text += (f" ({_formatted(stats['min'], fmt)}-{_formatted(stats['max'], fmt)}{unit}, "
             f"{stats['n']} seeds)")
  return text
