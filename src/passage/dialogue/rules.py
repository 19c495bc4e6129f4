"""Reference tables and small pure rules of the Dialogue: provinces, EU membership, contact visibility."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

#: China's provincial-level divisions, ISO 3166-2:CN codes (2017 revision), English and Chinese names.
PROVINCES: dict[str, tuple[str, str]] = {
    "CN-BJ": ("Beijing", "北京"),
    "CN-TJ": ("Tianjin", "天津"),
    "CN-HE": ("Hebei", "河北"),
    "CN-SX": ("Shanxi", "山西"),
    "CN-NM": ("Inner Mongolia", "内蒙古"),
    "CN-LN": ("Liaoning", "辽宁"),
    "CN-JL": ("Jilin", "吉林"),
    "CN-HL": ("Heilongjiang", "黑龙江"),
    "CN-SH": ("Shanghai", "上海"),
    "CN-JS": ("Jiangsu", "江苏"),
    "CN-ZJ": ("Zhejiang", "浙江"),
    "CN-AH": ("Anhui", "安徽"),
    "CN-FJ": ("Fujian", "福建"),
    "CN-JX": ("Jiangxi", "江西"),
    "CN-SD": ("Shandong", "山东"),
    "CN-HA": ("Henan", "河南"),
    "CN-HB": ("Hubei", "湖北"),
    "CN-HN": ("Hunan", "湖南"),
    "CN-GD": ("Guangdong", "广东"),
    "CN-GX": ("Guangxi", "广西"),
    "CN-HI": ("Hainan", "海南"),
    "CN-CQ": ("Chongqing", "重庆"),
    "CN-SC": ("Sichuan", "四川"),
    "CN-GZ": ("Guizhou", "贵州"),
    "CN-YN": ("Yunnan", "云南"),
    "CN-XZ": ("Tibet", "西藏"),
    "CN-SN": ("Shaanxi", "陕西"),
    "CN-GS": ("Gansu", "甘肃"),
    "CN-QH": ("Qinghai", "青海"),
    "CN-NX": ("Ningxia", "宁夏"),
    "CN-XJ": ("Xinjiang", "新疆"),
    "CN-TW": ("Taiwan", "台湾"),
    "CN-HK": ("Hong Kong", "香港"),
    "CN-MO": ("Macao", "澳门"),
}

#: EU member states with the dates they joined and (for the United Kingdom) left, so that an event
#: is counted against the Union as it was on the day (Treaty of Lisbon art. 49-50; accession treaties).
_EU_MEMBERSHIP: dict[str, tuple[dt.date, dt.date | None]] = {
    **{c: (dt.date(1958, 1, 1), None) for c in ("BE", "DE", "FR", "IT", "LU", "NL")},
    "DK": (dt.date(1973, 1, 1), None),
    "IE": (dt.date(1973, 1, 1), None),
    "GB": (dt.date(1973, 1, 1), dt.date(2020, 1, 31)),
    "GR": (dt.date(1981, 1, 1), None),
    "ES": (dt.date(1986, 1, 1), None),
    "PT": (dt.date(1986, 1, 1), None),
    "AT": (dt.date(1995, 1, 1), None),
    "FI": (dt.date(1995, 1, 1), None),
    "SE": (dt.date(1995, 1, 1), None),
    **{c: (dt.date(2004, 5, 1), None) for c in ("CY", "CZ", "EE", "HU", "LV", "LT", "MT", "PL", "SK", "SI")},
    "BG": (dt.date(2007, 1, 1), None),
    "RO": (dt.date(2007, 1, 1), None),
    "HR": (dt.date(2013, 7, 1), None),
}


def is_eu_member_state(country: str, on: dt.date) -> bool:
    """Whether `country` (ISO alpha-2) was an EU member state on `on`."""
    period = _EU_MEMBERSHIP.get(country)
    if period is None:
        return False
    joined, left = period
    return joined <= on and (left is None or on <= left)


def province_name(code: str, lang: str) -> str:
    english, chinese = PROVINCES[code]
    return chinese if lang == "zh" else english


def can_see_contact(*, viewer_organisation_id: str | None, organiser_organisation_ids: Iterable[str], consent_given: bool) -> bool:
    """Personal contact data is shown to the event's organisers only, and only with the person's consent (issue 9).

    Organisers are the platform organisations acting for the event's organiser institutions.
    """
    if not consent_given or viewer_organisation_id is None:
        return False
    return viewer_organisation_id in set(organiser_organisation_ids)
