"""Media I/O over PyAV only: probing, decoding, audio, encoding and synthetic test media."""
