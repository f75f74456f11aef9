"""Pictures of models and runs, written as files: PNG with matplotlib, self-contained HTML."""
