"""`python -m charlm_tui`: the same as the `charlm-tui` command."""

import sys

from charlm_tui.cli import main

sys.exit(main())
