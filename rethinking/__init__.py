"""rethinking: the randomization tests of Zhang et al. (ICLR 2017) in TensorFlow/Keras."""

__version__ = "0.1.0"
