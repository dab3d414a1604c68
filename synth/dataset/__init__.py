"""Stage 4, the dataset: the append-only store of runs, named datasets of runs, export to
fine-tune files, their validation and the report."""
