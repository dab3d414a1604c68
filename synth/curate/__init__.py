"""Stage 3, curating: the filters' verdicts and the user's review (accept, reject, edit)."""
