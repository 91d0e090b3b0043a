"""Training and evaluation: datasets, losses, metrics and the training loops."""
