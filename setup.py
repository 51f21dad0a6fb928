"""pclr-keras: Patient Contrastive Learning of Representations for ECGs, in Keras 3."""

import importlib.util
import re
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent

# One version: pclr_keras/__init__.py's, read as text (no TensorFlow at build time).
VERSION = re.search(r'^__version__ = "([^"]+)"',
                    Path(__file__).with_name("pclr_keras").joinpath("__init__.py")
                    .read_text(encoding="utf-8"), re.M).group(1)


def _sample_builder():
    """pclr_keras/datasets/sample_build.py, loaded by its path (standard library only)."""
    path = HERE / "pclr_keras" / "datasets" / "sample_build.py"
    spec = importlib.util.spec_from_file_location("pclr_sample_build", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildWithSample(build_py):
    """Adds the PTB-XL sample to the built package, never to the source tree.

    The sample is built from `../shared/data/ptbxl` or the folder
    `PCLR_SAMPLE_SOURCE` names; without either the package carries none, and
    `pclr datasets sample` says so. Editable installs run from the source
    tree and skip it.
    """

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        builder = _sample_builder()
        source = builder.find_source(HERE)
        if source is None:
            print("pclr-keras: no PTB-XL in ../shared/data or PCLR_SAMPLE_SOURCE: "
                  "this build carries no sample ECGs")
            return
        folder = Path(self.build_lib) / "pclr_keras" / "datasets" / builder.PACKAGE_FOLDER
        print(f"pclr-keras: sample ECGs from {source} -> {builder.build_sample(source, folder)}")


setup(
    name="pclr-keras",
    version=VERSION,
    description="PCLR ECG representations (Diamant et al. 2022) in TensorFlow / Keras 3",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    packages=find_packages(include=["pclr_keras", "pclr_keras.*"]),
    # The packaged presets (KerasHub layout) and the model cards of all presets.
    package_data={"pclr_keras": ["weights/*/*.json", "weights/*/*.h5", "weights/*/*.md"]},
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16,<3",  # Keras 3 is tf.keras from 2.16 on
        "tensorboard",  # pre-training logs scalars; TF 2.21 no longer pulls it in
        "keras>=3.3",
        "h5py>=3.8",
        "numpy>=1.24",
        "pandas>=2.0",
        "pyarrow>=12",  # Parquet: pclr embed's default output, probe tables
        "scikit-learn>=1.3",
        "scipy>=1.10",  # hand-crafted features: filters, spectra
        "threadpoolctl>=3.1",  # probes cap BLAS threads while folds run in parallel
        "matplotlib>=3.7",  # probe plots
        "wfdb>=4.1",
        "defusedxml>=0.7",  # XML exports come from outside: no entity tricks
        "sierraecg>=0.4,<0.5",  # Philips XLI decoder (pure Python; uses sierraecg.xli)
        "pydicom>=2.1",  # DICOM ECG waveforms (pure Python, no dependencies)
        "tqdm>=4.60",
        "tensorflow-serving-api>=2.16,<3",  # TF Serving request protos: warm-up files, gRPC
    ],
    extras_require={
        "dev": [
            "pytest>=7",
            "tf-keras",  # writes Keras 2 files, as ml4h released, in the tests
            "nbclient",
            "nbformat",
            "ipykernel",
            "build",  # CI builds the wheel and sdist and installs the wheel alone
            "huggingface_hub>=0.20",  # the hf:// tests (the [hub] extra)
            # The documentation site: `mkdocs build --strict` (mkdocs.yml, docs/)
            "mkdocs>=1.6",
            "mkdocs-material>=9.5",
            "mkdocstrings[python]>=1.0",  # the API reference, from the docstrings
        ],
        # `load_encoder("hf://org/name")`: presets on the Hugging Face Hub
        "hub": ["huggingface_hub>=0.20"],
        # `--runner beam`: the Beam pipelines in pclr_keras.pipelines
        "beam": ["apache-beam>=2.60"],
        # `pclr export --formats onnx`, `--precision int8`, `pclr embed --model X.onnx`
        # (pclr_keras.export.onnx, export.quantize, embedding.runtimes); tested with
        # tf2onnx 1.17.0, onnx 1.23.2, onnxruntime 1.32.0 beside TensorFlow 2.21
        "onnx": ["tf2onnx>=1.17,<2", "onnx>=1.17,<2", "onnxruntime>=1.22,<2"],
    },
    entry_points={"console_scripts": ["pclr=pclr_keras.cli:main"]},
    cmdclass={"build_py": BuildWithSample},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
    ],
)
