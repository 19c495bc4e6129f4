"""Readings of Chinese names in every romanisation a foreign authority may have used, and back again.

Everything is compared in one space: lower-case Latin letters without tones, spaces or punctuation.
A registry name in characters is expanded into its plausible written forms per system; a query in
Latin script is normalised and, for blocking, mapped back to the Hanyu Pinyin syllables it may stand for.

Sources:
- Hanyu Pinyin and its passport form: GB/T 28039-2011 "Chinese phonetic alphabet spelling rules for
  Chinese names" (surname and given name each written as one word; ü written YU on passports by the
  Ministry of Public Security's 2012 practice, LV in ICAO machine-readable zones, often plain U).
- Mandarin readings and heteronyms: `pypinyin` (Mozillazg, data from the Unihan kMandarin/kHanyuPinyin
  fields); Wade-Giles from pypinyin's `Style.WADEGILES` table (Wade 1867 / Giles 1892).
- Hong Kong government Cantonese romanisation, Yale and Jyutping (LSHK 1993): the `cantonese-romanisation`
  package (traditional characters; simplified input is converted with `zhconv`).
- Surname readings that differ from a character's common reading: Xinhua Zidian surname notes
  (e.g. 单 Shàn, 区 Ōu, 解 Xiè, 仇 Qiú, 朴 Piáo, 盖 Gě, 查 Zhā, 曾 Zēng, 覃 Qín, 乐 Yuè).
- Southern Min (Hokkien/Teochew), Eastern Min (Fuzhou/Fuqing/Changle) and Hakka surname spellings:
  the transcriptions used in Singapore, Malaysian, Philippine and Indonesian civil registers as collected
  in "Chinese surnames in Southeast Asia" tables (Wikipedia, "List of common Chinese surnames", columns
  Hokkien/Teochew/Hakka/Fuzhou, consulted 2024) and the Foochow Romanized dictionary (Maclay & Baldwin 1870).
  The dialect tables cover surnames only; given names are expanded with Mandarin and Cantonese readings.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from itertools import product

import zhconv
from cantoroman import Cantonese
from pypinyin import Style, pinyin

SYSTEMS: tuple[str, ...] = (
    "pinyin",
    "wade_giles",
    "cantonese_hk",
    "yale",
    "jyutping",
    "hokkien_teochew",
    "fuzhou",
    "hakka",
)

# Surname readings that differ from the character's most frequent reading (Xinhua Zidian surname notes).
SURNAME_READINGS: dict[str, tuple[str, ...]] = {
    "曾": ("zeng",), "单": ("shan",), "区": ("ou",), "查": ("zha",), "解": ("xie",), "仇": ("qiu",),
    "朴": ("piao",), "盖": ("ge",), "乐": ("yue", "le"), "覃": ("qin", "tan"), "翟": ("zhai",), "尉": ("yu", "wei"),
    "缪": ("miao",), "秘": ("bi",), "冼": ("xian",), "洗": ("xian",), "繁": ("po",), "宁": ("ning",),
    "万": ("wan",), "沈": ("shen",), "任": ("ren",), "华": ("hua",), "种": ("chong",), "祭": ("zhai",),
    "员": ("yun",), "句": ("gou",), "召": ("shao",), "折": ("she",), "阚": ("kan",), "叶": ("ye",),
    "长": ("chang",), "重": ("chong",), "薄": ("bo",), "卜": ("bu",), "藏": ("zang",), "隗": ("wei",),
    "郇": ("xun",), "黑": ("he",), "参": ("can",), "车": ("che",), "都": ("du",), "朝": ("chao",),
    "谌": ("chen", "shen"), "澹": ("tan",), "燕": ("yan",), "纪": ("ji",), "相": ("xiang",), "令": ("ling",),
    "蕃": ("pi",), "过": ("guo",), "弗": ("fu",), "能": ("nai",), "柏": ("bai",), "贲": ("ben",),
}

# Compound (double) surnames, GB/T 28039-2011 §5.1 examples and the Hundred Family Surnames.
DOUBLE_SURNAMES: dict[str, tuple[str, ...]] = {
    "欧阳": ("ouyang",), "司马": ("sima",), "诸葛": ("zhuge",), "上官": ("shangguan",), "司徒": ("situ",),
    "东方": ("dongfang",), "皇甫": ("huangfu",), "尉迟": ("yuchi",), "公孙": ("gongsun",), "慕容": ("murong",),
    "长孙": ("zhangsun",), "令狐": ("linghu",), "夏侯": ("xiahou",), "轩辕": ("xuanyuan",), "宇文": ("yuwen",),
    "澹台": ("tantai",), "端木": ("duanmu",), "申屠": ("shentu",), "万俟": ("moqi",), "单于": ("chanyu",),
    "闻人": ("wenren",), "西门": ("ximen",), "南宫": ("nangong",), "呼延": ("huyan",), "钟离": ("zhongli",),
}

# Southern Min (Hokkien and Teochew) surname spellings in Singapore/Malaysia/Philippine registers.
HOKKIEN_TEOCHEW: dict[str, tuple[str, ...]] = {
    "陈": ("tan", "tang"), "林": ("lim",), "黄": ("ng", "ooi", "wee", "uy", "ung", "ong"), "李": ("lee", "li"),
    "张": ("teo", "teoh", "tiu", "tio", "chang"), "王": ("ong", "heng"), "吴": ("goh", "ngo", "go", "gouw"),
    "刘": ("lau", "low", "lao"), "蔡": ("chua", "chuah", "cua", "tsua"), "杨": ("yeo", "yeoh", "yo", "ieo"),
    "许": ("koh", "khoo", "kho", "khor", "co"), "郑": ("tay", "teh", "tee", "te"), "谢": ("chia", "cheah", "sia"),
    "洪": ("ang",), "郭": ("kuek", "kwek", "quek", "kueh", "koay"), "邱": ("khoo", "khu", "kiu"),
    "丘": ("khoo", "khu"), "曾": ("chan", "tsan"), "廖": ("liao", "leow", "liow"), "赖": ("lua", "loa"),
    "徐": ("chee", "tsi", "chi"), "周": ("chew", "chiu", "chau"), "叶": ("yap", "yeap", "iap"),
    "苏": ("soh", "saw", "so", "sou"), "庄": ("chng", "chuang"), "吕": ("lu", "lui"), "江": ("kang",),
    "何": ("ho",), "萧": ("siow", "seow", "siau"), "罗": ("lo", "loh"), "高": ("kow", "ko", "koh"),
    "潘": ("phua", "pua", "phoa"), "朱": ("choo", "chu"), "钟": ("cheng",), "彭": ("phang", "peh"),
    "游": ("yu", "iu"), "詹": ("chiam",), "胡": ("oh", "ou"), "施": ("si", "see", "sy"), "沈": ("sim",),
    "余": ("ee", "yee", "u"), "卢": ("loh", "lo", "lou"), "梁": ("neo", "nio", "leong"), "颜": ("gan",),
    "柯": ("kua", "kwa", "ko"), "孙": ("sng", "soon"), "魏": ("gui", "ngui"), "翁": ("ang", "ong"),
    "方": ("png", "hong"), "唐": ("tng",), "马": ("beh", "mah", "ma"), "戴": ("teh", "tay"), "傅": ("poh",),
    "程": ("thia",), "邓": ("teng", "tng"), "石": ("chioh",), "严": ("giam",), "白": ("peh",),
    "卓": ("toh",), "姚": ("yeow", "iau"), "龙": ("leng",), "薛": ("sih", "seet"), "汪": ("ong",),
    "佘": ("sia",), "侯": ("kow", "hau"), "宋": ("song",), "董": ("tang",), "龚": ("keng",),
}

# Eastern Min (Fuzhou, Fuqing, Changle, Lianjiang) surname spellings, Foochow Romanized without tone
# marks, as written by Foochow communities (Sibu, Sarawak; New York; Europe).
FUZHOU: dict[str, tuple[str, ...]] = {
    "陈": ("ting", "tang"), "林": ("ling",), "黄": ("wong", "uong", "ung"), "张": ("tiong", "diong"),
    "刘": ("lau",), "吴": ("ngu",), "郑": ("tang", "tiang"), "许": ("hii", "hu"), "余": ("yii", "ii"),
    "邱": ("kiu",), "谢": ("sia",), "江": ("kong", "kung"), "周": ("chiew", "ciu"), "朱": ("chu", "cu"),
    "王": ("wong", "uong", "ong"), "李": ("lee", "li"), "杨": ("yong", "iong"), "何": ("ho",),
    "叶": ("yek", "iek"), "郭": ("kuok",), "游": ("iu",), "施": ("sie",), "蔡": ("chai", "cai"),
    "丁": ("ting",), "程": ("tiang",), "苏": ("su",), "徐": ("sii", "seu"), "高": ("ko",), "薛": ("sieh",),
    "卓": ("tok",), "潘": ("puang",), "翁": ("ung",), "唐": ("tong",), "邓": ("tang",), "孙": ("song",),
}

# Hakka surname spellings (Malaysian/Indonesian registers; Hakka Pha̍k-fa-sṳ without tones).
HAKKA: dict[str, tuple[str, ...]] = {
    "陈": ("chin", "chen"), "林": ("lim", "lam"), "黄": ("wong", "vong"), "张": ("chong", "chang"),
    "李": ("lee", "li"), "刘": ("liew", "liu", "lew"), "杨": ("yong", "yang"), "吴": ("ng", "ngo"),
    "邓": ("then", "thang"), "曾": ("chen", "tsen"), "钟": ("chong", "choong"), "温": ("voon", "woon", "vun"),
    "罗": ("lo", "loh"), "赖": ("lai",), "彭": ("phang", "pang"), "谢": ("chia", "tshia"), "叶": ("yap", "yip"),
    "古": ("koo", "ku"), "邱": ("hiew", "khiu", "hiu"), "徐": ("chee", "tshi"), "朱": ("choo", "chu"),
    "何": ("ho",), "梁": ("liong", "leong"), "胡": ("foo", "fu"), "巫": ("voo", "boo"), "范": ("fam",),
    "廖": ("liau", "liew"), "江": ("kong",), "余": ("yee", "yi"), "蔡": ("chai", "tshai"), "郭": ("kok", "kwok"),
    "池": ("chi",), "丘": ("hiew", "khiu"), "王": ("wong", "vong"), "黎": ("lai",),
}

DIALECT_TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "hokkien_teochew": HOKKIEN_TEOCHEW,
    "fuzhou": FUZHOU,
    "hakka": HAKKA,
}

_CANTONESE = Cantonese()
_HAN_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NON_LETTER_RE = re.compile(r"[^a-z ]+")


def is_han(text: str) -> bool:
    """True when the text contains at least one CJK ideograph."""
    return bool(_HAN_RE.search(text))


def fold_latin(text: str) -> str:
    """Lower-case, strip accents and tone marks, turn ü into `v`; keep letters and single spaces.

    Apostrophes and hyphens (Wade-Giles `Ch'en`, `Tse-tung`) become nothing, other punctuation a space.
    """
    text = text.replace("ü", "v").replace("Ü", "v").replace("ǖ", "v").replace("ǘ", "v").replace("ǚ", "v").replace("ǜ", "v")
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    stripped = re.sub(r"['’`ʻʼ\-‐]", "", stripped)
    stripped = _NON_LETTER_RE.sub(" ", stripped)
    return " ".join(stripped.split())


def compact(text: str) -> str:
    """The comparison form: folded, without spaces."""
    return fold_latin(text).replace(" ", "")


def _u_variants(syllable: str) -> set[str]:
    """Passport and keyboard spellings of ü: LYU (passport since 2012), LV (MRZ/keyboard), LU, LUE."""
    if "v" not in syllable and "ü" not in syllable:
        return {syllable}
    base = syllable.replace("ü", "v")
    return {base, base.replace("v", "yu"), base.replace("v", "u"), base.replace("v", "ue")}


@lru_cache(maxsize=200_000)
def _mandarin(char: str) -> tuple[str, ...]:
    readings = pinyin(char, style=Style.NORMAL, heteronym=True, v_to_u=False, errors="ignore")
    return tuple(dict.fromkeys(r for group in readings for r in group if r.isalpha()))


@lru_cache(maxsize=200_000)
def _wade_giles(char: str) -> tuple[str, ...]:
    readings = pinyin(char, style=Style.WADEGILES, heteronym=True, v_to_u=True, errors="ignore")
    out: list[str] = []
    for group in readings:
        for reading in group:
            folded = compact(reading.replace("ê", "e"))
            if folded:
                out.append(folded)
                if "v" in folded:
                    out.append(folded.replace("v", "u"))
    return tuple(dict.fromkeys(out))


@lru_cache(maxsize=200_000)
def _cantonese(char: str) -> dict[str, tuple[str, ...]]:
    trad = zhconv.convert(char, "zh-hant")
    systems: dict[str, tuple[str, ...]] = {}
    hk = _CANTONESE.getRoman(trad)
    lshk = _CANTONESE.getLshk(trad)
    yale = _CANTONESE.getYale(trad)
    systems["cantonese_hk"] = tuple(dict.fromkeys(compact(r) for r in (hk[0] if hk else []) if compact(r)))
    systems["jyutping"] = tuple(dict.fromkeys(re.sub(r"\d", "", r) for r in (lshk[0] if lshk else []) if r))
    systems["yale"] = tuple(dict.fromkeys(compact(re.sub(r"\d", "", r)) for r in (yale[0] if yale else []) if r))
    return systems


def pinyin_readings(char: str, *, surname: bool = False) -> tuple[str, ...]:
    """Toneless Hanyu Pinyin readings of one character (`v` for ü); the surname reading first if asked."""
    base = _mandarin(char)
    if surname and char in SURNAME_READINGS:
        return tuple(dict.fromkeys(SURNAME_READINGS[char] + base))
    return base


def char_readings(char: str, system: str, *, surname: bool = False) -> tuple[str, ...]:
    """Written forms of one character in one system (compact, lower-case)."""
    if system == "pinyin":
        out: list[str] = []
        for reading in pinyin_readings(char, surname=surname):
            out.extend(sorted(_u_variants(reading)))
        return tuple(dict.fromkeys(out))
    if system == "wade_giles":
        if surname and char in SURNAME_READINGS:
            # The Wade-Giles table has no surname mode either; derive from the surname pinyin.
            return tuple(dict.fromkeys(_pinyin_syllable_to_wg(p) for p in SURNAME_READINGS[char])) + _wade_giles(char)
        return _wade_giles(char)
    if system in ("cantonese_hk", "yale", "jyutping"):
        return _cantonese(char).get(system, ())
    if system in DIALECT_TABLES:
        if surname and char in DIALECT_TABLES[system]:
            return DIALECT_TABLES[system][char]
        return ()
    raise ValueError(f"unknown romanisation system {system!r}")


@lru_cache(maxsize=4096)
def _pinyin_syllable_to_wg(syllable: str) -> str:
    for char in _PINYIN_EXAMPLE.get(syllable, ""):
        forms = _wade_giles(char)
        if forms:
            return forms[0]
    return syllable


_PINYIN_EXAMPLE: dict[str, str] = {
    "zeng": "增", "shan": "山", "ou": "欧", "zha": "渣", "xie": "谢", "qiu": "秋", "piao": "飘", "ge": "歌",
    "yue": "月", "qin": "秦", "zhai": "宅", "yu": "于", "wei": "伟", "miao": "苗", "bi": "必", "xian": "先",
    "po": "坡", "ning": "宁", "wan": "万", "shen": "申", "ren": "人", "hua": "花", "chong": "冲", "yun": "云",
    "gou": "沟", "shao": "邵", "she": "佘", "kan": "刊", "ye": "叶", "chang": "常", "bo": "波", "bu": "布",
    "zang": "臧", "xun": "寻", "he": "何", "can": "餐", "che": "车", "du": "杜", "chao": "超", "chen": "陈",
    "tan": "谈", "yan": "严", "ji": "吉", "xiang": "香", "ling": "林", "pi": "皮", "guo": "郭", "fu": "夫",
    "nai": "奶", "bai": "白", "ben": "本", "le": "勒",
}


def split_double_surname(family: str) -> tuple[str, str] | None:
    """If a full name in characters starts with a known double surname, return (surname, given)."""
    for surname in DOUBLE_SURNAMES:
        if family.startswith(surname) and len(family) > len(surname):
            return surname, family[len(surname):]
    return None


def _chars(text: str) -> list[str]:
    return [c for c in text if _HAN_RE.match(c)]


MAX_VARIANTS = 64


@lru_cache(maxsize=300_000)
def name_variants(text: str, *, surname: bool) -> dict[str, tuple[str, ...]]:
    """Written forms of a name part (in characters) per system, each compact (no spaces).

    A surname uses the surname table, double surnames and the dialect surname tables; a given name is
    expanded with every heteronym combination, capped at MAX_VARIANTS forms per system.
    Latin-script input yields its own compact form under every system.
    """
    if not is_han(text):
        folded = compact(text)
        return {"latin": (folded,)} if folded else {}
    chars = _chars(text)
    result: dict[str, tuple[str, ...]] = {}
    for system in SYSTEMS:
        if surname and "".join(chars) in DOUBLE_SURNAMES and system == "pinyin":
            per_char: list[tuple[str, ...]] = [DOUBLE_SURNAMES["".join(chars)]]
        elif system in DIALECT_TABLES:
            if not surname or len(chars) != 1 or chars[0] not in DIALECT_TABLES[system]:
                continue
            per_char = [DIALECT_TABLES[system][chars[0]]]
        else:
            per_char = [char_readings(c, system, surname=surname and len(chars) == 1) for c in chars]
        if not per_char or any(not readings for readings in per_char):
            continue
        forms: list[str] = []
        for combo in product(*per_char):
            forms.append("".join(combo))
            if len(forms) >= MAX_VARIANTS:
                break
        result[system] = tuple(dict.fromkeys(forms))
    return result


def all_forms(text: str, *, surname: bool) -> frozenset[str]:
    """Every compact written form of a name part, across systems."""
    return frozenset(f for forms in name_variants(text, surname=surname).values() for f in forms)


@lru_cache(maxsize=300_000)
def pinyin_keys(text: str, *, surname: bool, limit: int = 8) -> tuple[str, ...]:
    """Blocking keys of a name part: its toneless pinyin spellings (ü as `v`), or the folded Latin form."""
    if not is_han(text):
        folded = compact(text)
        return (folded,) if folded else ()
    chars = _chars(text)
    whole = "".join(chars)
    if surname and whole in DOUBLE_SURNAMES:
        return DOUBLE_SURNAMES[whole]
    per_char = [pinyin_readings(c, surname=surname and len(chars) == 1) for c in chars]
    if any(not r for r in per_char):
        return ()
    keys: list[str] = []
    for combo in product(*per_char):
        keys.append("".join(combo))
        if len(keys) >= limit:
            break
    return tuple(keys)


# --- Latin -> pinyin, for blocking -------------------------------------------------------------------


def _gb2312_level1() -> list[str]:
    """The 3,755 most common characters (GB 2312-80 level 1, rows 16-55), enumerated from the codec."""
    chars: list[str] = []
    for row in range(0xB0, 0xD8):
        for cell in range(0xA1, 0xFF):
            try:
                chars.append(bytes([row, cell]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


@lru_cache(maxsize=1)
def _pinyin_to_wg() -> dict[str, tuple[str, ...]]:
    """Syllable-level Pinyin -> Wade-Giles, read off characters that have a single Mandarin reading."""
    table: dict[str, list[str]] = {}
    for char in _gb2312_level1():
        readings = _mandarin(char)
        if len(readings) != 1:
            continue
        for form in _wade_giles(char):
            table.setdefault(readings[0], [])
            if form not in table[readings[0]]:
                table[readings[0]].append(form)
    return {k: tuple(v) for k, v in table.items()}


@lru_cache(maxsize=1)
def _ranked_syllable_map() -> dict[str, tuple[str, ...]]:
    """Written syllable -> pinyin syllables, most direct first (pinyin, Wade-Giles, Cantonese, dialects).

    Within one system, the pinyin syllables that more characters are written with come first (`sau` stands
    for 秀 xiu and 手 shou far more often than for 臭 chou): the count of characters behind each mapping is
    the maximum-likelihood reading order when every character is equally likely, so that the readings a
    query keeps for blocking (`latin_to_pinyin_keys`, which stops after `limit`) are the likeliest.
    """
    ranked: dict[str, dict[str, int]] = {}
    counts: dict[str, Counter[str]] = {}

    def add(form: str, targets: Iterable[str], rank: int) -> None:
        if not form:
            return
        slot = ranked.setdefault(form, {})
        tally = counts.setdefault(form, Counter())
        for target in targets:
            slot[target] = min(slot.get(target, rank), rank)
            tally[target] += 1

    chars = set(_gb2312_level1()) | set(SURNAME_READINGS)
    for table in DIALECT_TABLES.values():
        chars |= set(table)
    for char in sorted(chars):
        readings = pinyin_readings(char, surname=char in SURNAME_READINGS)
        for reading in readings:
            for form in _u_variants(reading):
                add(form, [reading], 0)
        for system in ("cantonese_hk", "yale", "jyutping"):
            for form in char_readings(char, system):
                add(form, readings, 2)
        for table in DIALECT_TABLES.values():
            for form in table.get(char, ()):
                add(form, pinyin_readings(char, surname=True)[:1], 3)
    for syllable, forms in _pinyin_to_wg().items():
        for form in forms:
            add(form, [syllable], 1)
    for readings in DOUBLE_SURNAMES.values():
        add(readings[0], readings, 0)
    return {form: tuple(sorted(slot, key=lambda t: (slot[t], -counts[form][t], t))) for form, slot in ranked.items()}


def syllable_map() -> dict[str, tuple[str, ...]]:
    """Map from every written syllable (any system) to the pinyin syllables it may stand for, most direct first.

    Built from the GB 2312 level-1 characters plus all surname tables; used to turn Latin-script query
    names into pinyin blocking keys.
    """
    return _ranked_syllable_map()


@lru_cache(maxsize=1)
def _max_syllable_len() -> int:
    return max(len(k) for k in syllable_map())


def segment(word: str, *, limit: int = 4) -> list[list[str]]:
    """Split a compact Latin word into known syllables (any system); fewest syllables first.

    `weiming` -> [['wei', 'ming'], ...]; returns [] when no full segmentation exists.
    """
    vocab = syllable_map()
    longest = _max_syllable_len()
    n = len(word)
    # best[i] = segmentations of word[i:], computed right to left, kept short.
    best: list[list[list[str]]] = [[] for _ in range(n + 1)]
    best[n] = [[]]
    for i in range(n - 1, -1, -1):
        options: list[list[str]] = []
        for j in range(min(n, i + longest), i, -1):
            piece = word[i:j]
            if piece in vocab and best[j]:
                options.extend([piece, *rest] for rest in best[j])
        options.sort(key=len)
        best[i] = options[:limit]
    return best[0]


def latin_to_pinyin_keys(text: str, *, limit: int = 24) -> tuple[str, ...]:
    """Pinyin spellings a Latin-script name part may stand for (for blocking), plus its own compact form.

    Tokens are kept apart when the writer separated them (`Wai Ming`, `Wei-ming` loses the hyphen but
    is segmented); unknown syllables keep their Latin form so Latin registries still block.
    """
    folded = fold_latin(text)
    if not folded:
        return ()
    vocab = syllable_map()
    own = folded.replace(" ", "")
    keys: list[str] = [own]
    token_options: list[list[str]] = []
    for token in folded.split():
        if token in vocab:
            token_options.append(list(vocab[token]))
            continue
        segs = segment(token, limit=2)
        if not segs:
            return tuple(dict.fromkeys(keys))
        seg_opts: list[str] = []
        for seg in segs:
            seg_opts += _likeliest([list(vocab[s][:6]) for s in seg], limit)[:limit - len(seg_opts)]
        token_options.append(seg_opts)
    keys += _likeliest(token_options, limit)
    return tuple(dict.fromkeys(keys))[:limit]


def _likeliest(options: list[list[str]], limit: int) -> list[str]:
    """The `limit` likeliest joined combinations of per-syllable options (each list likeliest first).

    Best first by the sum of the options' positions (a product of per-syllable likelihoods that fall
    geometrically with rank), so that a two-syllable name keeps good readings of *both* syllables instead
    of every reading of the second with only the first reading of the first.
    """
    if not options or any(not o for o in options) or limit <= 0:
        return []
    # k-best enumeration: pop the smallest (sum, positions), push its successors (one position + 1); each
    # combination enters the heap once. O(limit x syllables x log) instead of the whole product.
    start = (0,) * len(options)
    heap: list[tuple[int, tuple[int, ...]]] = [(0, start)]
    seen = {start}
    out: list[str] = []
    while heap and len(out) < limit:
        total, ix = heapq.heappop(heap)
        out.append("".join(o[i] for o, i in zip(options, ix, strict=True)))
        for k in range(len(ix)):
            if ix[k] + 1 < len(options[k]):
                nxt = ix[:k] + (ix[k] + 1,) + ix[k + 1:]
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (total + 1, nxt))
    return out
