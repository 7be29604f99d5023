"""The study as one list of steps (Reproduce.py, `make paper`)."""
