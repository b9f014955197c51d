"""Analysis: results as DataFrames, Pareto frontiers, plots, dashboards, reproduction verdicts."""
