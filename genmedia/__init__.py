"""genmedia."""
