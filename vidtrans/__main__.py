"""`python -m vidtrans`."""

import sys

from vidtrans.cli import main

sys.exit(main())
