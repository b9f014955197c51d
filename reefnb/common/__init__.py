"""Infrastructure every stage uses: errors, bounded JSON input, files (atomic writes, locks), paths, the scrubber."""
