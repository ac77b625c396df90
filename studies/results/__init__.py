"""What a study's answers say: statistics, exports, plots, reports."""
