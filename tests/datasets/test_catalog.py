"""The data sets known, and a package that loads without TensorFlow."""

import subprocess
import sys

from pclr_keras.datasets import catalog


def test_registry_entries_and_no_tensorflow_import():
    assert {"ptbxl", "ludb", "challenge2021", "code15"} <= set(catalog.DATASETS)
    assert catalog.DATASETS["ptbxl"].url == "https://physionet.org/files/ptb-xl/1.0.3/"
    assert "ptbxl" in catalog.describe()
    code = ("import sys, pclr_keras.datasets; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
