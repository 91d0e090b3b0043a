"""Training and evaluating the temporal models: labels and data -> training -> evaluation ->
commands."""
