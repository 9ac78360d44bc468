"""Model deployments: one plain class per model, usable by both Ray Data (map_batches) and Ray Serve; the
contract every such class keeps is written in :mod:`genmedia.deployments.contract`."""
