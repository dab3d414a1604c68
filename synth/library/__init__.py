"""Stage 1, the library: the workspace and its settings, secrets, personas and topic sources,
and the YAML they are written in.  Nothing here talks to a model."""
