"""File outputs, one module each, registered under their `--format` names."""
