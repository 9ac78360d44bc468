"""Subtitles: segmentation, formats, languages, diarization, voiceprints, chunking, noise reduction."""
