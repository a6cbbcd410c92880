"""``python -m unipush``: the same as the ``unipush`` command."""

from __future__ import annotations

from unipush.cli import main

raise SystemExit(main())
