"""The flagfiles under flags/: one per paper setting, each naming its model and corruption (the
campaign resumes runs from them; a meaning that hung on train.py's defaults could change under
it), and agreeing with the runs committed under docs/measurements. No TensorFlow: train.py's
flags are parsed and its config checked before it would load."""
import glob
import json
import os

import pytest
from absl import flags

from experiments import train  # defines train.py's flags
from rethinking import rundir
from rethinking.sweep import settings as sweep
from rethinking import validation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGFILES = sorted(glob.glob(os.path.join(ROOT, "flags", "*", "*.flags")))
MEASUREMENTS = os.path.join(ROOT, "docs", "measurements")
# Flags every flagfile names, so that train.py's defaults never decide what a setting trains.
NAMED = ("model", "corruption")


def _named(path):
  """The flag names a flagfile sets."""
  return [line.strip()[2:].split("=", 1)[0] for line in open(path) if line.startswith("--")]


def _build(path, logdir, defaults=None):
  """(RunConfig, prob_given) as train.py builds it from the flagfile, with `defaults` (flag
  name -> value) in place of train.py's own while it parses."""
  holders = {name: flags.FLAGS[name] for name in defaults or {}}
  saved = {name: holder.default for name, holder in holders.items()}
  try:
    for name, value in (defaults or {}).items():
      flags.FLAGS.set_default(name, value)
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["train.py", f"--flagfile={path}", f"--logdir={logdir}"])
    return train.build_config()
  finally:
    for name, value in saved.items():
      flags.FLAGS.set_default(name, value)
    flags.FLAGS.unparse_flags()


def _without_defaults(path, logdir):
  # A placeholder, not None: train.py's flag holders refuse to read None.
  return _build(path, logdir, defaults={name: "(no default)" for name in NAMED})


def _rel(path):
  return os.path.relpath(path, ROOT)


def test_there_is_a_flagfile_for_every_paper_setting():
  names = {_rel(f)[len("flags/"):-len(".flags")] for f in FLAGFILES}
  counts = {group: len([n for n in names if n.startswith(group + "/")])
            for group in rundir.GROUPS}
  # appendix: the paper's regularized random-label cells we can run (flip + rotation is not
  # offered); fig1a_mlp: Figure 1a's five conditions with the MLP.
  assert counts == {"table1": 19, "table2": 7, "fig1a": 5, "fig1a_mlp": 5, "fig1bc": 18,
                    "fig2b": 2, "appendix": 5, "probes": 22}
  assert {n.split("/")[0] for n in names} == set(counts)


@pytest.mark.parametrize("path", FLAGFILES, ids=_rel)
def test_every_flagfile_names_its_model_and_corruption(path, tmp_path):
  named = _named(path)
  assert all(named.count(name) == 1 for name in NAMED), named
  # Were a default still deciding the model or corruption, dropping it would change the config.
  assert _build(path, tmp_path) == _without_defaults(path, tmp_path)


def test_a_flagfile_that_leaves_the_model_to_the_default_is_caught(tmp_path):
  path = tmp_path / "mlp.flags"
  path.write_text("--corruption=true\n")
  assert _build(path, tmp_path) != _without_defaults(path, tmp_path)


@pytest.mark.parametrize("path", FLAGFILES, ids=_rel)
def test_every_flagfile_builds_a_valid_config_and_repeats_no_other_default(path, tmp_path):
  cfg, prob_given = _build(path, tmp_path)
  assert validation.check_run_config(cfg, prob_given) is None
  for line in open(path):
    if line.startswith("--") and "=" in line:
      name, value = line.strip()[2:].split("=", 1)
      if name not in NAMED:  # the others say only what differs from train.py's defaults
        assert str(flags.FLAGS[name].default) != value, line


def _committed_runs():
  """(flagfile, results.json path, its config) for each committed run whose recorded run name
  is a flagfile's sweep run name (a --train_size or seed-1 rerun keeps that name)."""
  by_run_name = {sweep.setting_for(p).run_name: p for p in FLAGFILES}
  out = []
  for results in sorted(glob.glob(os.path.join(MEASUREMENTS, "**", rundir.RESULTS),
                                  recursive=True)):
    with open(results) as f:
      config = json.load(f)["config"]
    if config.get("run_name") in by_run_name:
      out.append((by_run_name[config["run_name"]], results, config))
  return out


def test_committed_runs_recorded_their_flagfile_model_and_corruption_kind(tmp_path):
  runs = _committed_runs()
  assert len(runs) >= 30  # the fig1bc, fig1a_mlp, appendix and table1 runs: not a vacuous pass
  for path, results, config in runs:
    cfg, _ = _build(path, tmp_path)
    recorded = (config["model"]["name"], config["corruption"]["kind"])
    assert (cfg.model.name, cfg.corruption.kind) == recorded, (_rel(path), _rel(results))


def test_runconfig_default_is_exactly_train_py_with_no_flags(tmp_path):
  """RunConfig() and `python experiments/train.py` must be one run: the defaults have one home
  (rethinking/defaults.py). They differed before (batch 128 and true labels vs MLP random labels
  at batch 64)."""
  flags.FLAGS.unparse_flags()
  try:
    flags.FLAGS(["train.py"])
    built, prob_given = train.build_config()
  finally:
    flags.FLAGS.unparse_flags()
  assert not prob_given
  from rethinking import config as config_lib  # pylint: disable=import-outside-toplevel
  assert built == config_lib.RunConfig()
  assert (built.model.name, built.corruption.kind, built.train.batch_size) == (
      "mlp_1x512", "random_labels", 64)


def test_every_committed_config_reads_back_typed_and_unchanged():
  """RunConfig.from_dict is the one reader of recorded configs: every committed results.json
  round-trips (the random-label probability is the one field it may upgrade)."""
  from rethinking import config as config_lib  # pylint: disable=import-outside-toplevel
  paths = glob.glob(os.path.join(MEASUREMENTS, "**", "results.json"), recursive=True)
  assert len(paths) > 40
  for path in paths:
    recorded = json.load(open(path))["config"]
    back = config_lib.RunConfig.from_dict(recorded).to_dict()
    for section in ("data", "corruption", "model", "train"):
      for key, value in recorded[section].items():
        if (section, key) != ("corruption", "prob"):
          assert back[section][key] == value, (path, section, key)
    assert back["corruption"]["prob"] == config_lib.label_probability(
        recorded["corruption"]["kind"], recorded["corruption"]["prob"])


def test_the_probes_are_refused_where_they_cannot_apply(tmp_path):
  """Streamed ImageNet is not held in memory to re-encode; a quality must be 1-100, an average's
  decay below 1."""
  from rethinking import config as config_lib  # pylint: disable=import-outside-toplevel
  cfg, prob_given = _build(os.path.join(ROOT, "flags", "probes", "alexnet_jpeg_q50.flags"),
                           tmp_path)
  assert cfg.data.jpeg_quality == 50 and validation.check_run_config(cfg, prob_given) is None
  imagenet = config_lib.RunConfig(
      data=config_lib.DataConfig(name="imagenet2012", jpeg_quality=50),
      model=config_lib.ModelConfig(name="inception_v3"), logdir=str(tmp_path))
  refused = validation.check_run_config(imagenet, False)
  assert refused is not None and "--jpeg_quality=50" in str(refused), refused
  above = config_lib.RunConfig(data=config_lib.DataConfig(jpeg_quality=101), logdir=str(tmp_path))
  assert "must be 1-100" in str(validation.check_run_config(above, False))
  ema = config_lib.RunConfig(train=config_lib.TrainConfig(eval_ema=1.0), logdir=str(tmp_path))
  assert "--eval_ema=1.0: must be in [0, 1)" in str(validation.check_run_config(ema, False))


def test_weight_decay_on_hidden_dense_layers_is_refused_where_it_cannot_apply(tmp_path):
  from rethinking import config as config_lib  # pylint: disable=import-outside-toplevel
  cfg, prob_given = _build(os.path.join(ROOT, "flags", "probes", "alexnet_wd_tutorial.flags"),
                           tmp_path)
  assert (cfg.model.weight_decay, cfg.model.weight_decay_layers) == (0.002, "hidden_dense")
  assert validation.check_run_config(cfg, prob_given) is None
  # Its default run directory is not that of the same coefficient on every kernel.
  every = cfg.to_dict()
  every["model"] = {**every["model"], "weight_decay_layers": "all"}
  assert rundir.default_run_name(cfg.to_dict()) != rundir.default_run_name(every)
  def check(name, weight_decay):
    return str(validation.check_run_config(config_lib.RunConfig(
        model=config_lib.ModelConfig(name=name, weight_decay=weight_decay,
                                     weight_decay_layers="hidden_dense"),
        logdir=str(tmp_path)), False))
  # Inception's only dense layer is its classifier; without a weight decay there is no penalty.
  assert "--weight_decay_layers=hidden_dense: needs hidden fully connected layers" in check(
      "inception_small", 5e-4)
  assert "set --weight_decay > 0" in check("alexnet_small", 0.0)
  # A config recorded before the field existed reads as every kernel penalized.
  old = config_lib.RunConfig.from_dict({"model": {"name": "alexnet_small", "weight_decay": 5e-4}})
  assert old.model.weight_decay_layers == "all"


@pytest.mark.parametrize("path", [p for p in FLAGFILES if "/appendix/" in p], ids=_rel)
def test_each_appendix_flagfile_trains_its_rows_cell_at_the_rows_own_schedule(path, tmp_path):
  # The augmentation rows decayed the learning rate by 0.999, not the model's 0.95: a flagfile
  # that kept 0.95 trained another schedule than the paper's row, and one that raised it was
  # labelled off-schedule by the report.
  from rethinking.report import cells  # pylint: disable=import-outside-toplevel
  cfg, _ = _build(path, tmp_path)
  cell = cells.paper_cell(cfg)
  assert (cell.table, cell.setting) == ("appendix", _rel(path)[len("flags/appendix/"):-6])
  assert cells.schedule_deviations(cfg) == []
  assert dict(cell.row.schedule).get("lr_decay", 0.95) == pytest.approx(cfg.train.lr_decay)
  # ... and fills the row's "paper schedule" line (a run stopped at its fit did not, where the
  # row states no length, and the row read "not run" above it).
  assert cells.at_paper_schedule(cfg)

