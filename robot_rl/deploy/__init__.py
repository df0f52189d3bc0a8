"""The composition root (placeholder while the move is under way)."""
