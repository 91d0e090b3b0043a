"""Training and evaluating the per-frame model: data -> training -> evaluation."""
