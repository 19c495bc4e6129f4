"""The Dialogue's words for its stored codes (label domains) and the names of its translatable fields.

A stored code (`seminar`, `in_progress`, `focal_point`) is shown with `i18n.label("dialogue.<domain>", code)` or the
jinja filter `{{ code|label("dialogue.<domain>") }}`, in the reader's language. Importing this module registers the
domains, so every module that shows a Dialogue code imports it.
"""

from __future__ import annotations

from passage.core.i18n import N_, define_labels

EVENT_TYPES = define_labels("dialogue.event_type", {"workshop": N_("Workshop"), "seminar": N_("Seminar"), "study_visit": N_("Study visit")})
EVENT_KINDS_IN_TEXT = define_labels("dialogue.event_type_in_text", {"workshop": N_("workshop"), "seminar": N_("seminar"), "study_visit": N_("study visit")})
"""The event type inside a sentence ("The workshop was attended by ...")."""
INSTITUTION_TYPES = define_labels("dialogue.institution_type", {
    "ministry": N_("Ministry"), "bureau": N_("Bureau"), "provincial_office": N_("Provincial office"), "embassy": N_("Embassy"),
    "eu_body": N_("EU body"), "international_organisation": N_("International organisation"), "academia": N_("Academia"),
})
INSTITUTION_TYPES_PLURAL = define_labels("dialogue.institution_type_plural", {
    "ministry": N_("ministries"), "bureau": N_("bureaus"), "provincial_office": N_("provincial offices"), "embassy": N_("embassies"),
    "eu_body": N_("EU bodies"), "international_organisation": N_("international organisations"), "academia": N_("academia"),
})
"""The institution types as the report's attendance sentence counts them ("ministries (4)")."""
ROLES = define_labels("dialogue.role", {"participant": N_("Participant"), "expert": N_("Expert"), "chair": N_("Chair"), "speaker": N_("Speaker")})
SESSION_KINDS = define_labels("dialogue.session_kind", {"presentation": N_("Presentation"), "group_discussion": N_("Group discussion")})
OUTCOME_KINDS = define_labels("dialogue.outcome_kind", {"recommendation": N_("Recommendation"), "challenge": N_("Challenge")})
FOLLOW_UP_STATUSES = define_labels("dialogue.follow_up_status", {
    "planned": N_("Planned"), "in_progress": N_("In progress"), "done": N_("Done"), "dropped": N_("Dropped"),
})
TRACKER_STATUSES = define_labels("dialogue.tracker_status", {
    "acted_on": N_("Acted on"), "overdue": N_("Overdue"), "in_progress": N_("In progress"), "planned": N_("Planned"),
    "dropped": N_("Dropped"), "no_follow_up": N_("No follow-up"),
})
FUNCTIONS = define_labels("dialogue.function", {"immigration_liaison_officer": N_("Immigration liaison officer"), "focal_point": N_("Focal point")})
FLAGS = define_labels("dialogue.flag", {
    "stated_total_vs_parts": N_("A stated total differs from the sum of its parts"),
    "stated_count_vs_named": N_("A stated number of people differs from the people named"),
    "speaker_without_session": N_("A speaker has no session"),
    "chair_without_session": N_("A chair chairs no session"),
    "evaluation_outside_event": N_("The evaluation is dated outside the event"),
    "sample_size_vs_responses": N_("The stated sample size differs from the questionnaires recorded"),
    "headcount_vs_institutions": N_("The headcount differs from the institutions' headcounts"),
})
LINKED_TYPES = define_labels("dialogue.linked_type", {
    "readmission.agreement": N_("Readmission agreement"), "readmission.case": N_("Readmission case"), "avrr.pilot": N_("AVRR pilot"),
    "forms.form": N_("Questionnaire"), "dtm.round": N_("DTM round"), "dialogue.event": N_("Dialogue event"),
})
"""Kinds of record a follow-up action may point at (the stored value is `module.entity`)."""
FIELDS = define_labels("dialogue.field", {
    "title": N_("title"), "venue": N_("venue"), "project": N_("project"), "funder": N_("funder"), "objectives": N_("objectives"),
    "introduction": N_("summary"), "conclusion": N_("conclusion"), "abstract": N_("abstract"), "text": N_("text"),
    "evidence": N_("evidence"), "topic": N_("topic"), "activity": N_("activity"), "position": N_("position"),
})
"""The translatable fields, named in the translation status and the report's "not yet translated" list."""
HONORIFICS = define_labels("dialogue.honorific", {
    "Mr": N_("Mr"), "Mr.": N_("Mr"), "Ms": N_("Ms"), "Ms.": N_("Ms"), "Mrs": N_("Mrs"), "Mrs.": N_("Mrs"),
    "Dr": N_("Dr"), "Dr.": N_("Dr"), "Prof": N_("Prof."), "Prof.": N_("Prof."),
})
"""Honorifics as recorded; a Chinese text puts the word after the name (Jackson McKay先生, 刘国福教授)."""
LANGUAGES = define_labels("dialogue.language", {"en": N_("English"), "zh_Hans": N_("Chinese")})
RECORDS = define_labels("dialogue.record", {
    "InstitutionIn": N_("institution"), "EventIn": N_("event"), "EventUpdateIn": N_("event"), "ParticipantIn": N_("participant"),
    "RegistrationIn": N_("participant"), "ParticipationIn": N_("registration"), "InstitutionAttendanceIn": N_("attendance record"),
    "AttendanceStatementIn": N_("attendance statement"), "SessionIn": N_("session"), "OpeningRemarkIn": N_("opening remark"),
    "OutcomeIn": N_("outcome"), "FollowUpIn": N_("follow-up action"), "FollowUpUpdateIn": N_("follow-up action"),
    "FocalPointIn": N_("directory entry"), "EvaluationIn": N_("evaluation"), "EventTypeFilter": N_("filter"),
    "institution": N_("institution"), "participant": N_("participant"), "outcome": N_("outcome"), "follow_up": N_("follow-up action"),
    "owner_institution": N_("owner institution"), "evaluation": N_("evaluation"), "event": N_("event"), "organisation": N_("organisation"),
})
"""The records a refusal names ("The event is not valid", "participant not found")."""
SORTS = define_labels("dialogue.sort", {"start": N_("Earliest first"), "-start": N_("Latest first"), "title": N_("Title")})
