"""Stage 5, the command line: the parser (main) and one module per command group."""
