"""Researcher tools beside the studies: the explorer, failure modes and bias summaries."""
