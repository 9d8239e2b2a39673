"""``python -m deltastream.demo``: the whole pipeline in one command (see :mod:`.pipeline`)."""

import sys

from deltastream.demo.pipeline import main

sys.exit(main())
