"""``python -m rnnkit.cli`` (what ``torchrun ... -m rnnkit.cli train lm`` runs)."""

import sys

from rnnkit.cli import main

sys.exit(main())
