"""Delivery: per-title bitrate ladders and CMAF packaging (HLS and DASH from one set of segments)."""
