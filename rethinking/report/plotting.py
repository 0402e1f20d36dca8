"""What every figure shares: the canvas, a legible note inside the axes, names and legends."""
from __future__ import annotations

import textwrap
from typing import Callable, Dict, List, Optional, Sequence

from matplotlib import transforms
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rethinking.report import runs as runs_lib
from rethinking.report.runs import Run
from rethinking.report import cells

MODEL_LABELS = {"inception_small": "Inception", "inception_small_nobn": "Inception w/o BatchNorm",
                "alexnet_small": "AlexNet", "mlp_1x512": "MLP 1x512", "mlp_3x512": "MLP 3x512",
                "inception_v3": "Inception V3"}
NOTE_WIDTH = 58  # characters per line: fits the axes of a 6.4-inch figure at 8.5 points
NOTE_LINES = 14


def new_figure(title: str):
  fig = Figure(figsize=(6.4, 4.8), dpi=100)
  FigureCanvasAgg(fig)
  ax = fig.add_subplot(1, 1, 1)
  ax.set_title(title, fontsize=11)
  ax.grid(True, alpha=0.3)
  return fig, ax


def note_in_axes(ax, lines: Sequence[str]) -> None:
  """A note wrapped to the axes' width and clipped to them (never over the title or labels)."""
  wrapped = []
  for line in lines:
    wrapped += textwrap.wrap(line, NOTE_WIDTH) or [""]
  if len(wrapped) > NOTE_LINES:
    wrapped = wrapped[:NOTE_LINES - 1] + ["... (the rest in figures.md)"]
  ax.text(0.5, 0.5, "\n".join(wrapped), ha="center", va="center", transform=ax.transAxes,
          fontsize=8.5, color="dimgray", clip_on=True,
          bbox=dict(boxstyle="round", facecolor="white", edgecolor="lightgray"))


LONG_LABEL = 60  # characters: a legend with longer labels goes below the axes, not over them
# Characters per line of a legend label below the axes (~6.5 points): a label that names which
# corruption level ran on which host runs to 200 characters, and tight_layout then shrank the
# axes to a sliver to keep it within the figure's 6.4 inches.
WIDE_LABEL = 110
BELOW_AXES_POINTS = 36  # the x tick labels and the x label, at their default sizes


def save(fig, path: str) -> None:
  fig.tight_layout()
  fig.savefig(path, bbox_inches="tight")  # keeps a legend placed below the axes


def finish(fig, ax, path: str, drawn, no_runs: Sequence[str], **legend) -> None:
  """A legend when something was drawn (below the axes when its labels are long, so that it
  never hides a curve), else the note inside the axes; then save."""
  if drawn:
    handles, labels = ax.get_legend_handles_labels()
    if max(map(len, labels or [""])) > LONG_LABEL:
      # Below the tick labels and the x label, whatever height tight_layout leaves the axes (a
      # fraction of the axes' height overlapped the x label once the legend grew).
      below = transforms.offset_copy(ax.transAxes, fig=fig, y=-BELOW_AXES_POINTS, units="points")
      legend = {**legend, "loc": "upper center", "bbox_to_anchor": (0.5, 0.0),
                "bbox_transform": below, "ncol": 1}
      labels = ["\n".join(textwrap.wrap(label, WIDE_LABEL)) for label in labels]
    if len(legend.get("title") or "") > LONG_LABEL:  # e.g. two hosts and two precisions pooled
      legend["title"] = "\n".join(textwrap.wrap(legend["title"], LONG_LABEL))
    ax.legend(handles, labels, **legend)
  else:
    note_in_axes(ax, no_runs)
  save(fig, path)


def model_label(model: str) -> str:
  return MODEL_LABELS.get(model, model)


def _setups(runs: Sequence[Run], tag: Callable[[Run], str]) -> Optional[List[str]]:
  """'p=0/p=1: CPU AMD EPYC 2-core AVX-512/BF16' per (device, precision) the runs pooled, in the
  order the runs come; None when they share one. A campaign outlives its machines: one line's
  points may come from several hosts and precisions, and which ran where must not be lost."""
  with_precision = len({r.results.precision for r in runs}) > 1
  tags: Dict[tuple, List[str]] = {}
  for r in runs:
    key = (r.short_device, r.results.precision if with_precision else None)
    if tag(r) not in tags.setdefault(key, []):
      tags[key].append(tag(r))
  if len(tags) < 2:
    return None
  return [f"{'/'.join(t)}: {device}" + (f", {precision}" if precision else "")
          for (device, precision), t in tags.items()]


def group_label(runs: Sequence[Run], with_model: bool = True,
                tag: Optional[Callable[[Run], str]] = None) -> str:
  """E.g. 'MLP 1x512 (n=50000, batch 128, 60 epochs, CPU AMD EPYC 2-core / CPU Intel Xeon
  2-core, 2 seeds)': every device, precision and XLA use the runs pool, not the first run's.
  With tag (a run's name in the figure, e.g. 'p=0.2'), runs pooled from several devices or
  precisions say which ran where: '...; p=0/p=1: CPU AMD EPYC ...; p=0.2: CPU Intel Xeon ...'."""
  run = runs[0]
  sizes = sorted({r.train_size or 0 for r in runs})
  words = [f"n={'/'.join(map(str, sizes))}", run.kind.schedule_label]
  setups = _setups(runs, tag) if tag else None
  if not setups:
    words.append(runs_lib.devices_text(runs))
  precisions = runs_lib.precision_text(runs)
  named_per_setup = setups and len({r.results.precision for r in runs}) > 1
  if not named_per_setup and precisions != cells.PAPER_PRECISION and precisions not in words[1]:
    words.append(precisions)
  if runs_lib.jit_text(runs):
    words.append(runs_lib.jit_text(runs))
  seeds = sorted({r.seed for r in runs})
  if len(seeds) > 1:
    words.append(f"{len(seeds)} seeds")
  inner = "; ".join([", ".join(words), *(setups or [])])
  return f"{model_label(run.model)} ({inner})" if with_model else inner
