"""The `recstore` command line: `main` builds the parser, one module per command group, and
`common` holds what the commands share, so no command imports back from the entry point.

May import: every other part of recstore; nothing imports cli."""
