"""Safe rollout: a per-model plan (stable, candidate, mode) and the router that applies it."""
