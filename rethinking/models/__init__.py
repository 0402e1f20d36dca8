"""The paper's architectures (Appendix A) behind one registry: `build(name, ...)`.

Importing this package loads no TensorFlow (the registry is a table of names); the counting
helpers load Keras on first use.
"""
from rethinking.models.registry import MODEL_NAMES, build, default_input_shape

__all__ = ["MODEL_NAMES", "build", "count_params", "default_input_shape", "flops_per_image"]


def __getattr__(name):
  # count_params and flops_per_image need Keras: imported on first use, not with the names.
  if name in ("count_params", "flops_per_image"):
    from rethinking.models import counting  # pylint: disable=import-outside-toplevel
    return getattr(counting, name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
