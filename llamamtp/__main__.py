"""``python -m llamamtp``: the same command line as the ``llamamtp`` script."""

import sys

from llamamtp.cli import main

if __name__ == "__main__":
    sys.exit(main())
