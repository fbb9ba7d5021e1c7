"""``python -m duroxide``: the command line (see :mod:`duroxide.cli`)."""

from .cli import main

raise SystemExit(main())
