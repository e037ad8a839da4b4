"""Training jobs: the runner interface and its back-ends."""
