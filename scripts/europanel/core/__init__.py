"""Pure computation: regions and ploidy, frequencies, disclosure control (no file I/O)."""
