"""rethinking: a TensorFlow/Keras reproduction of Zhang et al., ICLR 2017."""
from setuptools import find_packages, setup

setup(
    name="rethinking",
    version="0.1.0",
    description=("Reproduction of 'Understanding deep learning requires rethinking "
                 "generalization' (Zhang, Bengio, Hardt, Recht, Vinyals; ICLR 2017)."),
    packages=find_packages(include=["rethinking", "rethinking.*"]),
    python_requires=">=3.11",
    install_requires=[
        "tensorflow==2.21.*",
        "keras>=3.10,<4",
        "tensorflow-datasets>=4.9.9",
        # tfds imports these at run time when it prepares or reads a dataset.
        "importlib_resources",
        "etils[epath,epy,enp]",
        "absl-py>=2.1",
        "tensorboard==2.21.*",
        "matplotlib>=3.8",
        "numpy>=1.26",
        "scipy>=1.11",
        "psutil>=5.9",
    ],
    extras_require={
        "dev": ["pytest>=8", "pytest-xdist>=3.5"],
        # The PyTorch reference of experiments/benchmark.py --baseline=torch; never needed to
        # train. Install the CPU build first (PyPI's default wheel pulls multi-GB CUDA
        # libraries): pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
        "torch": ["torch==2.13.0"],
    },
)
