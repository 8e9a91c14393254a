"""Coverage-guided fuzzing of the parsers that read client bytes (atheris); see run.py."""
