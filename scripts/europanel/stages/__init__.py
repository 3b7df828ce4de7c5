"""One module per pipeline stage: what a `europanel <subcommand>` runs (docs/ARCHITECTURE.md)."""
