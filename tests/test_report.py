"""The paper-vs-ours report: finding runs, matching them to the paper by config, the tables,
figures and claims.

Runs are small results.json files generated here (the shape the trainer writes), so these tests
need no data and no training; one test writes TensorBoard events with TensorFlow to check the
event reader against TensorFlow's own.
"""
import glob
import json
import os
import subprocess
import sys

import pytest

from rethinking import defaults
from rethinking import paper
from rethinking import report
from rethinking.report import cells
from rethinking.report import claims as claims_lib
from rethinking.report import events
from rethinking.report import figure1bc
from rethinking.report import markdown as md
from rethinking.report import runs as runs_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def config(model="mlp_1x512", kind="true", prob=0.0, train_size=0, seed=0, dataset="cifar10",
           weight_decay=0.0, dropout=0.0, augment=False, **train):
  """A results.json config as experiments/train.py records it, at the model's defaults."""
  schedule = defaults.defaults_for(model)
  train_section = {"augment": augment, "batch_size": schedule["batch_size"],
                   "deterministic": False, "epochs": schedule["epochs"], "eval_every": 1,
                   "jit": False, "learning_rate": schedule["learning_rate"],
                   "lr_decay": schedule["lr_decay"], "max_steps": 0,
                   "momentum": schedule["momentum"], "precision": "float32", "seed": seed,
                   "steps_per_call": 0, "stop_when_fit": False, "strategy": "default",
                   "test_every": 1}
  train_section.update(train)
  return {"corruption": {"kind": kind, "pixel_unit": "pixel", "prob": prob, "seed": seed},
          "data": {"data_dir": None, "download": True, "name": dataset,
                   "train_size": train_size},
          "logdir": "runs", "run_name": "",
          "model": {"dropout": dropout, "name": model, "weight_decay": weight_decay},
          "train": train_section}


def make_run(parent, name, cfg, train=0.99, test=0.5, status="completed", steps_to_fit=None,
             history=None, final=None):
  """Writes <parent>/<name>/results.json; accuracies are fractions as the trainer writes them."""
  n = cfg["data"]["train_size"] or 50_000
  steps_per_epoch = n // cfg["train"]["batch_size"]
  step = steps_per_epoch * cfg["train"]["epochs"]
  if history is None:  # every 10th epoch and the last, as evaluations the trainer recorded
    epochs = cfg["train"]["epochs"]
    history = [{"epoch": float(e), "step": steps_per_epoch * e,
                "train_accuracy": train * e / epochs,
                "running_train_loss": 2.3 * (1 - e / (epochs + 1)),
                "test_accuracy": test} for e in [*range(1, epochs, 10), epochs]]
  results = {"config": cfg, "status": status,
             "final": {"step": step, "train_accuracy": train, "test_accuracy": test,
                       **(final or {})},
             "steps_per_epoch": steps_per_epoch, "steps_to_fit": steps_to_fit,
             "corruption": {"kind": cfg["corruption"]["kind"], "fingerprint": "c0ffee",
                            "fraction_labels_changed": 0.9 * cells.label_prob(cfg)
                            if cells.label_prob(cfg) is not None else 0.0},
             "data": {"name": cfg["data"]["name"], "train_size": n, "fingerprint": "0f722513ab"},
             "device": "CPU: AMD EPYC (2 cores)", "precision": cfg["train"]["precision"],
             "history": history, "wall_seconds": 10.0}
  run_dir = os.path.join(str(parent), name)
  os.makedirs(run_dir, exist_ok=True)
  with open(os.path.join(run_dir, "results.json"), "w") as f:
    json.dump(results, f)
  return run_dir


def lines_of(report_dict, table, setting):
  (row,) = [r for r in report_dict[table] if r["setting"] == setting]
  return row


def markdown_rows(result, name, setting):
  return [r for r in md.parse_table(result["markdown"][name]) if r["setting"] == setting]


# ---- which paper cell a config is ---------------------------------------------------------------
@pytest.mark.parametrize("kind,prob,setting", [
    ("random_labels", 1.0, "mlp_1x512_random_labels"),
    ("random_labels", 0.0, "mlp_1x512_random_labels"),  # results.json before prob was recorded
    ("labels", 1.0, "mlp_1x512_random_labels"),
    ("labels", 0.0, "mlp_1x512"),
    ("true", 0.0, "mlp_1x512"),
])
def test_labels_with_p_one_is_random_labels_and_p_zero_true_labels(kind, prob, setting):
  cell = cells.paper_cell(config(kind=kind, prob=prob))
  assert (cell.table, cell.setting) == ("table1", setting)


@pytest.mark.parametrize("cfg,expected", [
    (config("inception_small", augment=True, weight_decay=5e-4), ("table1", "inception_crop_wd")),
    (config("alexnet_small", kind="random_labels"), ("table1", "alexnet_random_labels")),
    (config("mlp_3x512", kind="random_labels", weight_decay=5e-4), ("appendix", "mlp_3x512_wd")),
    (config("inception_small", kind="random_labels", augment=True),
     ("appendix", "inception_crop")),
    (config("inception_v3", dataset="imagenet2012", augment=True, dropout=0.5,
            weight_decay=4e-5), ("table2", "aug_dropout_wd")),
    (config("inception_v3", dataset="imagenet2012", kind="random_labels"),
     ("table2", "random_labels")),
])
def test_each_config_finds_its_paper_row(cfg, expected):
  cell = cells.paper_cell(cfg)
  assert (cell.table, cell.setting) == expected


@pytest.mark.parametrize("cfg", [config(kind="labels", prob=0.4), config(kind="gaussian"),
                                 config(dropout=0.5), config(dataset="mnist"),
                                 config("inception_small_nobn", kind="random_labels",
                                        weight_decay=5e-4)])
def test_configs_the_paper_does_not_tabulate_have_no_cell(cfg):
  assert cells.paper_cell(cfg) is None and cells.paper_numbers_line(cfg) is None


def test_paper_numbers_line_names_the_table_and_the_numbers():
  assert (cells.paper_numbers_line(config(kind="labels", prob=1.0))
          == "paper (Table 1, MLP 1x512, random labels): train 99.34 / test 10.61")
  assert cells.paper_numbers_line(config("alexnet_small", kind="random_labels",
                                         weight_decay=5e-4)) == (
      "paper (appendix, Alexnet, random labels, weight decay): train fails to converge")
  line = cells.paper_numbers_line(config(train_size=1000))
  assert line.startswith("paper (Table 1, MLP 1x512, true labels): train 100.00 / test 50.51")
  assert "1000" in line


def test_the_schedule_is_compared_with_the_models_own_defaults():
  assert cells.at_paper_schedule(config("mlp_1x512"))  # batch 64
  assert cells.schedule_deviations(config("mlp_1x512", batch_size=128)) == ["batch 128"]
  assert cells.at_paper_schedule(config("inception_small_nobn"))  # learning rate 0.01
  assert cells.schedule_deviations(config("inception_small", learning_rate=0.01)) == ["lr 0.01"]
  assert cells.schedule_deviations(config(stop_when_fit=True, precision="mixed_bfloat16")) == [
      "stop when fit", "mixed_bfloat16"]
  # Execution details do not change the setting.
  assert cells.setting_key(config(jit=True, eval_every=5, seed=3)) == cells.setting_key(config())


# ---- finding runs -------------------------------------------------------------------------------
def test_a_hand_run_with_the_default_name_in_any_logdir_fills_its_table1_row(tmp_path):
  deep = tmp_path / "my" / "own" / "place"
  make_run(deep, "mlp_1x512_cifar10_true_s0", config(), train=0.99992, test=0.508)
  result = report.build_report([str(tmp_path / "my")], str(tmp_path / "out"))
  row = lines_of(result, "table1", "mlp_1x512")
  (entry,) = row["ours"]
  assert entry["paper_schedule"] and row["ours_missing"] is None
  assert entry["metrics"]["test"]["mean"] == pytest.approx(50.8)
  assert entry["difference"]["test"] == pytest.approx(50.8 - 50.51)
  (cells_md,) = markdown_rows(result, "table1.md", "mlp_1x512")
  assert cells_md["ours test"] == "50.80" and cells_md["ours − paper test"] == "+0.29"
  for word in ("100 epochs", "batch 64", "seed 0", "CPU", "float32"):
    assert word in cells_md["ours ran on"]


def test_a_labels_run_with_p_one_fills_the_random_labels_row(tmp_path):
  make_run(tmp_path, "fig1bc-mlp_1x512_p1.0", config(kind="labels", prob=1.0),
           train=0.9938, test=0.1)
  result = report.build_report([str(tmp_path)], str(tmp_path / "out"))
  (entry,) = lines_of(result, "table1", "mlp_1x512_random_labels")["ours"]
  assert entry["metrics"]["train"]["mean"] == pytest.approx(99.38)
  assert lines_of(result, "table1", "mlp_1x512")["ours"] == []


def test_a_train_size_run_appears_only_in_the_reduced_table(tmp_path):
  make_run(tmp_path, "table1-alexnet", config("alexnet_small", train_size=1000), train=1.0,
           test=0.43)
  result = report.build_report([str(tmp_path)], str(tmp_path / "out"))
  assert all(not row["ours"] for row in result["table1"])
  assert lines_of(result, "table1", "alexnet")["ours_missing"] == md.NOT_RUN
  (reduced,) = result["reduced"]
  assert reduced["setting"] == "alexnet" and reduced["train_size"] == 1000
  (line,) = md.parse_table(result["markdown"]["reduced.md"])
  assert line["n"] == "1000" and line["test"] == "43.00"


def test_two_logdirs_with_same_named_run_directories_are_both_read_and_seeds_pool(tmp_path):
  make_run(tmp_path / "a", "table1-mlp_1x512", config(seed=0), test=0.50)
  make_run(tmp_path / "b", "table1-mlp_1x512", config(seed=1), test=0.52)
  runs, _ = runs_lib.load_runs([str(tmp_path / "a"), str(tmp_path / "b")])
  assert len(runs) == 2
  result = report.build_report([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "o"))
  (entry,) = lines_of(result, "table1", "mlp_1x512")["ours"]
  assert len(entry["runs"]) == 2 and "seeds 0, 1" in entry["ran_on"]
  (cells_md,) = markdown_rows(result, "table1.md", "mlp_1x512")
  assert cells_md["ours test"] == "51.00 (50.00-52.00, 2 seeds)"


def test_a_logdir_inside_another_is_read_once(tmp_path):
  make_run(tmp_path / "a", "x", config())
  runs, _ = runs_lib.load_runs([str(tmp_path), str(tmp_path / "a")])
  assert list(runs) == [os.path.normpath(str(tmp_path / "a" / "x"))]


def test_another_schedule_is_its_own_labelled_line_without_a_difference(tmp_path):
  make_run(tmp_path, "paper", config(), test=0.508)
  make_run(tmp_path, "fast", config(batch_size=128, epochs=60, stop_when_fit=True), test=0.509)
  result = report.build_report([str(tmp_path)], str(tmp_path / "out"))
  first, second = markdown_rows(result, "table1.md", "mlp_1x512")
  assert first["ours: schedule"] == "paper schedule" and first["ours − paper test"] == "+0.29"
  assert second["ours: schedule"] == "batch 128, 60 epochs, stop when fit"
  assert second["ours test"] == "50.90" and second["ours − paper test"] == "-"


def test_without_a_run_at_the_papers_schedule_the_row_says_not_run(tmp_path):
  make_run(tmp_path, "fast", config(batch_size=128), test=0.509)
  (tmp_path / "pending").mkdir()
  (tmp_path / "pending" / "state.json").write_text(json.dumps({"config": config("alexnet_small")}))
  result = report.build_report([str(tmp_path)], str(tmp_path / "out"))
  first, second = markdown_rows(result, "table1.md", "mlp_1x512")
  assert first["ours train"] == first["ours test"] == md.NOT_RUN
  assert second["ours: schedule"] == "batch 128"
  assert markdown_rows(result, "table1.md", "alexnet")[0]["ours test"] == md.NOT_FINISHED
  for row in paper.TABLE1:
    for line in markdown_rows(result, "table1.md", row.setting):
      ours = [v for k, v in line.items() if k.startswith("ours") and k != "ours: schedule"]
      if line["ours: schedule"] == "paper schedule" and row.setting != "mlp_1x512":
        assert str(row.test) not in ours and str(row.train) not in ours, row.setting


def test_a_diverged_run_shows_where_it_diverged_not_numbers(tmp_path):
  run_dir = make_run(tmp_path, "nobn", config("inception_small_nobn"), status="diverged")
  data = json.load(open(os.path.join(run_dir, "results.json")))
  data["diverged_at_step"] = 17
  json.dump(data, open(os.path.join(run_dir, "results.json"), "w"))
  result = report.build_report([str(tmp_path)], str(tmp_path / "out"))
  (line,) = markdown_rows(result, "table1.md", "inception_nobn")[1:]
  assert line["ours test"] == "diverged at step 17"


def test_table2_shows_the_top5_accuracies_the_trainer_records(tmp_path):
  make_run(tmp_path, "v3", config("inception_v3", dataset="imagenet2012"), train=0.99,
           test=0.60, final={"train_top5_accuracy": 1.0, "test_top5_accuracy": 0.81})
  result = report.build_report([str(tmp_path)], str(tmp_path / "out"))
  (line,) = markdown_rows(result, "table2.md", "none")
  assert line["ours top-5 test"] == "81.00" and line["ours top-5 train"] == "100.00"
  assert line["ours − paper top-5 test"] == f"{81.0 - 80.38:+.2f}"
  assert "(unconfirmed)" in markdown_rows(result, "table2.md", "aug")[0]["paper top-1 train"]


def test_the_appendix_table_has_its_rows_marks_and_runs(tmp_path):
  make_run(tmp_path, "appendix-mlp_1x512_wd", config(kind="random_labels", weight_decay=5e-4),
           train=0.985, test=0.1)
  result = report.build_report([str(tmp_path)], str(tmp_path / "out"))
  rows = md.parse_table(result["markdown"]["appendix.md"])
  assert len(rows) == len(paper.APPENDIX)
  (line,) = [r for r in rows if r["setting"] == "mlp_1x512_wd"]
  assert line["paper train"] == "99.21 (unconfirmed)" and line["ours train"] == "98.50"
  assert [r for r in rows if r["setting"] == "alexnet_wd"][0]["paper train"] == (
      "fails to converge")
  assert lines_of(result, "table1", "mlp_1x512_random_labels")["ours"] == []


# ---- figures ----------------------------------------------------------------------------------
def test_figure1b_without_a_fitted_true_label_run_says_so_inside_the_axes(tmp_path):
  make_run(tmp_path, "p0", config(kind="labels", prob=0.0), train=0.9999)
  make_run(tmp_path, "p1", config(kind="labels", prob=1.0), train=0.98)
  out = tmp_path / "out"
  out.mkdir()
  figure = figure1bc.figure1b(runs_lib.load_runs([str(tmp_path)])[0], str(out / "f.png"), 1.0)
  assert figure["note"] == "no runs"
  (note,) = figure["notes"]
  assert "try --fit_threshold=0.99" in note and "best 99.99%" in note
  assert (out / "f.png").read_bytes().startswith(PNG_SIGNATURE)
  # At the suggested threshold the line is drawn.
  figure = figure1bc.figure1b(runs_lib.load_runs([str(tmp_path)])[0], str(out / "g.png"), 0.99)
  assert figure["note"] is None


def test_a_note_stays_inside_the_axes(tmp_path):
  from rethinking.report import plotting  # pylint: disable=import-outside-toplevel
  fig, ax = plotting.new_figure("title")
  plotting.note_in_axes(ax, ["a long note " * 30, "and another " * 10])
  fig.canvas.draw()
  renderer = fig.canvas.get_renderer()
  (text,) = ax.texts
  box, axes = text.get_window_extent(renderer), ax.get_window_extent(renderer)
  assert axes.x0 <= box.x0 and box.x1 <= axes.x1 and axes.y0 <= box.y0 and box.y1 <= axes.y1


def test_figures_are_drawn_from_results_json_alone(tmp_path):
  for condition in cells.FIG1A_CONDITIONS:
    kind = {"true_labels": "true"}.get(condition, condition)
    make_run(tmp_path, f"fig1a_mlp-{condition}", config(kind=kind), train=1.0)
  result = report.write_report([str(tmp_path)], str(tmp_path / "out"))
  curves = result["figures"]["figure1a_mlp"]["curves"]
  assert [c["condition"] for c in curves] == list(cells.FIG1A_CONDITIONS)
  assert all(c["source"].startswith("results.json history") for c in curves)
  assert result["figures"]["figure1a"]["note"] == "no runs"  # Inception: none
  for name in report.FIGURE_NAMES:
    assert (tmp_path / "out" / f"{name}.png").read_bytes().startswith(PNG_SIGNATURE)
  saved = json.loads((tmp_path / "out" / "report.json").read_text())
  assert len(saved["runs"]) == 5 and saved["runs_not_in_any_table_or_figure"] == []


def test_per_step_loss_read_from_event_files_matches_tensorflows_reader(tmp_path):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  writer = tf.summary.create_file_writer(str(tmp_path))
  with writer.as_default():
    for step in range(1, 41):
      tf.summary.scalar("train/loss", 2.3 / step, step=step)
      tf.summary.scalar("train/learning_rate", 0.01, step=step)
  writer.close()
  steps, losses = events.step_losses(str(tmp_path))
  assert steps.tolist() == list(range(1, 41))
  expected = {}
  for path in glob.glob(str(tmp_path / "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for v in event.summary.value:
        if v.tag == "train/loss":
          expected[event.step] = float(tf.make_ndarray(v.tensor))
  assert losses.tolist() == pytest.approx([expected[s] for s in steps.tolist()])
  (event_file,) = glob.glob(str(tmp_path / "events.out.tfevents.*"))
  data = open(event_file, "rb").read()
  cut = tmp_path / "cut"
  cut.mkdir()
  (cut / os.path.basename(event_file)).write_bytes(data[:len(data) // 2])
  cut_steps, _ = events.step_losses(str(cut))
  assert 0 < len(cut_steps) < len(steps)


# ---- claims -----------------------------------------------------------------------------------
def test_a_claim_without_evidence_says_not_measured(tmp_path):
  result = report.build_report([str(tmp_path)], str(tmp_path / "out"))
  assert {c["verdict"] for c in result["claims"]} == {claims_lib.NOT_MEASURED}
  text = result["markdown"]["claims.md"]
  assert "99.34" not in text and "10.61" not in text  # never the paper's word as ours


def test_the_random_label_claim_cites_our_number_and_what_it_ran_on(tmp_path):
  make_run(tmp_path, "rl", config(kind="random_labels"), train=0.9938, test=0.1)
  result = report.build_report([str(tmp_path)], str(tmp_path / "out"))
  claim = result["claims"][0]
  assert claim["verdict"] == claims_lib.PARTLY  # only one of five models measured
  assert "99.38% train" in claim["evidence"][0] and "n=50000" in claim["evidence"][0]


def test_theory_results_under_a_logdir_feed_the_claims(tmp_path):
  (tmp_path / "theory").mkdir()
  (tmp_path / "theory" / "e.json").write_text(json.dumps({
      "dataset": "cifar10", "labels": "random", "n": 1000, "d": 3072, "num_weights": 14072,
      "train_accuracy": 1.0, "test_accuracy": 0.1, "max_abs_error": 1e-9,
      "precision": "float64"}))
  result = report.build_report([str(tmp_path)], str(tmp_path / "out"))
  theorem = [c for c in result["claims"] if c["claim"].startswith("Theorem 1")][0]
  assert theorem["verdict"] == claims_lib.HOLDS and "14,072 weights" in theorem["evidence"][0]


# ---- the app ----------------------------------------------------------------------------------
def test_report_script_takes_several_logdirs_and_refuses_bad_flags(tmp_path):
  make_run(tmp_path / "a", "run", config(seed=0))
  make_run(tmp_path / "b", "run", config(seed=1))
  make_run(tmp_path / "c", "run", config(seed=2))
  script = os.path.join(ROOT, "experiments", "report.py")
  out = tmp_path / "out"
  done = subprocess.run([sys.executable, script, f"--logdir={tmp_path / 'a'},{tmp_path / 'b'}",
                         f"--logdir={tmp_path / 'c'}", f"--out={out}"],
                        capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stderr[-2000:]
  assert "runs found: 3" in done.stdout and "3 seeds" in (out / "table1.md").read_text()
  assert (out / "claims.md").exists() and (out / "appendix.md").exists()
  (tmp_path / "a_file").write_text("")
  for args in ([f"--logdir={tmp_path / 'missing'}", f"--out={tmp_path / 'o2'}"],
               [f"--logdir={tmp_path / 'a'},{tmp_path / 'missing'}", f"--out={tmp_path / 'o2'}"],
               [f"--logdir={tmp_path / 'a'}", f"--out={tmp_path / 'a_file'}"],
               [f"--logdir={tmp_path / 'a'}", f"--out={tmp_path / 'o2'}", "--fit_threshold=0"]):
    bad = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
  assert not (tmp_path / "o2").exists()


def test_the_report_imports_neither_the_trainer_nor_tensorflow(tmp_path):
  make_run(tmp_path, "run", config())
  # The trainer's end-of-run summary asks cells for the paper's numbers: no plotting for that.
  code = ("import sys; from rethinking.report import cells; "
          "cells.paper_numbers_line({'model': {'name': 'mlp_1x512'}}); "
          "sys.exit(1 if 'matplotlib' in sys.modules else 0)")
  done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        timeout=120, cwd=ROOT)
  assert done.returncode == 0, done.stderr[-2000:]
  code = ("import sys; from rethinking import report; "
          f"report.write_report([{str(tmp_path)!r}], {str(tmp_path / 'out')!r}); "
          "bad = [m for m in sys.modules if m.startswith(('rethinking.training', 'tensorflow'))]; "
          "print(bad); sys.exit(1 if bad else 0)")
  done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        timeout=120, cwd=ROOT)
  assert done.returncode == 0, done.stdout + done.stderr[-2000:]
