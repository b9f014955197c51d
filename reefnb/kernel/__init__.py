"""All a kernel environment needs: ``reefnb.record``/``attach`` and the MLPerf LoadGen harness. Imports nothing else of reefnb."""
