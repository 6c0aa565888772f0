"""`python -m recstore.cli`: the same as the `recstore` command."""

import sys

from recstore.cli.main import main

sys.exit(main())
