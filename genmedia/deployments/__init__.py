"""Model deployments: one plain class per model, usable by both Ray Data (map_batches) and Ray Serve."""
