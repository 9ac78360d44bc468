"""Video enhancement as pure functions (numpy/OpenCV, no Ray): denoise, grade, SDR->HDR, interpolation
timing and warping, quality metrics, and the output writer. ``genmedia.pipelines.enhance`` wires them
into Ray Data stages; ``genmedia.deployments.upscaler`` / ``interpolator`` hold the model-backed parts.
"""
