"""chatsynth's Textual app: the only package that imports textual."""
