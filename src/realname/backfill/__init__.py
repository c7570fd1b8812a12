"""The anonymous prepaid base: legacy import, the back-fill campaign and its phases."""
