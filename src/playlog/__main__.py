"""``python -m playlog``: the same as the ``playlog`` command."""

from playlog.cli.main import main

main()
