"""File formats: sample and cohort sheets, VRS identifiers from the FASTA (the BCF reader and
the panel writers join them: docs/ARCHITECTURE.md)."""
