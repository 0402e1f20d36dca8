"""The claims ledger: each qualitative claim of the paper, our verdict with its scope, and the
evidence.

Evidence is only what our runs and theory results measured (the report's tables, figures and
theory files); a claim without evidence says "not measured", never the paper's word. A verdict
is computed over the models the claim is about: "holds" needs full-data (n = 50,000) evidence
for each of them; evidence on a subset or for some of the models gives at most "partly", and the
scope names what is missing ("holds for MLP 1x512, MLP 3x512 at n = 50,000; Alexnet: subset
only (n = 2,000); Inception: not measured"). Verdicts: "holds", "partly", "does not hold",
"not measured". What counts as "fit" is report.fit's, and each line says the level it used.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from rethinking import paper
from rethinking.report import figure1bc
from rethinking.report import fit
from rethinking.report import markdown as md
from rethinking.report import theory_claims
from rethinking.report import verdicts
from rethinking.report.verdicts import (FAILS, FULL_N, HOLDS, NOT_MEASURED, PARTLY, claim as
                                        _claim, scoped, sizes_text as _sizes)

CHANCE = 10.0
FIGURE1BC_MODELS = ("Inception", "Alexnet", "MLP 1x512")  # the models of the paper's Figure 1


def _completed(rows: List[dict]):
  """(row, entry) for every completed full-data line of a table."""
  for row in rows:
    for e in row["ours"]:
      if e["status"] == "completed" and e["metrics"]:
        yield row, e


def _per_model(rows: List[dict], keep) -> Dict[str, List[Tuple[dict, dict]]]:
  """model -> its completed full-data (row, entry) pairs that `keep(row)`; the paper-schedule
  lines alone when a model has one (other schedules are evidence, not the verdict's test)."""
  out: Dict[str, List[Tuple[dict, dict]]] = {}
  for row, e in _completed(rows):
    if keep(row):
      out.setdefault(row["model"], []).append((row, e))
  return {m: [x for x in pairs if x[1]["paper_schedule"]] or pairs for m, pairs in out.items()}


def _subset(reduced: List[dict], keep) -> Dict[str, str]:
  sizes: Dict[str, List[int]] = {}
  for r in reduced:
    row = paper.table1_row(r["setting"]) if r["table"] == "table1" else None
    if row and keep(row) and r["metrics"]:
      sizes.setdefault(row.model, []).append(r["train_size"] or 0)
  return {m: _sizes(v) for m, v in sizes.items()}


def random_labels_fit(table1: List[dict], reduced: List[dict]) -> List[dict]:
  models = [row["model"] for row in table1 if row["random_labels"]]
  fit_text, chance = [], []
  for row, e in _completed(table1):
    if row["random_labels"]:
      train, test = e["metrics"]["train"], e["metrics"]["test"]
      head = f"{row['model']} ({e['variant']})"
      fit_text.append(f"{head}: {md.pooled_text(train, unit='%')} train (paper "
                      f"{row['paper']['train']['text']}; {e['measured_on']})")
      chance.append(f"{head}: {md.pooled_text(test, unit='%')} test (paper "
                    f"{row['paper']['test']['text']}; {e['measured_on']})")
  keep = lambda row: row["random_labels"]  # noqa: E731
  lines = _per_model(table1, keep)
  fitted = {m: all(fit.fits(e["metrics"]["train"]["mean"]) for _, e in v)
            for m, v in lines.items()}
  at_chance = {m: all(abs(e["metrics"]["test"]["mean"] - CHANCE) <= 2.0 for _, e in v)
               for m, v in lines.items()}
  subset = _subset(reduced, lambda row: row.random_labels)
  sub_text = [f"on a subset only: {r['label']} ({r['variant']}): "
              f"{md.pooled_text(r['metrics']['train'], unit='%')} train, "
              f"{md.pooled_text(r['metrics']['test'], unit='%')} test ({r['measured_on']})"
              for r in reduced if r["table"] == "table1" and r["metrics"]
              and r["setting"].endswith("random_labels")]
  fit_verdict, fit_scope = scoped(models, fitted, subset)
  chance_verdict, chance_scope = scoped(models, at_chance, subset)
  return [
      _claim("Deep networks fit random labels: training accuracy reaches (about) 100% "
             "(Table 1)", fit_verdict, fit_text + sub_text,
             f"fit = at least {100 * fit.RANDOM_LABELS:g}% of the training set, final "
             f"whole-training-set accuracy", fit_scope),
      _claim("With random labels, test accuracy is at chance (10%) (Table 1)", chance_verdict,
             chance + [t for t in sub_text], "within 2 points of 10%", chance_scope),
  ]


def _on(*measured_on: str) -> Tuple[str, List[str]]:
  """(shared, each): what compared numbers were measured on, as " (...)" suffixes. One shared
  suffix when the runs agree; else one per number (a campaign outlives its machines: one model's
  rows come from several hosts and precisions), so that no number passes for another host's."""
  if len(set(measured_on)) == 1:
    return f" ({measured_on[0]})", [""] * len(measured_on)
  return "", [f" ({m})" for m in measured_on]


# A drawn run still training (or stopped by a deadline) is shown but counts toward no verdict, as
# the tables' claims count completed rows only: a report read mid-campaign must not say "does not
# hold" of a curve that has not finished. Its "(measured on)" names its status and step.
NOT_COUNTED = "not counted until it completes"


def figure1a_claim(figures: List[dict]) -> dict:
  """The paper's Figure 1a is Inception's; the MLP figure is ours and is evidence alongside."""
  evidence, outcome, subset, partial, extra = [], {}, {}, {}, []
  for f in figures:
    drawn = {c["condition"]: c for c in f["curves"]}
    if not drawn:
      continue
    model = paper.PAPER_NAMES.get(f["model"], f["model"])
    # One line's conditions may have run on different hosts or precisions (a bf16 run pools
    # with float32 once its check passed): then each condition names its own.
    shared, on = _on(*(v["measured_on"] for v in drawn.values()))
    parts = [f"{c}: final loss {v['final_loss']:.3f}, starts at step "
             f"{v['steps_to_start'] if v['steps_to_start'] is not None else 'never'}{own}"
             + ("" if v["status"] == "completed" else f" ({NOT_COUNTED})")
             for (c, v), own in zip(drawn.items(), on)]
    curves = {c: v for c, v in drawn.items() if v["status"] == "completed"}
    evidence.append(f"{model}{shared}: " + "; ".join(parts)
                    + ("" if len(curves) == 5 else f" (only {len(curves)} of 5 conditions)"))
    if not curves:
      continue
    starts = {c: v["steps_to_start"] for c, v in curves.items()}
    rl = starts.get("random_labels")
    last = rl is None or all(s is not None and s <= rl for c, s in starts.items()
                             if c != "random_labels")
    low = all(v["final_loss"] < 0.1 for v in curves.values())
    full = all(c["train_size"] and c["train_size"] >= 50_000 for c in curves.values())
    if f["model"] != "inception_small":
      extra.append(f"{model} (ours, not in the paper): "
                   f"{'holds' if last and low and len(curves) == 5 else 'partly'}"
                   f"{' at ' + FULL_N if full else ''}")
    elif full:  # at full data, the conditions it has are evidence, at most "partly"
      outcome[model] = last and low
      if len(curves) < 5:
        partial[model] = f"{len(curves)} of 5 conditions"
    else:
      subset[model] = (f"{_sizes(c['train_size'] or 0 for c in curves.values())}, "
                       f"{len(curves)} of 5 conditions")
  verdict, scope = scoped(["Inception"], outcome, subset, partial)
  return _claim("Figure 1a: all five data conditions are fit (average loss near zero) with "
                "unchanged hyper-parameters; random labels start decreasing last", verdict,
                evidence, "'starts' = first step with average loss below 0.9 ln 10; near "
                "zero = final average loss below 0.1", "; ".join([scope] + extra))


def _line_model(line: dict) -> str:
  return paper.PAPER_NAMES.get(line["model"], line["model"])


def _levels_text(ps: Sequence[float]) -> str:
  ps = [f"{p:g}" for p in sorted(ps)]
  return "p = " + (" and ".join(ps) if len(ps) <= 2 else ", ".join(ps)) + " only"


def _figure1bc_scope(checks: List[Tuple[dict, List[float]]]) -> Tuple[str, str]:
  """checks: (line, whether the claim held on it, the corruption levels it measured). A model
  whose full-data lines all miss some of the paper's levels (p = 0, 0.2, ..., 1) holds only on
  the levels it has (e.g. the Table 1 rows give p = 0 and 1), which the scope says."""
  outcome: Dict[str, bool] = {}
  sizes: Dict[str, List[int]] = {}
  covered: Dict[str, List[float]] = {}
  for line, ok, ps in checks:
    model = _line_model(line)
    if line["full_data"]:
      outcome[model] = outcome.get(model, True) and ok
      if len(ps) > len(covered.get(model, [])):
        covered[model] = list(ps)
    else:
      sizes.setdefault(model, []).append(line["train_size"] or 0)
  partial = {m: _levels_text(ps) for m, ps in covered.items()
             if not set(figure1bc.P_GRID) <= set(ps)}
  return scoped(FIGURE1BC_MODELS, outcome, {m: _sizes(v) for m, v in sizes.items()}, partial)


def _counted_levels(line: dict) -> Tuple[List[dict], str]:
  """The line's levels whose runs all completed, and the evidence's note on the others."""
  unfinished = {q["run"]: q for q in line["points"] if q["status"] != "completed"}
  levels = [lv for lv in line["levels"] if not set(lv["runs"]) & set(unfinished)]
  note = "; ".join(f"p={q['p']:g} {q['status']} at step {q['steps']}: {NOT_COUNTED}"
                   for q in unfinished.values())
  return levels, f" ({note})" if note else ""


def figure1b_claim(figure: dict) -> dict:
  evidence, checks = [], []
  for line in figure["lines"]:
    levels, unfinished = _counted_levels(line)
    rel = {lv["p"]: lv["relative_time_to_fit"] for lv in levels
           if lv["relative_time_to_fit"] is not None}
    if len(rel) < 2:
      continue
    top = max(rel)
    evidence.append(f"{line['label']}: relative time to {fit.words(line['fit_threshold'])} "
                    f"train accuracy (mean over seeds) "
                    + ", ".join(f"p={p:g}: {rel[p]:.2f}" for p in sorted(rel)) + unfinished)
    checks.append((line, rel[top] >= 1.2, list(rel)))
  verdict, scope = _figure1bc_scope(checks)
  return _claim("Figure 1b: time to overfit grows with label corruption, by a small constant "
                "factor at full randomization", verdict, evidence,
                "grows = at least 1.2x the true-label time at the largest p measured; each "
                "line at the highest fit level all its runs reached (report.fit)", scope)


def figure1c_claim(figure: dict) -> dict:
  evidence, checks = [], []
  for line in figure["lines"]:
    levels, unfinished = _counted_levels(line)
    errors = {lv["p"]: lv["test_error"] for lv in levels if lv["test_error"] is not None}
    if 1.0 not in errors or len(errors) < 2:
      continue
    ps = sorted(errors)
    steady = all(errors[b] >= errors[a] - 0.01 for a, b in zip(ps, ps[1:]))
    evidence.append(f"{line['label']}: test error (mean over seeds) " + ", ".join(
        f"p={p:g}: {errors[p]:.3f}" for p in ps) + unfinished)
    checks.append((line, steady and errors[1.0] >= 0.85, ps))
  verdict, scope = _figure1bc_scope(checks)
  return _claim("Figure 1c: test error rises steadily with label corruption and reaches chance "
                "(0.9) at p = 1", verdict, evidence,
                "steadily = no drop of more than 0.01 between levels; chance = at least 0.85",
                scope)


def batch_norm_claim(figure2b: dict, table1: List[dict]) -> dict:
  """At most "partly" until both models are fit at full data: a gap between a fit and an
  unfit model measures under-training, not batch norm."""
  evidence, ok, converged, stable = [], [], False, None
  curves = {c["model"]: c for c in figure2b["curves"]}
  if len(curves) == 2:
    bn, nobn = curves["inception_small"], curves["inception_small_nobn"]
    finished = bn["status"] == "completed" and nobn["status"] == "completed"
    both_fit = fit.fits(bn["final_train_accuracy"]) and fit.fits(nobn["final_train_accuracy"])
    converged = finished and both_fit and bn["full_data"] and nobn["full_data"]
    shared, on = _on(bn["measured_on"], nobn["measured_on"])
    evidence.append(
        f"Figure 2b{shared}: test accuracy "
        f"{md.number(bn['final_test_accuracy'])}%{on[0]} with batch norm (lr "
        f"{bn['learning_rate']:g}) vs {md.number(nobn['final_test_accuracy'])}%{on[1]} without "
        f"(lr {nobn['learning_rate']:g}); "
        f"train {md.number(bn['final_train_accuracy'])}% vs "
        f"{md.number(nobn['final_train_accuracy'])}%"
        + ("" if both_fit else ": not both fit, so the gap mostly measures under-training")
        + ("" if finished else f" ({NOT_COUNTED})"))
    if finished:
      ok.append((bn["final_test_accuracy"] or 0) > (nobn["final_test_accuracy"] or 0))
    stable = _stability(figure2b.get("stability"), evidence, counted=converged)
    _same_rate_evidence(figure2b.get("same_rate"), evidence)
  paper_lines = {row["setting"]: e for row, e in _completed(table1) if e["paper_schedule"]}
  for with_bn, without in (("inception", "inception_nobn"), ("inception_wd", "inception_nobn_wd")):
    if with_bn in paper_lines and without in paper_lines:
      a = paper_lines[with_bn]["metrics"]["test"]["mean"]
      b = paper_lines[without]["metrics"]["test"]["mean"]
      shared, on = _on(paper_lines[with_bn]["measured_on"], paper_lines[without]["measured_on"])
      evidence.append(f"Table 1 {with_bn} vs {without}: {a:.2f}%{on[0]} vs {b:.2f}%{on[1]} test"
                      + shared)
      ok.append(a > b)
      converged = True
  verdict = HOLDS if ok and all(ok) else FAILS if ok and not any(ok) else PARTLY
  if verdict == HOLDS and not converged:
    verdict = PARTLY
  # Both parts of the claim: "holds" needs both, "does not hold" neither.
  if stable is None and verdict == HOLDS:
    verdict = PARTLY
  elif stable is not None and ok:
    if verdict == HOLDS and not stable:
      verdict = PARTLY
    elif verdict == FAILS and stable:
      verdict = PARTLY
  scope = ("Inception at " + FULL_N + ", both models fit" if converged else
           "Inception: no converged pair with and without batch norm at " + FULL_N)
  scope += ("; stabilizes: not measured" if stable is None else
            "; stabilizes: " + ("holds" if stable else "does not hold"))
  return _claim("Figure 2b: batch norm stabilizes training and adds a few points of test "
                "accuracy", verdict, evidence,
                "a few points = higher test accuracy with batch norm; stabilizes = with batch "
                "norm the train and the test accuracy curves each fall less, summed over the "
                "evaluations both runs made (figures.md; each model at its own learning rate), "
                "counted on a converged pair at " + FULL_N + " only", scope)


def _stability(stable, evidence: List[str], counted: bool):
  """True/False when batch norm's curves fall less/not less than the other's, in both train and
  test accuracy (mixed: False); None when there is nothing to read or the pair does not count
  (not both fit, completed and at full data: an unfit model's curve measures under-training)."""
  if not stable or min(stable["train_evaluations"], stable["test_evaluations"]) < 2:
    return None
  bn, nobn = (stable["by_model"][m] for m in ("inception_small", "inception_small_nobn"))
  evidence.append(
      "Figure 2b stability: summed falls between consecutive evaluations with vs without batch "
      f"norm, train accuracy {bn['train']['summed']:.2f} vs {nobn['train']['summed']:.2f} "
      f"points (the {stable['train_evaluations']} evaluations both runs made, to step "
      f"{stable['train_last_step']:,}), test accuracy {bn['test']['summed']:.2f} vs "
      f"{nobn['test']['summed']:.2f} points (largest fall {bn['test']['largest']:.2f} vs "
      f"{nobn['test']['largest']:.2f}; {stable['test_evaluations']} evaluations, to step "
      f"{stable['test_last_step']:,})"
      + ("" if counted else f" (not counted: not a completed pair that both fit at {FULL_N})"))
  if not counted:
    return None
  return all(bn[split]["summed"] < nobn[split]["summed"] for split in ("train", "test"))


def _same_rate_evidence(pair, evidence: List[str]) -> None:
  """The falls with the rate held fixed (figure2b.same_rate): evidence beside the pair drawn,
  which trains each model at its own rate; never counted in the verdict."""
  if not pair or not pair.get("run"):
    return
  stable = pair["stability"]
  if min(stable["train_evaluations"], stable["test_evaluations"]) < 2:
    return
  bn, nobn = (stable["by_model"][m] for m in ("inception_small", "inception_small_nobn"))
  evidence.append(
      f"Figure 2b stability at one rate (lr {pair['learning_rate']:g} for both): summed falls "
      f"with vs without batch norm, train accuracy {bn['train']['summed']:.2f} vs "
      f"{nobn['train']['summed']:.2f} points, test accuracy {bn['test']['summed']:.2f} vs "
      f"{nobn['test']['summed']:.2f} ({stable['train_evaluations']} / "
      f"{stable['test_evaluations']} evaluations both runs made; {pair['ran_on']}; evidence "
      f"on the rate, not counted)")


def regularization_claim(table1: List[dict], appendix: List[dict]) -> dict:
  evidence, outcome = [], {}
  lines = {row["setting"]: (row, e) for row, e in _completed(table1)
           if e["paper_schedule"] and not row["random_labels"]}
  plain = [s for s in lines if not lines[s][0]["random_crop"] and not lines[s][0][
      "weight_decay"]]
  for setting in plain:
    row, e = lines[setting]
    test = e["metrics"]["test"]["mean"]
    compared_lines = [(words, lines[setting + suffix][1]) for suffix, words in (
        ("_wd", "weight decay"), ("_crop", "random crop"),
        ("_crop_wd", "random crop and weight decay")) if setting + suffix in lines]
    shared, on = _on(e["measured_on"], *(reg["measured_on"] for _, reg in compared_lines))
    text = f"not necessary: {row['model']} without regularization {test:.2f}% test{on[0]}"
    good, compared = test >= 3 * CHANCE, False
    for (words, reg), reg_on in zip(compared_lines, on[1:]):
      with_reg = reg["metrics"]["test"]["mean"]
      text += f", with {words} {with_reg:.2f}%{reg_on}"
      good, compared = good and with_reg - test < 5.0, True
    evidence.append(text + shared)
    if compared:
      outcome[row["model"]] = good
  sufficient = []
  for row, e in _completed(appendix):
    train = e["metrics"]["train"]["mean"]
    fits = fit.fits(train)
    # A run that stays far from fitting is no "fits ... to 12%": it says it did not fit.
    evidence.append(f"not sufficient: {row['model']} with {row['regularizer']} "
                    + (f"fits random labels to {md.percent(train)}%" if fits else
                       f"does not fit random labels ({fit.words(fit.RANDOM_LABELS)}): "
                       f"{md.percent(train)}% train")
                    + f" ({e['variant']}; paper {row['paper']['train']['text']}; "
                    f"{e['measured_on']})")
    sufficient.append(fits)
  models = sorted({row["model"] for row in table1 if not row["random_labels"]
                   and (row["random_crop"] or row["weight_decay"])})
  verdict, scope = scoped(models, outcome, {})
  if verdict == HOLDS and not any(sufficient):
    verdict = PARTLY
  scope += ("; not sufficient: a regularized network fits random labels" if any(sufficient)
            else "; not sufficient: not measured")
  return _claim("Explicit regularization is neither necessary nor sufficient for "
                "generalization (Table 1, appendix)", verdict, evidence,
                "not necessary = unregularized test accuracy at least 3x chance and within 5 "
                "points of the regularized runs (paper schedule); not sufficient = a "
                f"regularized network still fits random labels ({fit.words(fit.RANDOM_LABELS)})",
                scope)


def imagenet_claims(table2: List[dict]) -> List[dict]:
  evidence = []
  for row, e in _completed(table2):
    m = e["metrics"]
    evidence.append(f"{row['setting']} ({e['variant']}): top-1 train "
                    f"{md.pooled_text(m['top1_train'], unit='%')}, top-1 test "
                    f"{md.pooled_text(m['top1_test'], unit='%')} ({e['measured_on']})")
  return [
      _claim("Table 2: Inception V3 fits random labels on ImageNet (paper: 95.20% top-1 train) "
             "and regularization is not needed to generalize", PARTLY, evidence,
             "compare the lines in table2.md", "Inception V3 on ImageNet"),
      _claim("Figure 2a: on ImageNet, early stopping could improve Inception's test accuracy "
             "(with and without regularizers)", NOT_MEASURED, []),
  ]


def ledger(report: dict) -> List[dict]:
  figures = report["figures"]
  return [
      *random_labels_fit(report["table1"], report["reduced"]),
      figure1a_claim([figures["figure1a"], figures["figure1a_mlp"]]),
      figure1b_claim(figures["figure1b"]),
      figure1c_claim(figures["figure1c"]),
      batch_norm_claim(figures["figure2b"], report["table1"]),
      regularization_claim(report["table1"], report["appendix"]),
      *theory_claims.claims(report["theory"]),
      *imagenet_claims(report["table2"]),
  ]


def markdown(claims: List[dict], sources: str) -> str:
  evidence = (f"Evidence: what the runs and theory results under {sources} measured. "
              f"{verdicts.RULE} Fit levels: rethinking/report/fit.py.")
  lines = md.heading("# Claims ledger: which of the paper's claims hold here", paper.CITATION,
                     evidence)
  lines += md.table(("claim", "verdict", "scope"),
                    [(c["claim"], c["verdict"], c["scope"] or "-") for c in claims])
  for c in claims:
    lines += ["", f"## {c['claim']}", "", f"**{c['verdict']}**"
              + (f": {c['scope']}" if c["scope"] else "")
              + (f" ({c['why']})" if c["why"] else ""), ""]
    lines += [f"- {e}" for e in c["evidence"]] or ["- no runs or results"]
  return "\n".join(lines) + "\n"
