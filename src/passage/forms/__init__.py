"""Forms: XLSForm questionnaires, web entry, bulk import with validation, quarantine and re-validation.

Other modules call `passage.forms.service`; the pure `passage.forms.evaluation` (evaluation annexes) is public too.
"""

PUBLIC_MODULES: tuple[str, ...] = ("evaluation",)
"""What other modules may import besides `service` (checked by the `public_interface` import contract)."""
