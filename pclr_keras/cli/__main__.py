"""`python -m pclr_keras.cli`: the `pclr` command."""

import sys

from pclr_keras.cli import main

if __name__ == "__main__":  # importing the module (docs, tools) runs nothing
    sys.exit(main())
