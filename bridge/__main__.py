"""`python -m bridge`: the same as the `cronbridge` command."""

from bridge.cli import main

main()
