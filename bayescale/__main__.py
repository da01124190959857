"""``python -m bayescale``: the ``bayescale`` command (:func:`bayescale.cli.run`)."""

import sys

from bayescale.cli import run

sys.exit(run())
