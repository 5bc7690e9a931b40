"""The live metrics engine: collector, snapshots, history (no Textual here)."""
