"""What a measurement ran on: device, CPU, memory, library versions.

TensorFlow is imported only by the functions that ask it (`describe_device`, `versions`), so the
report and the sweep can use the rest without paying for the import.
"""
from __future__ import annotations

import os
import platform
import resource


# /proc/cpuinfo flag -> what it adds, widest first. Hosts of one CPU name differ several-fold in
# speed and in float results at one seed (an AVX2 EPYC and an AVX-512 EPYC both say "AMD EPYC"
# under KVM): the vector units a run had are part of what it was measured on.
_ISA_FLAGS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx512_bf16", "BF16"),
              ("amx_tile", "AMX"))


def cpu_isa(flags: str) -> str:
  """The vector extensions that matter for training speed, from a cpuinfo 'flags' value.

  E.g. 'AVX-512/BF16' (an AVX-512 EPYC with bf16 dot products), 'AVX-512/BF16/AMX' (a
  Sapphire Rapids Xeon), 'AVX2' (Zen 3); '' when none is listed (another architecture).
  """
  present = set(flags.split())
  widest = next((name for flag, name in _ISA_FLAGS[:2] if flag in present), None)
  extras = [name for flag, name in _ISA_FLAGS[2:] if flag in present]
  return "/".join(([widest] if widest else []) + extras)


def cpu_description() -> str:
  """E.g. 'CPU: AMD EPYC 7B13 (2 cores; AVX-512/BF16)', without importing TensorFlow."""
  fields = {}  # the first processor's entry is enough: the cores of one VM are alike
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
  except OSError:
    pass
  name = fields.get("model name") or platform.processor() or "unknown"
  isa = cpu_isa(fields.get("flags", ""))
  return f"CPU: {name} ({os.cpu_count()} cores{'; ' + isa if isa else ''})"


def describe_device() -> str:
  """E.g. 'GPU: NVIDIA H200 x1' or 'CPU: Intel Xeon ... (2 cores; AVX-512/BF16/AMX)'."""
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
