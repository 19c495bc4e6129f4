"""The EU-China Dialogue's own work: events, participants, sessions, recommendations and their follow-up, reports."""

PUBLIC_MODULES: tuple[str, ...] = ()
"""What other modules may import besides `service` (checked by the `public_interface` import contract)."""
