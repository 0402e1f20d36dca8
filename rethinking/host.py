"""What a measurement ran on: device, CPU, memory, library versions.

TensorFlow is imported only by the functions that ask it (`describe_device`, `versions`), so the
report and the sweep can use the rest without paying for the import.
"""
from __future__ import annotations

import os
import platform
import resource


def cpu_description() -> str:
  """E.g. 'CPU: AMD EPYC 7B13 (2 cores)', without importing TensorFlow."""
  name = platform.processor() or "unknown"
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          name = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  return f"CPU: {name} ({os.cpu_count()} cores)"


def describe_device() -> str:
  """E.g. 'GPU: NVIDIA H200 x1' or 'CPU: Intel Xeon ... (2 cores)'."""
  # host.py is read by TensorFlow-free code (flags, the report): TensorFlow loads only here.
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  gpus = tf.config.list_physical_devices("GPU")
  if gpus:
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"GPU: {details.get('device_name', 'unknown')} x{len(gpus)}"
  return cpu_description()


def peak_memory_bytes() -> int:
  """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
  return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def versions() -> dict:
  # host.py is read by TensorFlow-free code (flags, the report): TensorFlow loads only here.
  import keras  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  import rethinking  # pylint: disable=import-outside-toplevel
  return {"python": platform.python_version(), "tensorflow": tf.__version__,
          "keras": keras.__version__, "tensorflow_datasets": tfds.__version__,
          "numpy": np.__version__, "rethinking": rethinking.__version__}
