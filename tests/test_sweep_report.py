"""Sweeps and the paper-vs-ours report.

The report tests read run directories made by tiny real runs of the trainer (MLP 1x512 on
64 mock CIFAR-10 images); the sweep tests substitute a small fake training command, since tfds
mock data does not cross a process boundary.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from rethinking import config as config_lib
from rethinking import paper
from rethinking import report
from rethinking import sweep
from rethinking.report import figures
from rethinking.report import runs as runs_lib
from rethinking.report import tables
from rethinking.training import trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _tiny_run(logdir, run_name, kind, prob=0.0):
  cfg = config_lib.RunConfig(
      data=config_lib.DataConfig(name="cifar10"),
      corruption=config_lib.CorruptionConfig(kind=kind, prob=prob, seed=1),
      model=config_lib.ModelConfig(name="mlp_1x512"),
      train=config_lib.TrainConfig(epochs=2, batch_size=16, learning_rate=0.01, seed=1,
                                   stop_when_fit=True),
      logdir=str(logdir), run_name=run_name)
  return trainer.train(cfg)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
  """Two real runs (true labels; random labels), named as the sweep names them, copies of them
  under the names of other settings (the report joins by directory name only; a true-label run
  has label corruption p = 0), and one unfinished run."""
  logdir = tmp_path_factory.mktemp("runs")
  with tfds.testing.mock_data(num_examples=64):
    _tiny_run(logdir, "table1-mlp_1x512", "true")
    _tiny_run(logdir, "fig1bc-mlp_1x512_p1.0", "labels", 1.0)
  for source, copy in (("table1-mlp_1x512", "fig1bc-mlp_1x512_p0.0"),
                       ("fig1bc-mlp_1x512_p1.0", "table1-mlp_1x512_random_labels"),
                       ("fig1bc-mlp_1x512_p1.0", "fig1a-random_labels"),
                       ("table1-mlp_1x512", "fig1a-true_labels"),
                       ("table1-mlp_1x512", "fig2b-inception_bn")):
    shutil.copytree(logdir / source, logdir / copy)
  (logdir / "table1-alexnet").mkdir()
  (logdir / "table1-alexnet" / "state.json").write_text("{}")
  return logdir


@pytest.fixture(scope="module")
def written(logdir, tmp_path_factory):
  out = tmp_path_factory.mktemp("report")
  return out, report.write_report(str(logdir), str(out))


def _rows(out, name):
  return {r["setting"]: r for r in tables.parse_markdown_table((out / name).read_text())}


def _measured(logdir, run_name, split):
  results = json.loads((logdir / run_name / "results.json").read_text())
  return 100.0 * results["final"][f"{split}_accuracy"]


# ---- report ----------------------------------------------------------------------------------
def test_table1_puts_paper_and_measured_values_in_separate_columns(logdir, written):
  out, _ = written
  rows = _rows(out, "table1.md")
  assert len(rows) == len(paper.TABLE1)
  for setting, row in (("mlp_1x512", paper.table1_row("mlp_1x512")),
                       ("mlp_1x512_random_labels", paper.table1_row("mlp_1x512_random_labels"))):
    cells = rows[f"table1-{setting}"]
    assert cells["paper train"] == str(row.train) and cells["paper test"] == str(row.test)
    train, test = (_measured(logdir, f"table1-{setting}", s) for s in ("train", "test"))
    assert cells["ours train"] == f"{train:.2f}" and cells["ours test"] == f"{test:.2f}"
    assert cells["ours − paper test"] == f"{test - row.test.value:+.2f}"
    assert "n=64" in cells["ours ran on"] and "CPU" in cells["ours ran on"]
    assert "float32" in cells["ours ran on"] and "data cifar10:" in cells["ours ran on"]
  # Random labels on mock data: far from the paper's 10.61 (and so visibly ours).
  assert rows["table1-mlp_1x512_random_labels"]["ours test"] != "10.61"


def test_a_setting_without_a_run_says_not_run_never_the_papers_number(written):
  out, result = written
  rows = _rows(out, "table1.md")
  for row in paper.TABLE1:
    if row.setting in ("mlp_1x512", "mlp_1x512_random_labels", "alexnet"):
      continue
    cells = rows[f"table1-{row.setting}"]
    assert cells["ours train"] == cells["ours test"] == "not run", row.setting
    assert cells["paper test"] == str(row.test)
    ours_cells = [cells[k] for k in cells if k.startswith("ours")]
    assert str(row.test) not in ours_cells and str(row.train) not in ours_cells
  # A run directory without results.json is unfinished, not a result.
  assert rows["table1-alexnet"]["ours test"] == "not finished"
  by_setting = {r["setting"]: r for r in result["table1"]}
  assert by_setting["inception"]["ours"] is None
  assert by_setting["inception"]["difference"] == {"train": None, "test": None}
  assert by_setting["mlp_1x512"]["ours"]["train_size"] == 64


def test_table2_shows_unconfirmed_marks_and_not_run(written):
  out, _ = written
  text = (out / "table2.md").read_text()
  rows = _rows(out, "table2.md")
  assert "(unconfirmed)" in rows["table2-aug_dropout_wd"]["paper top-1 train"]
  assert rows["table2-none"]["paper top-1 test [best]"].startswith("59.80 [best 63.16")
  assert rows["table2-none"]["ours top-1 train"] == "not run"
  assert "83.60" in text  # the AlexNet reference row


def test_report_json_has_paper_and_ours_side_by_side(written):
  out, _ = written
  data = json.loads((out / "report.json").read_text())
  rows = {r["setting"]: r for r in data["table1"]}
  assert rows["mlp_1x512"]["paper"]["test"]["value"] == 50.51
  assert rows["mlp_1x512"]["ours"]["test"] is not None
  assert rows["inception"]["ours"] is None
  assert all(r["ours"] is None for r in data["table2"])
  assert data["unfinished_runs"] == {"table1-alexnet": "not finished (no results.json)"}
  (group,) = data["figures"]["figure1b"]["models"]
  assert group["model"] == "mlp_1x512" and [q["p"] for q in group["points"]] == [0.0, 1.0]
  assert group["points"][0]["relative_time_to_fit"] == 1.0


def test_time_to_fit_can_count_a_lower_training_accuracy_as_fit(logdir):
  runs, _ = runs_lib.load_runs(str(logdir))
  (strict,) = figures.corruption_points(runs, 1.0).values()
  (loose,) = figures.corruption_points(runs, 1e-6).values()
  for a, b in zip(strict, loose):
    history = runs[a["run"]].history
    assert a["steps_to_threshold"] == a["steps_to_fit"] == runs[a["run"]].results["steps_to_fit"]
    assert b["steps_to_threshold"] == history[0]["step"]


def test_figures_are_written_as_non_empty_pngs(written):
  out, result = written
  for name in ("figure1a", "figure1b", "figure1c", "figure2b"):
    data = (out / f"{name}.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000, name
    assert result["figures"][name]["note"] is None, name
  curves = {c["condition"]: c for c in result["figures"]["figure1a"]["curves"]}
  assert set(curves) == {"true_labels", "random_labels"}
  assert curves["random_labels"]["source"].startswith("per-step train/loss")


def test_per_step_loss_read_from_event_files_matches_tensorflows_reader(logdir, tmp_path):
  run_dir = logdir / "table1-mlp_1x512"
  results = json.loads((run_dir / "results.json").read_text())
  steps, losses = runs_lib.step_losses(str(run_dir))
  assert list(steps) == list(range(1, results["final"]["step"] + 1))
  expected = {}
  for path in glob.glob(str(run_dir / "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for v in event.summary.value:
        if v.tag == "train/loss":
          expected[event.step] = float(tf.make_ndarray(v.tensor))
  assert losses.tolist() == pytest.approx([expected[s] for s in steps.tolist()])
  # An event file cut short by a kill: the records before the cut are kept.
  (event_file,) = glob.glob(str(run_dir / "events.out.tfevents.*"))
  data = open(event_file, "rb").read()
  (tmp_path / os.path.basename(event_file)).write_bytes(data[:len(data) // 2])
  cut_steps, _ = runs_lib.step_losses(str(tmp_path))
  assert 0 < len(cut_steps) <= len(steps)


def test_an_empty_logdir_gives_not_run_tables_and_no_runs_figures(tmp_path):
  (tmp_path / "runs").mkdir()
  result = report.write_report(str(tmp_path / "runs"), str(tmp_path / "out"))
  assert all(r["ours"] is None for r in result["table1"])
  for name in ("figure1a", "figure1b", "figure1c", "figure2b"):
    assert result["figures"][name]["note"] == "no runs"
    assert (tmp_path / "out" / f"{name}.png").read_bytes().startswith(PNG_SIGNATURE)


def test_report_script_prints_tables_and_refuses_bad_flags(logdir, tmp_path):
  script = os.path.join(ROOT, "experiments", "report.py")
  out = tmp_path / "out"
  done = subprocess.run([sys.executable, script, f"--logdir={logdir}", f"--out={out}"],
                        capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stderr[-2000:]
  assert "| table1-mlp_1x512 |" in done.stdout and "not run" in done.stdout
  assert (out / "table1.md").exists() and (out / "report.json").exists()
  (tmp_path / "a_file").write_text("")
  for args in ([f"--logdir={tmp_path / 'missing'}", f"--out={tmp_path / 'o2'}"],
               [f"--logdir={logdir}", f"--out={tmp_path / 'a_file'}"],
               [f"--logdir={logdir}", f"--out={tmp_path / 'a_file' / 'sub'}"],
               [f"--logdir={logdir}", f"--out={tmp_path / 'o2'}", "--fit_threshold=0"]):
    bad = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
  assert not (tmp_path / "o2").exists()


# ---- sweep -----------------------------------------------------------------------------------
FAKE_TRAIN = textwrap.dedent("""\
    import json, os, sys
    args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    run_dir = os.path.join(args["logdir"], args["run_name"])
    with open(os.path.join(args["logdir"], "calls.txt"), "a") as f:
      f.write(" ".join([args["run_name"]] + sys.argv[1:]) + "\\n")
    if "fail" in open(args["flagfile"]).read():
      print("this setting fails")
      sys.exit(1)
    with open(os.path.join(run_dir, "results.json"), "w") as f:
      json.dump({"status": "completed"}, f)
    """)


@pytest.fixture
def toy(tmp_path):
  """Three flagfiles in a group "toy" (the second fails) and a fake training command."""
  group = tmp_path / "flags" / "toy"
  group.mkdir(parents=True)
  for name in ("a", "b", "c"):
    (group / f"{name}.flags").write_text("# fail\n" if name == "b" else "--model=mlp_1x512\n")
  (tmp_path / "fake_train.py").write_text(FAKE_TRAIN)
  return tmp_path


def _calls(logdir):
  path = logdir / "calls.txt"
  return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def _sweep(toy, *args):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "experiments", "sweep.py"),
       f"--settings={toy / 'flags' / 'toy' / '*.flags'}", f"--logdir={toy / 'logs'}",
       f"--train_command={sys.executable} {toy / 'fake_train.py'}", *args],
      capture_output=True, text=True, timeout=60)


def test_sweep_goes_on_past_a_failing_run_and_exits_nonzero(toy):
  done = _sweep(toy, "--parallel=2", "--epochs=3", "--jit", "--extra=--seed=5")
  assert done.returncode == 1, done.stdout + done.stderr
  assert sorted(_calls(toy / "logs")) == ["toy-a", "toy-b", "toy-c"]
  assert "--epochs=3" in (toy / "logs" / "calls.txt").read_text()
  assert "--jit --seed=5" in (toy / "logs" / "calls.txt").read_text()
  table = done.stdout[done.stdout.index("setting  "):]
  assert re.search(r"toy-b +failed \(exit 1\)", table) and re.search(r"toy-a +completed", table)
  assert "this setting fails" in (toy / "logs" / "toy-b" / "train.log").read_text()


def test_sweep_skips_completed_runs_and_runs_broken_ones_again(toy):
  logs = toy / "logs"
  (logs / "toy-a").mkdir(parents=True)
  (logs / "toy-a" / "results.json").write_text(json.dumps({"status": "completed"}))
  (logs / "toy-c").mkdir()
  (logs / "toy-c" / "results.json").write_text(json.dumps({"status": "stopped"}))
  done = _sweep(toy)
  assert done.returncode == 1
  assert sorted(_calls(logs)) == ["toy-b", "toy-c"]
  assert re.search(r"toy-a +skipped \(completed\)", done.stdout)
  (logs / "calls.txt").unlink()
  outcomes = sweep.run_sweep(sweep.expand_settings([str(toy / "flags" / "toy" / "[ac].flags")]),
                             str(logs), train_command=[sys.executable, str(toy / "fake_train.py")],
                             echo=lambda line: None)
  assert [o.status for o in outcomes] == ["skipped (completed)"] * 2 and not _calls(logs)


@pytest.mark.parametrize("num_shards", [1, 2, 3, 7, 60])
def test_shards_are_disjoint_and_together_hold_every_setting(num_shards):
  settings = sweep.expand_settings(list(sweep.GROUPS))
  assert len(settings) == 19 + 7 + 5 + 18 + 2
  shards = [sweep.shard(settings, i, num_shards) for i in range(num_shards)]
  names = [s.run_name for part in shards for s in part]
  assert sorted(names) == sorted(s.run_name for s in settings)  # complete, nothing twice


def test_settings_are_named_group_dash_name_as_the_paper_module_keys_them():
  settings = sweep.expand_settings(["table1", "flags/fig1bc/mlp_*.flags"])
  names = {s.run_name for s in settings}
  assert {f"table1-{r.setting}" for r in paper.TABLE1} <= names
  assert "fig1bc-mlp_1x512_p0.4" in names and len(names) == 19 + 6
  cmd = sweep.command_for(settings[0], "/tmp/x", {"train_size": 1000, "jit": True,
                                                  "epochs": None}, ["--seed=2"])
  assert cmd[-3:] == ["--train_size=1000", "--jit", "--seed=2"]
  assert f"--run_name={settings[0].run_name}" in cmd


def test_sweep_dry_run_shards_match_the_library(toy):
  seen = []
  for i in range(2):
    done = _sweep(toy, "--dry_run", "--num_shards=2", f"--shard_index={i}")
    assert done.returncode == 0, done.stderr
    seen += [line.split("--run_name=")[1].split()[0] for line in done.stdout.splitlines()
             if "--run_name=" in line]
  assert sorted(seen) == ["toy-a", "toy-b", "toy-c"]
  assert not (toy / "logs").exists()


@pytest.mark.parametrize("args", [
    ["--settings=no_such_group"],
    ["--settings=flags/nothing/*.flags"],
    ["--settings=fig1a", "--num_shards=3", "--shard_index=3"],
    ["--settings=fig1a", "--shard_index=-1"],
    ["--settings=fig1a", "--parallel=0"],
    ["--settings=fig1a", "--epochs=0"],
    ["--settings=fig1a", "--logdir={file}/sub"],
    ["--settings=fig1a", "--extra='unclosed"],
    ["--settings=fig1a", "--train_command=/no/such/python experiments/train.py"],
])
def test_sweep_refuses_bad_flags_with_one_line_and_creates_nothing(tmp_path, args):
  (tmp_path / "a_file").write_text("")
  args = [a.replace("{file}", str(tmp_path / "a_file")) for a in args]
  if not any(a.startswith("--logdir") for a in args):
    args.append(f"--logdir={tmp_path / 'logs'}")
  done = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "sweep.py"), *args],
                        capture_output=True, text=True, timeout=60)
  assert done.returncode == 2, done.stdout + done.stderr
  assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error:")
  assert sorted(os.listdir(tmp_path)) == ["a_file"]
