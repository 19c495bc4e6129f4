"""Places of birth: characters, pinyin, postal and dialect romanisations, and resident-ID region codes.

A place is resolved to a set of administrative codes (GB/T 2260: 2-digit province, 4-digit prefecture,
6-digit county). Two places agree at the deepest level they share.

Sources:
- Codes: GB/T 2260 "Codes for the administrative divisions of the PRC" and the Ministry of Civil Affairs'
  yearly code lists; historical changes kept as aliases (e.g. Changle county-level city 350182 became
  Changle District 350112 in 2017; Xinhui city 440782 became Xinhui District 440705 in 2002; Chongqing's
  5102 codes under Sichuan became 5001 in 1997; Dongtou county 330322 became district 330305 in 2015).
- Postal romanisation: the Chinese Postal Map (Directorate General of Posts, 1919) and the 1906 Imperial
  Postal Joint-Session conventions (Fukien, Chekiang, Kwangtung, Canton, Amoy, Foochow, Wenchow ...).
- Dialect forms used by emigrants: Hokchia (Fuqing, Eastern Min), Hokchiu/Foochow (Fuzhou), Toishan /
  Hoisan (Taishan, Cantonese/Taishanese), Tsingtien (Qingtian), Teochew/Chiuchow (Chaozhou).
The table covers every province and the prefectures and counties that send most emigrants to Europe;
other places fall back to a pinyin comparison of their characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import DamerauLevenshtein

from passage.identity.romanisation import compact, fold_latin, is_han, pinyin_readings

# code, characters, romanised aliases (compact, lower-case)
_PLACES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("11", "北京", ("beijing", "peking", "peiping")),
    ("12", "天津", ("tianjin", "tientsin")),
    ("13", "河北", ("hebei", "hopeh", "hopei")),
    ("14", "山西", ("shanxi", "shansi")),
    ("15", "内蒙古", ("neimenggu", "innermongolia", "neimongol")),
    ("21", "辽宁", ("liaoning",)),
    ("22", "吉林", ("jilin", "kirin", "chilin")),
    ("23", "黑龙江", ("heilongjiang", "heilungkiang")),
    ("31", "上海", ("shanghai",)),
    ("32", "江苏", ("jiangsu", "kiangsu")),
    ("33", "浙江", ("zhejiang", "chekiang")),
    ("34", "安徽", ("anhui", "anhwei")),
    ("35", "福建", ("fujian", "fukien", "hokkien", "hokkian")),
    ("36", "江西", ("jiangxi", "kiangsi")),
    ("37", "山东", ("shandong", "shantung")),
    ("41", "河南", ("henan", "honan")),
    ("42", "湖北", ("hubei", "hupeh", "hupei")),
    ("43", "湖南", ("hunan",)),
    ("44", "广东", ("guangdong", "kwangtung", "canton")),
    ("45", "广西", ("guangxi", "kwangsi")),
    ("46", "海南", ("hainan",)),
    ("50", "重庆", ("chongqing", "chungking")),
    ("51", "四川", ("sichuan", "szechwan", "szechuan")),
    ("52", "贵州", ("guizhou", "kweichow")),
    ("53", "云南", ("yunnan",)),
    ("54", "西藏", ("xizang", "tibet")),
    ("61", "陕西", ("shaanxi", "shensi")),
    ("62", "甘肃", ("gansu", "kansu")),
    ("63", "青海", ("qinghai", "tsinghai")),
    ("64", "宁夏", ("ningxia", "ningsia")),
    ("65", "新疆", ("xinjiang", "sinkiang")),
    ("3501", "福州", ("fuzhou", "foochow", "hokchiu", "hokchew", "fuchou")),
    ("3502", "厦门", ("xiamen", "amoy", "emui")),
    ("3503", "莆田", ("putian", "puti", "henghua", "hinghwa")),
    ("3505", "泉州", ("quanzhou", "chinchew", "chuanchow")),
    ("3506", "漳州", ("zhangzhou", "changchow")),
    ("350112", "长乐", ("changle", "changlo", "tionglok", "tengloh")),
    ("350181", "福清", ("fuqing", "hokchia", "futsing", "fuching", "hokchiang")),
    ("350122", "连江", ("lianjiang", "lienkiang", "lienchiang", "lingkang")),
    ("350121", "闽侯", ("minhou", "minhow")),
    ("350128", "平潭", ("pingtan", "haitan")),
    ("350102", "鼓楼", ("gulou",)),
    ("350105", "马尾", ("mawei", "pagoda anchorage")),
    ("350582", "晋江", ("jinjiang", "chinkiang")),
    ("350581", "石狮", ("shishi",)),
    ("350583", "南安", ("nanan", "lamoa")),
    ("3303", "温州", ("wenzhou", "wenchow", "wenchou")),
    ("330302", "鹿城", ("lucheng",)),
    ("330303", "龙湾", ("longwan",)),
    ("330304", "瓯海", ("ouhai",)),
    ("330305", "洞头", ("dongtou", "tungtou")),
    ("330381", "瑞安", ("ruian", "juian")),
    ("330382", "乐清", ("yueqing", "yuehtsing")),
    ("330328", "文成", ("wencheng",)),
    ("3311", "丽水", ("lishui", "chuchow")),
    ("331121", "青田", ("qingtian", "tsingtien", "chingtien")),
    ("3301", "杭州", ("hangzhou", "hangchow")),
    ("3302", "宁波", ("ningbo", "ningpo")),
    ("4401", "广州", ("guangzhou", "canton", "kwongchow")),
    ("4403", "深圳", ("shenzhen", "shumchun")),
    ("4405", "汕头", ("shantou", "swatow")),
    ("4407", "江门", ("jiangmen", "kongmoon")),
    ("440781", "台山", ("taishan", "toishan", "hoisan", "toisan")),
    ("440783", "开平", ("kaiping", "hoiping")),
    ("440785", "恩平", ("enping", "yanping")),
    ("440705", "新会", ("xinhui", "sunwui", "sunwei")),
    ("4414", "梅州", ("meizhou", "kayinchow", "moiyen")),
    ("4420", "中山", ("zhongshan", "chungshan", "heungshan")),
    ("4451", "潮州", ("chaozhou", "chiuchow", "teochew", "tiechiu")),
    ("4406", "佛山", ("foshan", "fatshan")),
    ("3201", "南京", ("nanjing", "nanking")),
    ("3205", "苏州", ("suzhou", "soochow")),
    ("2101", "沈阳", ("shenyang", "mukden")),
    ("2301", "哈尔滨", ("haerbin", "harbin")),
    ("3702", "青岛", ("qingdao", "tsingtao")),
    ("5101", "成都", ("chengdu", "chengtu")),
    ("4201", "武汉", ("wuhan", "hankow")),
)

# Historical code -> current code (GB/T 2260 change lists).
HISTORICAL_CODES: dict[str, str] = {
    "350182": "350112",  # Changle: county-level city -> district of Fuzhou (2017)
    "440782": "440705",  # Xinhui: county-level city -> district of Jiangmen (2002)
    "330322": "330305",  # Dongtou: county -> district of Wenzhou (2015)
    "350124": "350128",  # Pingtan: listed 350124 before 1994 renumbering -> 350128
    "332522": "331121",  # Qingtian under Lishui prefecture (3325) -> Lishui city (3311), 2000
    "3325": "3311",      # Lishui prefecture -> prefecture-level city (2000)
    "5102": "5001",      # Chongqing under Sichuan -> municipality (1997)
}

# County codes whose parent prefecture is not their first four digits after a change.
_PARENT_OVERRIDES: dict[str, str] = {}

_PROVINCE_SUFFIXES = ("省", "市", "自治区", "壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区")
_LOCAL_SUFFIXES = ("市", "区", "县", "镇", "乡", "自治州", "地区", "盟", "旗")
_LATIN_NOISE = {"province", "prov", "city", "county", "district", "town", "village", "prc", "china", "shi", "xian", "qu", "sheng", "pr", "the", "of"}


@dataclass(frozen=True)
class Place:
    """A resolved place: the set of codes it names (each with its ancestors) and a pinyin fallback."""

    codes: frozenset[str]
    fallback: str

    @property
    def empty(self) -> bool:
        return not self.codes and not self.fallback


def canonical_code(code: str) -> str:
    """Apply historical renumbering (longest known prefix first)."""
    if code in HISTORICAL_CODES:
        return HISTORICAL_CODES[code]
    for length in (4, 2):
        prefix = code[:length]
        if len(code) > length and prefix in HISTORICAL_CODES:
            return HISTORICAL_CODES[prefix] + code[length:]
    return code


def with_ancestors(code: str) -> frozenset[str]:
    """A county code implies its prefecture and province; a prefecture its province."""
    code = canonical_code(code)
    out = {code, code[:2]}
    if len(code) >= 4:
        out.add(code[:4])
    return frozenset(c for c in out if c and c != "00" and not c.endswith("00"))


@lru_cache(maxsize=1)
def _indexes() -> tuple[dict[str, str], dict[str, list[str]]]:
    by_chars: dict[str, str] = {}
    by_alias: dict[str, list[str]] = {}
    for code, chars, aliases in _PLACES:
        by_chars[chars] = code
        for alias in aliases:
            by_alias.setdefault(compact(alias), []).append(code)
    return by_chars, by_alias


@lru_cache(maxsize=200_000)
def resolve(text: str) -> Place:
    """Resolve a place written in characters or Latin script (any of the aliases above)."""
    if not text or not text.strip():
        return Place(frozenset(), "")
    by_chars, by_alias = _indexes()
    codes: set[str] = set()
    if is_han(text):
        remaining = text.strip()
        for chars in sorted(by_chars, key=len, reverse=True):
            if chars in remaining:
                codes |= with_ancestors(by_chars[chars])
                remaining = remaining.replace(chars, " ")
        stripped = text
        for suffix in sorted(_PROVINCE_SUFFIXES + _LOCAL_SUFFIXES, key=len, reverse=True):
            stripped = stripped.replace(suffix, "")
        fallback = "".join(pinyin_readings(c)[0] for c in stripped if pinyin_readings(c))
        return Place(frozenset(codes), fallback)
    tokens = [t for t in fold_latin(text).split() if t not in _LATIN_NOISE]
    # Try two-token aliases first ("inner mongolia"), then single tokens.
    used: set[int] = set()
    for i in range(len(tokens) - 1):
        joined = tokens[i] + tokens[i + 1]
        if joined in by_alias:
            for code in by_alias[joined]:
                codes |= with_ancestors(code)
            used |= {i, i + 1}
    for i, token in enumerate(tokens):
        if i not in used and token in by_alias:
            for code in by_alias[token]:
                codes |= with_ancestors(code)
    return Place(frozenset(codes), "".join(t for i, t in enumerate(tokens) if i not in used))


def region_place(id_region: str) -> Place:
    """The place named by the first six digits of a resident ID number."""
    if len(id_region) != 6 or not id_region.isdigit():
        return Place(frozenset(), "")
    return Place(with_ancestors(id_region), "")


PLACE_LEVELS = ("county", "prefecture", "province", "written_close", "disagree")


def compare_places(query: Place, record: Place) -> str | None:
    """Deepest shared level, `disagree`, or None when either side is unknown or unresolvable."""
    if query.empty or record.empty:
        return None
    if query.codes and record.codes:
        shared = query.codes & record.codes
        if any(len(c) == 6 for c in shared):
            return "county"
        if any(len(c) == 4 for c in shared):
            return "prefecture"
        if shared:
            return "province"
        # Only call it a disagreement when both name a province.
        if {c for c in query.codes if len(c) == 2} and {c for c in record.codes if len(c) == 2}:
            return "disagree"
        return None
    if query.fallback and record.fallback:
        if query.fallback == record.fallback or (len(query.fallback) >= 4 and query.fallback in record.fallback):
            return "county"
        if not query.codes and not record.codes and not is_han(record.fallback):
            # Two places neither side could resolve (a Latin-script registry, e.g. suburbs): compare the
            # written forms, as Splink's Levenshtein place levels do; a mistyped place is still close.
            if min(len(query.fallback), len(record.fallback)) >= 5 and DamerauLevenshtein.distance(query.fallback, record.fallback) <= 2:
                return "written_close"
            return "disagree"
    return None


@lru_cache(maxsize=1)
def _characters_by_code() -> dict[str, str]:
    return {code: chars for code, chars, _aliases in _PLACES}


@lru_cache(maxsize=20_000)
def in_characters(text: str) -> str | None:
    """A place written in Latin script ("Changle, Fuzhou, Fujian", "Wenchow") in characters, largest unit first
    ("福建福州长乐"), for Chinese pages; None when a part of it is not in the table (then it is shown as written)."""
    if not text or not text.strip() or is_han(text):
        return None
    _by_chars, by_alias = _indexes()
    names = _characters_by_code()
    written: set[str] = set()
    for part in text.replace(";", ",").split(","):
        tokens = [t for t in fold_latin(part).split() if t not in _LATIN_NOISE]
        if not tokens:
            continue
        matches = by_alias.get(compact("".join(tokens)))
        if not matches or len(matches) != 1:
            return None
        written.add(matches[0])
    deepest = max(written, key=len, default=None)
    if deepest is None or any(not with_ancestors(deepest) >= with_ancestors(c) for c in written):
        return None  # the parts name places in different branches: keep the text as written
    return "".join(names[c] for c in sorted(written, key=len))


def place_for_reader(text: str | None, *, locale: str | None = None) -> str:
    """A place as a Chinese reader reads it (in characters when the table knows it), else as written."""
    from passage.core.i18n import get_locale

    if not text:
        return ""
    if (locale or get_locale()) == "zh_Hans":
        return in_characters(text) or text
    return text
