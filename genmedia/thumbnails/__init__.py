"""Thumbnail building blocks, pure functions with no Ray and no I/O: aspect ratios, display geometry,
key-frame ranking, smart cropping, title overlay, safety hooks and the side-by-side HTML page."""
