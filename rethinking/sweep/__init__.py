"""Sweeps: many flagfiles -> many runs of experiments/train.py, one subprocess each.

`settings.py` turns setting specs into sorted, sharded settings and their train.py commands;
`runner.py` runs them as child processes and says how each ended. No TensorFlow here: a sweep
starts in a fraction of a second and its children own the devices.
"""
