"""Performance tools, not part of the paper's pipeline: `benchmark.py` times the trainer's own
training, evaluation and input calls against the machine's matmul peak, `op_profile.py` sums a
profiler trace by op, and `torch_reference.py` is the PyTorch peer (run only in a subprocess).

Nothing is imported here, so `rethinking.perf.torch_reference` loads without TensorFlow or torch.
"""
