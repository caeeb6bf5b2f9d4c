"""Matching as pure functions: which pairs may match, how well, and the best assignment.

Nothing here touches HTTP or a database session: services load rows into the facts below,
call these functions, and persist what they return.
"""
