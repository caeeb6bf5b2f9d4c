"""A member's rights over their data: the export, erasure, and retention's purge."""
