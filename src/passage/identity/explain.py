"""The identification evidence in words for the decision screen: each comparison level, and the weight of evidence.

Pure (no I/O). Labels are marked for translation (`N_`) and translated where shown.
"""

from __future__ import annotations

from passage.core.i18n import N_

LEVEL_WORDS: dict[str, dict[str | None, str]] = {
    "name": {
        "exact": N_("same name (one of its readings)"), "surname_exact_given_close": N_("same surname, given name spelled slightly differently"),
        "given_exact_surname_close": N_("same given name, surname spelled slightly differently"), "both_close": N_("both parts spelled slightly differently"),
        "surname_exact_given_weak": N_("same surname, given name only loosely alike"), "given_exact_surname_weak": N_("same given name, surname only loosely alike"),
        "close_and_weak": N_("one part close, the other loosely alike"), "both_weak": N_("both parts only loosely alike"),
        "surname_only": N_("only the surname agrees"), "given_only": N_("only the given name agrees"), "disagree": N_("different name"),
        None: N_("not recorded on one side"),
    },
    "birth_date": {
        "exact": N_("same date"), "year_month": N_("same year and month"), "year_only": N_("same year"),
        "day_month_swapped": N_("day and month swapped"), "lunar_as_solar": N_("the lunar birthday written as a solar date"),
        "within_7_days": N_("within a week"), "year_off_by_one": N_("year differs by one"), "digit_typo": N_("one digit differs"),
        "disagree": N_("different date"), None: N_("not recorded on one side"),
    },
    "sex": {"agree": N_("same"), "disagree": N_("different"), None: N_("not recorded on one side")},
    "birth_place": {
        "county": N_("same county or district"), "prefecture": N_("same prefecture"), "province": N_("same province"),
        "written_close": N_("written almost the same"), "disagree": N_("different province"), None: N_("not recorded or not recognised"),
    },
    "id_number": {"exact": N_("same number"), "one_edit": N_("one character differs"), "disagree": N_("different number"), None: N_("not recorded on one side")},
    "fingerprint": {"compared": N_("fingerprints compared"), None: N_("no fingerprint on file: no evidence either way")},
}
FIELD_WORDS = {
    "name": N_("Name"), "birth_date": N_("Date of birth"), "sex": N_("Sex"), "birth_place": N_("Place of birth"),
    "id_number": N_("Resident ID number"), "fingerprint": N_("Fingerprints"),
}
SYSTEM_WORDS = {"pinyin": N_("Pinyin"), "wade_giles": N_("Wade-Giles"), "cantonese_hk": N_("Cantonese (Hong Kong)")}
DECISION_WORDS = {"match": N_("strong match"), "possible": N_("possible match"), "no_match": N_("unlikely"), "non_match": N_("unlikely")}
SEX_WORDS = {"M": N_("male"), "F": N_("female"), "X": N_("unspecified"), "": "—"}
PROVINCE_WORDS = {"35": N_("Fujian"), "33": N_("Zhejiang"), "44": N_("Guangdong")}


def strength(log2_bf: float) -> str:
    """The weight of evidence in words, on the scale of Kass & Raftery (1995, JASA 90:773), in bits:
    under 1.6 (a Bayes factor of 3) barely worth mentioning, 1.6-4.3 positive, 4.3-7.2 strong, above very strong."""
    size = abs(log2_bf)
    if size < 1.6:
        return N_("barely any evidence")
    if log2_bf > 0:
        return N_("positive evidence for") if size < 4.3 else (N_("strong evidence for") if size < 7.2 else N_("very strong evidence for"))
    return N_("positive evidence against") if size < 4.3 else (N_("strong evidence against") if size < 7.2 else N_("very strong evidence against"))


WORDS = {"level": LEVEL_WORDS, "field": FIELD_WORDS, "system": SYSTEM_WORDS, "decision": DECISION_WORDS, "sex": SEX_WORDS, "province": PROVINCE_WORDS}


