"""Trailer building blocks, pure functions with no Ray: highlight scoring and selection, the pacing plan,
beat/onset-synchronised cut points, the edit decision list, transitions, audio assembly and loudness."""
