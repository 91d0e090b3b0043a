"""Fuzzing the `affectstream process` command with damaged and odd media (see run.py)."""
