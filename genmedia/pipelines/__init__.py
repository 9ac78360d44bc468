"""One module per job: each builds a Ray Data dataset from its stages and has a runner."""
