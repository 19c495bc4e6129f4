"""The biometrics module's message codes and label domains (issue 16).

Finger positions are the codes of ANSI/NIST-ITL 1-2011 Table 8 and ISO/IEC 19794-2 (0 unknown, 1 right thumb …
10 left little finger); comparison explanations are messages (`T_`) built in `matching`, rendered in the reader's
language where they are shown (the compare page, the API with `Accept-Language`, the CLI with `--lang`).
"""

from __future__ import annotations

from passage.core.i18n import N_, define_labels

FINGER_LABELS = define_labels("biometrics.finger", {
    "0": N_("finger of unknown position"), "1": N_("right thumb"), "2": N_("right index finger"), "3": N_("right middle finger"),
    "4": N_("right ring finger"), "5": N_("right little finger"), "6": N_("left thumb"), "7": N_("left index finger"),
    "8": N_("left middle finger"), "9": N_("left ring finger"), "10": N_("left little finger"),
})
