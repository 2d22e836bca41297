"""Learned routers as they run live: the policy that loads a checkpoint and decides, the latency
forecaster it asks, and the online learner that fine-tunes it between batches."""
