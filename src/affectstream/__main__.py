"""`python -m affectstream ...`: the same command line as `affectstream ...`."""
import sys

from .cli import main

sys.exit(main())
