"""The identity module's message codes and label domains (issue 16).

The comparison levels (`exact`, `surname_exact_given_close`, …) and field names are stored codes; their words are the
decision screen's (`explain`), registered here as label domains so that an explanation built in `scoring`
("{field}: {level}") reads in the reader's language wherever it is shown (page, API, batch explanation file).
"""

from __future__ import annotations

from passage.core.i18n import define_labels
from passage.identity.explain import FIELD_WORDS, LEVEL_WORDS, SYSTEM_WORDS

define_labels("identity.field", FIELD_WORDS)
define_labels("identity.system", SYSTEM_WORDS)
for _field, _words in LEVEL_WORDS.items():
    define_labels(f"identity.level.{_field}", {str(level): word for level, word in _words.items() if level is not None})
