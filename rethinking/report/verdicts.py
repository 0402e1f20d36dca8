"""Verdicts with their scope: the vocabulary of the claims ledger and the one rule that turns
per-model evidence into a verdict ("holds" needs full-data evidence for every model the claim
is about; evidence on a subset or for some models gives at most "partly")."""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from rethinking.report import markdown as md

HOLDS, PARTLY, FAILS, NOT_MEASURED = "holds", "partly", "does not hold", md.NOT_MEASURED
FULL_N = "n = 50,000"
RULE = (f"A verdict is over the models the claim is about and says its scope: \"{HOLDS}\" needs "
        f"full-data evidence for each; a claim without evidence says \"{NOT_MEASURED}\"; the "
        f"paper's numbers appear only as the paper's.")


def claim(claim: str, verdict: str, evidence: List[str], why: str = "",
          scope: str = "") -> dict:
  return {"claim": claim, "verdict": verdict if evidence else NOT_MEASURED,
          "scope": scope if evidence else "", "evidence": evidence,
          "why": why if evidence else ""}


def names(models: Iterable[str]) -> str:
  return ", ".join(models)


def sizes_text(sizes: Iterable[int]) -> str:
  sizes = sorted(set(sizes))
  text = f"{sizes[0]:,}" if len(sizes) == 1 else f"{sizes[0]:,}-{sizes[-1]:,}"
  return f"n = {text}"


def scoped(models: Sequence[str], outcome: Dict[str, bool], subset: Dict[str, str],
           partial: Optional[Dict[str, str]] = None) -> Tuple[str, str]:
  """(verdict, scope) of a claim about `models` (names, in order) from full-data outcomes
  (model -> whether the claim held for it at n = 50,000) and subset-only evidence (model -> its
  n's text). `partial` names models whose full-data evidence covers only part of what the claim
  is about (model -> what it covers, e.g. "p = 0 and 1 only"): their outcome is shown with it and
  the verdict is at most "partly"."""
  partial = {m: q for m, q in (partial or {}).items() if m in outcome}
  held = [m for m in models if outcome.get(m) is True]
  failed = [m for m in models if outcome.get(m) is False]
  sub = [m for m in models if m not in outcome and m in subset]
  missing = [m for m in models if m not in outcome and m not in subset]
  if not held and not failed:
    verdict = PARTLY if sub else NOT_MEASURED
  elif not held:
    verdict = FAILS
  else:
    verdict = HOLDS if not (failed or sub or missing or partial) else PARTLY
  def at_full(group):
    return names(f"{m} ({partial[m]})" if m in partial else m for m in group)
  parts = [f"holds for {at_full(held)} at {FULL_N}"] if held else []
  parts += [f"does not hold for {at_full(failed)} at {FULL_N}"] if failed else []
  parts += [f"{m}: subset only ({subset[m]})" for m in sub]
  parts += [f"{names(missing)}: not measured"] if missing else []
  return verdict, "; ".join(parts)
