"""Scene-analysis algorithms as pure numpy/OpenCV functions (no Ray, no I/O): shots, motion, audio,
faces, saliency, composition and colour. ``genmedia.pipelines.analyze`` runs them over Ray Data."""
