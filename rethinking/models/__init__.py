"""The paper's architectures (Appendix A) behind one registry: `build(name, ...)`."""
from rethinking.models.registry import (MODEL_NAMES, build, count_params, default_input_shape,
                                        flops_per_image)

__all__ = ["MODEL_NAMES", "build", "count_params", "default_input_shape", "flops_per_image"]
