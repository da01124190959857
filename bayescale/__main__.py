"""``python -m bayescale``: the ``bayescale`` command (:func:`bayescale.cli.run`)."""

import sys

try:
    from bayescale.cli import run
except KeyboardInterrupt:  # Ctrl-C while the command starts: one line, no traceback
    print("bayescale: interrupted (Ctrl-C); no file was left half-written.", file=sys.stderr)
    sys.exit(130)

sys.exit(run())
