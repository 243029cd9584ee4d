"""Chat platforms: translate at the edge, nothing else."""
