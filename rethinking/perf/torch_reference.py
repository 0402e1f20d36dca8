"""The small Inception (Appendix A) in plain PyTorch: the reference our training step is timed
against (`experiments/benchmark.py --baseline=torch`).

PyTorch's best easy configuration on CPU: eager mode, `channels_last` memory format, float32 or
bfloat16 autocast, SGD with momentum. Same layers, widths and padding as
rethinking/models/inception_small.py, and the same trainable parameters (1,649,402): batch norm
has a learned offset and no learned scale (affine, with the scale frozen at 1), convolutions
have no bias.

It runs in its own process (`TorchReference`), so torch and TensorFlow never share one (their
thread pools and oneDNN builds would compete); the benchmark asks it for one timed call at a
time and interleaves these calls with its own. torch is an optional extra (`pip install
.[torch]`); this module imports it only inside the subprocess.

  python -m rethinking.perf.torch_reference --precision=float32 --batch_size=128 --steps=20
  (then one line per request on stdin: "time" -> seconds of `steps` training steps; "quit")
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from typing import List, Optional

PRECISIONS = ("float32", "mixed_bfloat16")
# (1x1 channels, 3x3 channels) per Inception module, or ("down", 3x3 channels) per Downsample
# module, in order: Figure 3 / models/inception_small.py.
ARCHITECTURE = ((32, 32), (32, 48), ("down", 80), (112, 48), (96, 64), (80, 80), (48, 96),
                ("down", 96), (176, 160), (176, 160))
BATCH_NORM_MOMENTUM = 0.1  # PyTorch counts momentum the other way round: Keras' 0.9
BATCH_NORM_EPSILON = 1e-3


def available() -> bool:
  """True when torch can be imported (the optional extra is installed)."""
  return importlib.util.find_spec("torch") is not None


def build(num_classes: int = 10, in_channels: int = 3):
  """The network as a torch.nn.Module (float32, NCHW semantics; convert the memory format with
  `.to(memory_format=torch.channels_last)`)."""
  # torch is an optional extra: importing this module (the benchmark's parent) must not need it.
  import torch  # pylint: disable=import-outside-toplevel
  from torch import nn  # pylint: disable=import-outside-toplevel

  class ConvModule(nn.Module):
    """Conv (no bias) -> batch norm (learned offset, scale fixed at 1) -> ReLU."""

    def __init__(self, cin, cout, kernel, stride=1):
      super().__init__()
      self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False)
      self.bn = nn.BatchNorm2d(cout, eps=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM)
      self.bn.weight.requires_grad_(False)  # no learned scale, as in the paper
      self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
      return self.relu(self.bn(self.conv(x)))

  class Inception(nn.Module):
    def __init__(self, cin, c1, c3):
      super().__init__()
      self.branch1, self.branch3 = ConvModule(cin, c1, 1), ConvModule(cin, c3, 3)

    def forward(self, x):
      return torch.cat([self.branch1(x), self.branch3(x)], dim=1)

  class Downsample(nn.Module):
    def __init__(self, cin, c3):
      super().__init__()
      # padding 1 takes 28 -> 14 -> 7 like TensorFlow's "same" (which pads one side only).
      self.conv = ConvModule(cin, c3, 3, stride=2)
      self.pool = nn.MaxPool2d(3, stride=2, padding=1)

    def forward(self, x):
      return torch.cat([self.conv(x), self.pool(x)], dim=1)

  layers, channels = [ConvModule(in_channels, 96, 3)], 96
  for module in ARCHITECTURE:
    if module[0] == "down":
      layers.append(Downsample(channels, module[1]))
      channels += module[1]
    else:
      layers.append(Inception(channels, *module))
      channels = sum(module)
  layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
  return nn.Sequential(*layers)


def count_params(model) -> int:
  """Trainable parameters, as Table 1 counts them."""
  return sum(p.numel() for p in model.parameters() if p.requires_grad)


class _Trainer:
  """SGD with momentum on resident synthetic data; `timed_call()` runs `steps` steps."""

  def __init__(self, precision: str, batch_size: int, steps: int, image_size: int = 28,
               seed: int = 0):
    # torch is an optional extra: importing this module (the benchmark's parent) must not need it.
    import torch  # pylint: disable=import-outside-toplevel
    if precision not in PRECISIONS:
      raise ValueError(f"precision {precision!r}: must be one of {', '.join(PRECISIONS)}")
    torch.manual_seed(seed)
    self.torch = torch
    self.model = build().to(memory_format=torch.channels_last)
    self.model.train()
    self.optimizer = torch.optim.SGD(
        [p for p in self.model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    self.autocast = precision == "mixed_bfloat16"
    self.steps, self.batch_size = steps, batch_size
    # Two batches' worth of standardized images, stepped through like a resident epoch.
    n = 2 * batch_size
    self.images = torch.randn(n, 3, image_size, image_size).contiguous(
        memory_format=torch.channels_last)
    self.labels = torch.randint(0, 10, (n,))
    self.position = 0

  def step(self):
    torch = self.torch
    start = self.position * self.batch_size
    self.position = (self.position + 1) % 2
    x = self.images[start:start + self.batch_size]
    y = self.labels[start:start + self.batch_size]
    self.optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast):
      logits = self.model(x)
    loss = torch.nn.functional.cross_entropy(logits.float(), y)
    loss.backward()
    self.optimizer.step()
    return loss.detach()

  def timed_call(self) -> float:
    start = time.perf_counter()
    total = sum(self.step() for _ in range(self.steps))
    float(total)  # the losses, as our call returns its loss sum
    return time.perf_counter() - start


def _serve(argv: Optional[List[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--precision", choices=PRECISIONS, default="float32")
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--image_size", type=int, default=28)
  parser.add_argument("--threads", type=int, default=0, help="0: torch's default (one per core)")
  args = parser.parse_args(argv)
  if args.threads:
    # torch is an optional extra: importing this module (the benchmark's parent) must not need it.
    import torch  # pylint: disable=import-outside-toplevel
    torch.set_num_threads(args.threads)
  trainer = _Trainer(args.precision, args.batch_size, args.steps, args.image_size)
  trainer.timed_call()  # warm-up (oneDNN primitive creation)
  torch = trainer.torch
  print(f"ready {count_params(trainer.model)} torch {torch.__version__} threads "
        f"{torch.get_num_threads()}", flush=True)
  for line in sys.stdin:
    request = line.strip()
    if request == "time":
      print(f"{trainer.timed_call():.9f}", flush=True)
    elif request == "quit":
      return
    else:
      print(f"error: unknown request {request!r}", flush=True)


class TorchReference:
  """The reference network training in a subprocess. Use as a context manager:

    with TorchReference("float32", batch_size=128, steps=20) as torch_ref:
      seconds = torch_ref.timed_call()   # `steps` training steps
  """

  def __init__(self, precision: str, batch_size: int, steps: int, image_size: int = 28,
               threads: int = 0):
    """threads: torch's intra-op threads (0: its default, one per core, as a plain script)."""
    if not available():
      raise RuntimeError("PyTorch is not installed: pip install '.[torch]' (a CPU build)")
    if precision not in PRECISIONS:
      raise ValueError(f"precision {precision!r}: the torch reference runs "
                       f"{', '.join(PRECISIONS)}")
    self.args = [f"--precision={precision}", f"--batch_size={batch_size}", f"--steps={steps}",
                 f"--image_size={image_size}", f"--threads={threads}"]
    self.process: Optional[subprocess.Popen] = None
    self.description = ""
    self.params = 0

  def __enter__(self) -> "TorchReference":
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    self.process = subprocess.Popen(
        [sys.executable, "-m", "rethinking.perf.torch_reference", *self.args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    first = self.process.stdout.readline().split()
    if not first or first[0] != "ready":
      self.__exit__()
      raise RuntimeError("the torch reference process did not start (see its stderr)")
    self.params = int(first[1])
    self.description = " ".join(first[2:])
    return self

  def timed_call(self) -> float:
    """Seconds of one call of `steps` training steps (the process is idle otherwise)."""
    self.process.stdin.write("time\n")
    self.process.stdin.flush()
    return float(self.process.stdout.readline())

  def __exit__(self, *exc) -> bool:
    if self.process is not None and self.process.poll() is None:
      try:
        self.process.stdin.write("quit\n")
        self.process.stdin.close()
        self.process.wait(timeout=60)
      except (OSError, subprocess.TimeoutExpired):
        self.process.kill()
        self.process.wait()
    return False


if __name__ == "__main__":
  _serve()
