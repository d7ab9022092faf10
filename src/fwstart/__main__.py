"""Allow ``python -m fwstart``."""

from fwstart.cli import main

main()
