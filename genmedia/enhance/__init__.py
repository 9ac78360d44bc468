"""Video enhancement as pure functions (numpy/OpenCV, no Ray): the plan (what the output will be), denoise,
grade, SDR->HDR, interpolation timing and warping, pixel helpers, quality metrics, and the output writer.
``genmedia.pipelines.enhance`` wires them into Ray Data stages and ``genmedia.pipelines.realtime`` runs them
live; ``genmedia.deployments.upscaler`` / ``interpolator`` hold the model-backed parts.
"""
