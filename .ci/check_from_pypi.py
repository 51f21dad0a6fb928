"""The README's "From PyPI" block, run as a user with only the wheel would run it.

Run by `.ci/run` with the python of the environment that holds the built
wheel alone (the block's `pip install pclr-keras` is that install). Each
other line of the block runs in bash, in order, from an empty folder outside
the repository, with that environment first on PATH and no network (the
proxies point at a closed port). Then the demo must have run on the PTB-XL
sample packaged in the wheel, not on a synthetic cohort.

Usage: python check_from_pypi.py README.md FOLDER
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

INSTALL = "pip install pclr-keras"
NO_NETWORK = "http://127.0.0.1:9"  # the discard port: nothing answers


def from_pypi_block(readme):
    """The lines of the first bash block under the README's `## From PyPI` heading."""
    section = re.search(r"^## From PyPI\n(.*?)(?=^## )", Path(readme).read_text(), re.S | re.M)
    assert section, f"{readme}: no '## From PyPI' section"
    block = re.search(r"^```bash\n(.*?)^```", section.group(1), re.S | re.M)
    assert block, f"{readme}: no bash block under '## From PyPI'"
    return [line for line in block.group(1).splitlines() if line.strip()]


def main(readme, folder):
    lines = from_pypi_block(readme)
    assert lines[0] == INSTALL, f"the block must start with {INSTALL!r}: {lines[0]!r}"
    import pclr_keras

    repository = Path(readme).resolve().parent
    installed = Path(pclr_keras.__file__).resolve()
    assert repository not in installed.parents, f"pclr_keras imported from the clone: {installed}"
    folder = Path(folder)
    folder.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.update({k: NO_NETWORK for k in ("http_proxy", "https_proxy", "HTTP_PROXY",
                                        "HTTPS_PROXY")}, no_proxy="", NO_PROXY="")
    printed = []
    for line in lines[1:]:
        start = time.monotonic()
        result = subprocess.run(["bash", "-c", line], cwd=folder, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        print(result.stdout[-3000:])
        assert result.returncode == 0, f"exit {result.returncode}: {line}"
        print(f"CI: {time.monotonic() - start:.0f} s: {line}")
        printed.append(result.stdout)
    output = "\n".join(printed)
    assert "tensorized the PTB-XL sample" in output and "SYNTHETIC" not in output, \
        "the demo did not run on the packaged PTB-XL sample"
    print(f"CI: the README's From PyPI block ran from {folder} with the wheel in {installed.parent}")


if __name__ == "__main__":
    main(*sys.argv[1:])
