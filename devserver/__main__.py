"""python -m devserver run | invoke (see devserver.cli)."""

import sys

from devserver.cli import main

if __name__ == "__main__":  # worker processes re-import this module under another name
    sys.exit(main())
