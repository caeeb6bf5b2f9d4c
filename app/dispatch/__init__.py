"""Finding and proposing pairs: candidates, opportunities and batch runs, above matches, offers and needs."""
