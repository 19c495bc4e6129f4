"""Code lists shared by the DTM forms, the checks and the exports, each code with English and Chinese labels.

Sources:
- Sectors: IOM, *Migration Crisis Operational Framework* (MCOF), MC/2355, 15 November 2012, adopted by
  IOM Council Resolution No. 1243 (27 November 2012), section "Sectors of assistance": the fifteen
  sectors listed in `MCOF_SECTORS`, in the document's order.
- Age groups, displacement reasons, shelter and site types: IOM DTM, *Mobility Tracking methodological
  framework* and the baseline/site assessment (Multi-Sectoral Location Assessment) questionnaires
  published with DTM rounds (e.g. DTM Nigeria rounds), which break population into under 1, 1-5,
  6-17, 18-59 and 60 and over, by sex.
"""

from __future__ import annotations

from typing import NamedTuple


class Code(NamedTuple):
    name: str
    en: str
    zh: str


MCOF_SECTORS: tuple[Code, ...] = (
    Code("camp_management", "Camp management and displacement tracking", "营地管理和流离失所跟踪"),
    Code("shelter_nfi", "Shelter and non-food items", "住所和非食品物资"),
    Code("transport", "Transport assistance for affected populations", "为受影响人口提供交通援助"),
    Code("health", "Health support", "卫生支持"),
    Code("psychosocial", "Psychosocial support", "心理社会支持"),
    Code("reintegration", "(Re)integration assistance", "（再）融入援助"),
    Code("community_stabilization", "Activities to support community stabilization and transition", "支持社区稳定和过渡的活动"),
    Code("drr_resilience", "Disaster risk reduction and resilience building", "减少灾害风险和抗灾能力建设"),
    Code("land_property", "Land and property support", "土地和财产支持"),
    Code("counter_trafficking", "Counter-trafficking and protection of vulnerable migrants", "打击人口贩运和保护弱势移民"),
    Code("border_management", "Technical assistance for humanitarian border management", "人道主义边境管理技术援助"),
    Code("consular", "Emergency consular assistance", "紧急领事援助"),
    Code("diaspora_hr", "Diaspora and human resource mobilization", "侨民和人力资源动员"),
    Code("migration_policy", "Migration policy and legislation support", "移民政策和立法支持"),
    Code("humanitarian_comms", "Humanitarian communications", "人道主义传播"),
)

AGE_GROUPS: tuple[Code, ...] = (
    Code("under1", "Under 1", "1岁以下"),
    Code("1_5", "1 to 5", "1至5岁"),
    Code("6_17", "6 to 17", "6至17岁"),
    Code("18_59", "18 to 59", "18至59岁"),
    Code("60plus", "60 and over", "60岁及以上"),
)

SEXES: tuple[Code, ...] = (Code("m", "Male", "男"), Code("f", "Female", "女"))

BREAKDOWN_FIELDS: tuple[str, ...] = tuple(f"{sex.name}_{age.name}" for sex in SEXES for age in AGE_GROUPS)
"""Field names of the sex and age breakdown, e.g. ``m_under1`` ... ``f_60plus``."""

DISPLACEMENT_REASONS: tuple[Code, ...] = (
    Code("conflict", "Armed conflict", "武装冲突"),
    Code("communal_clashes", "Communal clashes", "社区冲突"),
    Code("flood", "Flood", "洪水"),
    Code("drought", "Drought", "干旱"),
    Code("storm", "Storm or cyclone", "风暴或气旋"),
    Code("earthquake", "Earthquake", "地震"),
    Code("fire", "Fire", "火灾"),
    Code("eviction", "Eviction", "驱逐"),
    Code("economic", "Economic reasons", "经济原因"),
    Code("other", "Other", "其他"),
)

SHELTER_TYPES: tuple[Code, ...] = (
    Code("host_family", "With host families", "寄居家庭"),
    Code("rented", "Rented housing", "租赁住房"),
    Code("own_house", "Own house", "自有住房"),
    Code("camp", "Camp or camp-like setting", "营地或类营地"),
    Code("collective_centre", "Collective centre", "集体中心"),
    Code("makeshift", "Makeshift shelter", "临时搭建住所"),
    Code("open_air", "Open air", "露天"),
)

SITE_TYPES: tuple[Code, ...] = (
    Code("camp", "Camp", "营地"),
    Code("collective_centre", "Collective centre", "集体中心"),
    Code("transit_centre", "Transit centre", "中转中心"),
    Code("informal_settlement", "Informal settlement", "非正规定居点"),
    Code("host_community", "Host community", "收容社区"),
)

MANAGEMENT_AGENCIES: tuple[Code, ...] = (
    Code("government", "Government", "政府"),
    Code("un_agency", "UN agency", "联合国机构"),
    Code("ngo", "NGO", "非政府组织"),
    Code("community", "Community committee", "社区委员会"),
    Code("other", "Other", "其他"),
)

SERVICE_LEVELS: tuple[Code, ...] = (
    Code("available", "Available and sufficient", "可用且充足"),
    Code("partial", "Available but insufficient", "可用但不足"),
    Code("none", "Not available", "不可用"),
    Code("not_applicable", "Not applicable", "不适用"),
)

ACCESS_LEVELS: tuple[Code, ...] = (
    Code("full", "Fully accessible", "完全可达"),
    Code("partial", "Partially accessible", "部分可达"),
    Code("none", "Not accessible", "不可达"),
)

ACCESS_CONSTRAINTS: tuple[Code, ...] = (
    Code("insecurity", "Insecurity", "安全问题"),
    Code("flooding", "Flooding", "洪涝"),
    Code("road_damage", "Damaged roads or bridges", "道路或桥梁受损"),
    Code("administrative", "Administrative restrictions", "行政限制"),
    Code("distance", "Distance", "距离过远"),
)

FLOW_POINT_TYPES: tuple[Code, ...] = (
    Code("border_crossing", "Border crossing point", "边境口岸"),
    Code("bus_station", "Bus station", "汽车站"),
    Code("train_station", "Train station", "火车站"),
    Code("port", "Port", "港口"),
    Code("airport", "Airport", "机场"),
    Code("transit_point", "Transit point on a route", "途中中转点"),
)

DIRECTIONS: tuple[Code, ...] = (Code("incoming", "Incoming", "入境/流入"), Code("outgoing", "Outgoing", "出境/流出"))

TRANSPORT_MODES: tuple[Code, ...] = (
    Code("foot", "On foot", "步行"),
    Code("bus", "Bus", "公共汽车"),
    Code("car", "Car", "小汽车"),
    Code("truck", "Truck", "卡车"),
    Code("motorbike", "Motorbike", "摩托车"),
    Code("train", "Train", "火车"),
    Code("boat", "Boat", "船"),
    Code("air", "Air", "飞机"),
    Code("other", "Other", "其他"),
)

MOVEMENT_REASONS: tuple[Code, ...] = (
    Code("economic", "Economic reasons", "经济原因"),
    Code("conflict", "Conflict or violence", "冲突或暴力"),
    Code("natural_disaster", "Natural disaster", "自然灾害"),
    Code("family", "Family reunification", "家庭团聚"),
    Code("education", "Education", "教育"),
    Code("seasonal", "Seasonal movement", "季节性流动"),
    Code("other", "Other", "其他"),
)

VULNERABILITIES: tuple[Code, ...] = (
    Code("unaccompanied_child", "Unaccompanied or separated child in group", "同行中有无人陪伴或失散儿童"),
    Code("pregnant", "Pregnant or lactating woman in group", "同行中有孕妇或哺乳期妇女"),
    Code("disability", "Person with a disability in group", "同行中有残疾人"),
    Code("elderly", "Older person in group", "同行中有老年人"),
    Code("chronic_illness", "Chronic illness in group", "同行中有慢性病患者"),
)

YES_NO: tuple[Code, ...] = (Code("yes", "Yes", "是"), Code("no", "No", "否"))


def codes(values: tuple[Code, ...]) -> frozenset[str]:
    """The set of code names of a code list."""
    return frozenset(code.name for code in values)
