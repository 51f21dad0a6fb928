"""`python -m pclr_keras.cli`: the `pclr` command."""

import sys

from pclr_keras.cli import main

sys.exit(main())
