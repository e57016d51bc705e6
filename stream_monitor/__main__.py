"""``python -m stream_monitor ...`` runs the command line."""

import sys

from stream_monitor.cli import main

sys.exit(main())
