"""One way to check flags in every experiments/ app (but train.py and report.py, tested with
their own code): a bad flag, a stray positional argument or a missing flagfile is one
`error: ...` line on stderr, exit status 2, nothing written; --help lists accepted values."""
import os
import subprocess
import sys

import pytest
from absl import flags

from experiments import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APPS = ("expressivity", "linear_models", "rademacher", "preview_corruptions", "benchmark",
        "sweep")
# Flags each app needs so that only the flag under test is wrong.
NEEDS = {"sweep": ["--settings=fig1a"]}


def _run(app, *args, cwd=None):
  return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", f"{app}.py"), *args],
                        capture_output=True, text=True, timeout=60, cwd=cwd)


def _one_error_line(proc, named):
  assert proc.returncode == 2, proc.stdout[-1000:] + proc.stderr[-2000:]
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], proc.stderr
  return lines[0]


@pytest.mark.parametrize("app", APPS)
def test_a_positional_argument_is_refused_before_any_work(app, tmp_path):
  proc = _run(app, *NEEDS.get(app, []), "stray_argument", cwd=tmp_path)
  _one_error_line(proc, "unexpected arguments ['stray_argument']")
  assert os.listdir(tmp_path) == []  # preview_corruptions used to write corruptions.png


@pytest.mark.parametrize("app", APPS)
def test_a_missing_flagfile_is_one_error_line_without_a_doubled_error_word(app, tmp_path):
  line = _one_error_line(_run(app, f"--flagfile={tmp_path / 'missing.flags'}"),
                         "Unable to open flagfile")
  assert "ERROR" not in line


@pytest.mark.parametrize("app,args,named", [
    ("expressivity", ["--labels=noisy"], "--labels=noisy: value should be one of <true|random>"),
    ("expressivity", ["--data_dir=/no/such/dir"], "--data_dir=/no/such/dir: no such directory"),
    ("expressivity", ["--out=/proc/no/x.json"], "--out=/proc/no/x.json"),
    ("linear_models", ["--precision=float16"], "--precision=float16"),
    ("linear_models", ["--labels=true,bogus"], "--labels=true,bogus: must be distinct"),
    ("linear_models", ["--n_test=-3"], "--n_test=-3"),
    ("rademacher", ["--n=0,5"], "--n=0,5: must be comma-separated positive integers"),
    ("rademacher", ["--max_epochs=0"], "--max_epochs=0"),
    ("rademacher", ["--bandwidth=-1"], "--bandwidth=-1"),
    ("preview_corruptions", ["--dataset=svhn"], "--dataset=svhn"),
    ("preview_corruptions", ["--num_images=0"], "--num_images=0"),
    ("preview_corruptions", ["--corrupt_prob=1.5"], "--corrupt_prob=1.5"),
    ("preview_corruptions", ["--pixel_unit=channel"], "--pixel_unit=channel"),
    ("preview_corruptions", ["--out=preview.jpg"], "--out=preview.jpg: must end in .png"),
    ("benchmark", ["--models=resnet50"], "--models=resnet50: must be among"),
    ("benchmark", ["--precisions=float32,fp8"], "--precisions=float32,fp8"),
    ("benchmark", ["--repeats=0"], "--repeats=0"),
    ("benchmark", ["--train_size=10"], "--train_size=10: must hold at least"),
    ("sweep", ["--parallel=0"], "--parallel=0"),
])
def test_bad_flags_are_one_line_naming_flag_and_value(app, args, named, tmp_path):
  proc = _run(app, *NEEDS.get(app, []), *args, cwd=tmp_path)
  _one_error_line(proc, named)
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("app,values", [
    ("expressivity", ["<cifar10|mnist>", "<true|random>"]),
    ("linear_models", ["<gaussian|linear>", "<auto|float64|float32>", "true, random"]),
    ("rademacher", ["<mlp_1x512|kernel_gaussian|kernel_linear|constant>"]),
    ("preview_corruptions", ["<cifar10|mnist>", "<pixel|value>", "1 to 32"]),
    ("benchmark", ["inception_small", "mixed_bfloat16", "false,true"]),
    ("sweep", ["table1", "appendix", "90m"]),
])
def test_help_lists_accepted_values(app, values):
  proc = _run(app, "--help")
  for value in values:
    assert value in proc.stdout, (value, proc.stdout[:3000])


def test_error_line_rewrites_absl_messages():
  required = flags.IllegalFlagValueError(
      "flag --settings=None: Flag --settings must have a value other than None.")
  assert cli.error_line(required) == "error: --settings is required"
  listed = flags.IllegalFlagValueError("flag --labels=['true', 'x']: must be distinct")
  assert cli.error_line(listed) == "error: --labels=true,x: must be distinct"
  flagfile = flags.CantOpenFlagFileError("ERROR:: Unable to open flagfile: [Errno 2] nope")
  assert cli.error_line(flagfile) == "error: Unable to open flagfile: [Errno 2] nope"


def test_an_apps_start_imports_neither_numpy_nor_tensorflow(tmp_path):
  """Flags are checked and --help printed before anything heavy loads: the shared app code and
  the run-directory writer once imported NumPy, which took every app's start from 0.15 to 0.4 s.
  And the writer still turns NumPy values into JSON values."""
  code = ("import sys; from experiments import cli, train; "
          "sys.exit(sorted({'numpy', 'tensorflow'} & set(sys.modules)) or 0)")
  done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                        timeout=60)
  assert done.returncode == 0, (done.stdout, done.stderr[-2000:])
  import json  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from rethinking import rundir  # pylint: disable=import-outside-toplevel
  path = tmp_path / "x.json"
  rundir.atomic_write_json(str(path), {"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True),
                                       "a": np.arange(3), "s": np.str_("x")})
  assert json.load(open(path)) == {"i": 3, "f": 0.5, "b": True, "a": [0, 1, 2], "s": "x"}
