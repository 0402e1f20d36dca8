"""The claims ledger: each qualitative claim of the paper, our verdict, and the evidence.

Evidence is only what our runs and theory results measured (the report's tables, figures and
theory files); a claim without evidence says "not measured", never the paper's word. Verdicts:
"holds", "partly" (holds for part of what was measured, or was measured only in part),
"does not hold", "not measured".
"""
from __future__ import annotations

from typing import Dict, List

from rethinking import paper
from rethinking.report import markdown as md

HOLDS, PARTLY, FAILS, NOT_MEASURED = "holds", "partly", "does not hold", md.NOT_MEASURED
FIT = 99.0  # train accuracy (%) that counts as "fit" for random labels (paper: 99.34-100)
CHANCE = 10.0


def _claim(claim: str, verdict: str, evidence: List[str], why: str = "") -> dict:
  return {"claim": claim, "verdict": verdict if evidence else NOT_MEASURED,
          "evidence": evidence, "why": why if evidence else ""}


def _completed(rows: List[dict]):
  """(row, entry) for every completed full-data line of a table."""
  for row in rows:
    for e in row["ours"]:
      if e["status"] == "completed" and e["metrics"]:
        yield row, e


def _where(e: dict) -> str:
  return e["ran_on"].split(", data ")[0]


def random_labels_fit(table1: List[dict], reduced: List[dict]) -> List[dict]:
  fit, chance = [], []
  fit_ok, chance_ok = [], []
  for row, e in _completed(table1):
    if not row["random_labels"]:
      continue
    train, test = e["metrics"]["train"], e["metrics"]["test"]
    head = f"{row['model']} ({e['variant']})"
    fit.append(f"{head}: {md.pooled_text(train)}% train (paper {row['paper']['train']['text']};"
               f" {_where(e)})")
    chance.append(f"{head}: {md.pooled_text(test)}% test (paper {row['paper']['test']['text']})")
    fit_ok.append(train is not None and train["mean"] >= FIT)
    chance_ok.append(test is not None and abs(test["mean"] - CHANCE) <= 2.0)
  subset = [r for r in reduced if r["table"] == "table1" and r["setting"].endswith(
      "random_labels") and r["metrics"]]
  sub_text = [f"on a subset only: {r['label']} ({r['variant']}): "
              f"{md.pooled_text(r['metrics']['train'])}% train, n = {r['train_size']}"
              for r in subset]
  models = {row["model"] for row in table1 if row["random_labels"]}
  measured = {row["model"] for row, e in _completed(table1) if row["random_labels"]}
  missing = sorted(models - measured)
  if fit:
    verdict = HOLDS if all(fit_ok) and not missing else PARTLY if any(fit_ok) else FAILS
  else:
    verdict = PARTLY if sub_text else NOT_MEASURED
  why = (f"fit = at least {FIT:g}% of the training set; full-data runs of "
         f"{', '.join(missing)} not measured" if missing else f"fit = at least {FIT:g}%")
  return [
      _claim("Deep networks fit random labels: training accuracy reaches (about) 100% "
             "(Table 1)", verdict, fit + sub_text, why),
      _claim("With random labels, test accuracy is at chance (10%) (Table 1)",
             HOLDS if chance and all(chance_ok) else PARTLY if any(chance_ok) else FAILS,
             chance, "within 2 points of 10%"),
  ]


def figure1a_claim(figures: List[dict]) -> dict:
  evidence, verdicts = [], []
  for f in figures:
    curves = {c["condition"]: c for c in f["curves"]}
    if not curves:
      continue
    model = {"inception_small": "Inception", "mlp_1x512": "MLP 1x512"}.get(f["model"],
                                                                          f["model"])
    parts = [f"{c}: final loss {v['final_loss']:.3f}, starts at step "
             f"{v['steps_to_start'] if v['steps_to_start'] is not None else 'never'}"
             for c, v in curves.items()]
    evidence.append(f"{model} ({next(iter(curves.values()))['ran_on'].split(', data ')[0]}): "
                    + "; ".join(parts))
    starts = {c: v["steps_to_start"] for c, v in curves.items()}
    rl = starts.get("random_labels")
    others = [s for c, s in starts.items() if c != "random_labels"]
    if len(curves) < 5 or rl is None and not others:
      verdicts.append(PARTLY)
      evidence[-1] += f" (only {len(curves)} of 5 conditions)"
    else:
      last = rl is None or all(s is not None and s <= rl for s in others)
      low = all(v["final_loss"] < 0.1 for v in curves.values())
      verdicts.append(HOLDS if last and low else PARTLY if last or low else FAILS)
  verdict = (HOLDS if verdicts and all(v == HOLDS for v in verdicts) else
             FAILS if verdicts and all(v == FAILS for v in verdicts) else PARTLY)
  return _claim("Figure 1a: all five data conditions are fit (average loss near zero) with "
                "unchanged hyper-parameters; random labels start decreasing last", verdict,
                evidence, "'starts' = first step with average loss below 0.9 ln 10; near "
                "zero = final average loss below 0.1")


def figure1b_claim(figure: dict) -> dict:
  evidence, grows = [], []
  words = ("100%" if figure["fit_threshold"] >= 1 else f">= {100 * figure['fit_threshold']:g}%")
  for line in figure["lines"]:
    rel = {q["p"]: q["relative_time_to_fit"] for q in line["points"]
           if q["relative_time_to_fit"] is not None}
    if len(rel) < 2:
      continue
    top = max(rel)
    evidence.append(f"{line['label']}: relative time to {words} train accuracy "
                    + ", ".join(f"p={p:g}: {rel[p]:.2f}" for p in sorted(rel)))
    grows.append((rel[top] >= 1.2, line["label"]))
  verdict = (HOLDS if grows and all(g for g, _ in grows) else
             FAILS if grows and not any(g for g, _ in grows) else PARTLY)
  return _claim("Figure 1b: time to overfit grows with label corruption, by a small constant "
                "factor at full randomization", verdict, evidence,
                "grows = at least 1.2x the true-label time at the largest p measured")


def figure1c_claim(figure: dict) -> dict:
  evidence, ok = [], []
  for line in figure["lines"]:
    errors = {}
    for q in line["points"]:
      if q["test_error"] is not None:
        errors.setdefault(q["p"], []).append(q["test_error"])
    errors = {p: sum(v) / len(v) for p, v in errors.items()}
    if 1.0 not in errors or len(errors) < 2:
      continue
    ps = sorted(errors)
    steady = all(errors[b] >= errors[a] - 0.01 for a, b in zip(ps, ps[1:]))
    evidence.append(f"{line['label']}: test error " + ", ".join(
        f"p={p:g}: {errors[p]:.3f}" for p in ps))
    ok.append(steady and errors[1.0] >= 0.85)
  verdict = HOLDS if ok and all(ok) else FAILS if ok and not any(ok) else PARTLY
  return _claim("Figure 1c: test error rises steadily with label corruption and reaches chance "
                "(0.9) at p = 1", verdict, evidence,
                "steadily = no drop of more than 0.01 between levels; chance = at least 0.85")


def batch_norm_claim(figure2b: dict, table1: List[dict]) -> dict:
  evidence, ok = [], []
  curves = {c["model"]: c for c in figure2b["curves"]}
  if len(curves) == 2:
    bn, nobn = curves["inception_small"], curves["inception_small_nobn"]
    evidence.append(f"Figure 2b ({bn['ran_on'].split(', data ')[0]}): test accuracy "
                    f"{md.number(bn['final_test_accuracy'])}% with batch norm vs "
                    f"{md.number(nobn['final_test_accuracy'])}% without; train "
                    f"{md.number(bn['final_train_accuracy'])}% vs "
                    f"{md.number(nobn['final_train_accuracy'])}%")
    ok.append((bn["final_test_accuracy"] or 0) > (nobn["final_test_accuracy"] or 0))
  paper_lines = {row["setting"]: e for row, e in _completed(table1) if e["paper_schedule"]}
  for with_bn, without in (("inception", "inception_nobn"), ("inception_wd", "inception_nobn_wd")):
    if with_bn in paper_lines and without in paper_lines:
      a = paper_lines[with_bn]["metrics"]["test"]["mean"]
      b = paper_lines[without]["metrics"]["test"]["mean"]
      evidence.append(f"Table 1 {with_bn} vs {without}: {a:.2f}% vs {b:.2f}% test")
      ok.append(a > b)
  verdict = HOLDS if ok and all(ok) else FAILS if ok and not any(ok) else PARTLY
  return _claim("Figure 2b: batch norm stabilizes training and adds a few points of test "
                "accuracy", verdict, evidence)


def regularization_claim(table1: List[dict], appendix: List[dict]) -> dict:
  evidence, parts = [], []
  lines = {row["setting"]: (row, e) for row, e in _completed(table1)
           if e["paper_schedule"] and not row["random_labels"]}
  plain = [s for s in lines if not lines[s][0]["random_crop"] and not lines[s][0][
      "weight_decay"]]
  for setting in plain:
    row, e = lines[setting]
    test = e["metrics"]["test"]["mean"]
    text = f"not necessary: {row['model']} without regularization {test:.2f}% test"
    good = test >= 3 * CHANCE
    for suffix, words in (("_wd", "weight decay"), ("_crop", "random crop"),
                          ("_crop_wd", "random crop and weight decay")):
      if setting + suffix in lines:
        with_reg = lines[setting + suffix][1]["metrics"]["test"]["mean"]
        text += f", with {words} {with_reg:.2f}%"
        good = good and with_reg - test < 5.0
    evidence.append(text + f" ({_where(e)})")
    parts.append(good)
  for row, e in _completed(appendix):
    train = e["metrics"]["train"]["mean"]
    evidence.append(f"not sufficient: {row['model']} with {row['regularizer']} fits random "
                    f"labels to {train:.2f}% ({e['variant']}; paper "
                    f"{row['paper']['train']['text']})")
    parts.append(train >= FIT)
  necessary_measured = bool(plain)
  sufficient_measured = any(True for _ in _completed(appendix))
  if not evidence:
    verdict = NOT_MEASURED
  elif necessary_measured and sufficient_measured and all(parts):
    verdict = HOLDS
  else:
    verdict = PARTLY if any(parts) else FAILS
  why = ("not necessary = unregularized test accuracy at least 3x chance and within 5 points "
         "of the regularized run; not sufficient = a regularized network still fits random "
         f"labels (at least {FIT:g}%)")
  if not sufficient_measured:
    why += "; the appendix runs (regularized, random labels) are not measured"
  if not necessary_measured:
    why += "; no unregularized full-data Table 1 run at the paper's schedule"
  return _claim("Explicit regularization is neither necessary nor sufficient for "
                "generalization (Table 1, appendix)", verdict, evidence, why)


def theorem1_claim(theory: Dict[str, List[dict]]) -> dict:
  evidence, ok = [], []
  for r in sorted(theory["theorem1"], key=lambda r: (r["labels"], r["n"])):
    evidence.append(f"{r['dataset']} {r['labels']} labels, n = {r['n']:,}, d = {r['d']}: "
                    f"{r['num_weights']:,} weights fit {100 * r['train_accuracy']:.2f}% "
                    f"(max |error| {r['max_abs_error']:.1e}, {r['precision']}; test "
                    f"{100 * r['test_accuracy']:.2f}%)")
    ok.append(r["train_accuracy"] == 1.0)
  return _claim("Theorem 1: a depth-two ReLU network with 2n + d weights (per output) "
                "represents any labels of n points in d dimensions",
                HOLDS if ok and all(ok) else FAILS, evidence)


def section5_claims(theory: Dict[str, List[dict]]) -> List[dict]:
  evidence, generalizes = [], []
  full_n = False
  for r in sorted(theory["section5"], key=lambda r: (r["dataset"], r["n_train"], r["labels"])):
    evidence.append(f"{r['dataset']} {r['kernel']} kernel, {r['labels']} labels, n = "
                    f"{r['n_train']:,}: train error {100 * r['train_error']:.2f}%, test error "
                    f"{100 * r['test_error']:.2f}% ({r['method']}, {r['precision']})")
    if r["labels"] == "true":
      generalizes.append(r["test_error"] < 0.9 - 0.2 and r["train_error"] == 0.0)
      full_n = full_n or r["n_train"] >= 50_000
  cifar = paper.SECTION5[("cifar10", "gaussian", "raw pixels")]
  verdict = (HOLDS if generalizes and all(generalizes) and full_n else
             PARTLY if any(generalizes) else FAILS)
  why = (f"the paper's {cifar}% test error is on all 50,000 CIFAR-10 images; ours on fewer"
         if not full_n else "")
  mnist = [r for r in theory["section5"] if r["dataset"] == "mnist" and r["labels"] == "true"]
  # The error can be checked; the norms' comparison (Gabor wavelets) is not measured.
  mnist_verdict = PARTLY if any(r["test_error"] <= 0.015 for r in mnist) else FAILS
  return [
      _claim("Section 5: minimum-norm kernel interpolation fits the training set exactly and "
             "still generalizes (CIFAR-10, Gaussian kernel, raw pixels)", verdict, evidence, why),
      _claim("Section 5: on MNIST, kernel interpolation generalizes (paper: 1.2% test error, 0.6% "
             "with Gabor wavelets); the minimum norm does not predict which generalizes better",
             mnist_verdict, [e for e in evidence if e.startswith("mnist")]),
  ]


def rademacher_claim(theory: Dict[str, List[dict]]) -> dict:
  evidence, ok = [], []
  for r in sorted(theory["rademacher"], key=lambda r: r["family"]):
    values = ", ".join(f"n={e['n']}: {e['mean']:.3f}" for e in r["estimates"])
    evidence.append(f"{r['family']} ({r['draws']} draws): {values}")
    if r["family"] != "constant":
      ok.append(all(e["mean"] >= 0.95 for e in r["estimates"]))
  return _claim("Section 2.1: the empirical Rademacher complexity of a class that fits random "
                "labels is about 1 (argued in the paper, not measured there)",
                HOLDS if ok and all(ok) else PARTLY if any(ok) else FAILS, evidence,
                "the constant predictor is the control (expected 0)")


def imagenet_claim(table2: List[dict]) -> dict:
  evidence = []
  for row, e in _completed(table2):
    m = e["metrics"]
    evidence.append(f"{row['setting']} ({e['variant']}): top-1 train "
                    f"{md.pooled_text(m['top1_train'])}%, top-1 test "
                    f"{md.pooled_text(m['top1_test'])}% ({_where(e)})")
  return _claim("Table 2: Inception V3 fits random labels on ImageNet (paper: 95.20% top-1 train) "
                "and regularization is not needed to generalize", PARTLY, evidence,
                "compare the lines in table2.md")


def ledger(report: dict) -> List[dict]:
  figures = report["figures"]
  return [
      *random_labels_fit(report["table1"], report["reduced"]),
      figure1a_claim([figures["figure1a"], figures["figure1a_mlp"]]),
      figure1b_claim(figures["figure1b"]),
      figure1c_claim(figures["figure1c"]),
      batch_norm_claim(figures["figure2b"], report["table1"]),
      regularization_claim(report["table1"], report["appendix"]),
      theorem1_claim(report["theory"]),
      *section5_claims(report["theory"]),
      rademacher_claim(report["theory"]),
      imagenet_claim(report["table2"]),
  ]


def markdown(claims: List[dict], sources: str, fit_threshold: float) -> str:
  lines = ["# Claims ledger: which of the paper's claims hold here", "",
           f"Paper: {paper.CITATION}  ",
           f"Evidence: what the runs and theory results under {sources} measured (Figures 1b/1c "
           f"at --fit_threshold={fit_threshold:g}). A claim without evidence says "
           f"\"{NOT_MEASURED}\"; the paper's numbers appear only as the paper's.", ""]
  lines += md.table(("claim", "verdict"), [(c["claim"], c["verdict"]) for c in claims])
  for c in claims:
    lines += ["", f"## {c['claim']}", "", f"**{c['verdict']}**"
              + (f" ({c['why']})" if c["why"] else ""), ""]
    lines += [f"- {e}" for e in c["evidence"]] or ["- no runs or results"]
  return "\n".join(lines) + "\n"

