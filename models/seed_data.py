"""The Linyi-like demo data that `xueliang seed demo` loads: plain tuples, and a few small generators.

Sources and choices
-------------------
Township-level units (乡镇/街道) and their 12-digit statistical codes (省2 市2 县2 乡3 村3) follow the National
Bureau of Statistics' 统计用区划代码 tables as mirrored in github.com/modood/Administrative-divisions-of-China
(dist/streets.csv, 2020-2023 editions, which agree with each other):

* 兰山区 371302: 兰山、银雀山、金雀山、柳青街道; 白沙埠、枣园、半程、义堂、李官、方城、汪沟镇 (11)
* 罗庄区 371311: 罗庄、傅庄、盛庄、册山、高都街道; 沂堂、褚墩、黄山镇 (8)
* 河东区 371312: 九曲、相公、太平、汤头、凤凰岭、芝麻墩、梅家埠、朝阳街道; 汤河、八湖、郑旺镇 (11)
  (芝麻墩、梅家埠、朝阳 are run by the 临沂经济技术开发区 but are coded, and kept here, under 河东区)
* 临沂高新技术产业开发区 371371: 罗西街道 (statistically moved out of 罗庄区), 马厂湖镇 (out of 兰山区) (2)

That is 32. The civilization office's reports speak of 33 townships/streets in these districts; the sources
disagree, and the statistical tables are the most recent consistent list. To keep the 33 the demo promises,
南坊街道 (兰山区, the 北城新区 area, named in the 兰山区 gazetteer and still used in addresses, but absent from
the statistical tables since at least 2016) is added with the code 371302400000, from the 4xx range that the
tables use for township-like units that are not formal 乡镇/街道. Drop it if an exact statistical tree matters.

Centre points are approximate (the tree carries centres, not boundaries). A few village/community names are
real and were confirmed in published sources (东北园社区, 沂州社区, 十里堡社区, 王三岗村, 吴白庄村, 中兴社区,
诸葛城村, 西桥村, 鄅古城村); every other village is clearly generated ("<街道/镇名>第N社区"), with a generated
code. Phone numbers, people and devices are fictitious.
"""

from __future__ import annotations

import math
from typing import NamedTuple

# --------------------------------------------------------------------------- administrative tree


class Area(NamedTuple):
    code: str  # 12-digit statistical division code
    name: str
    name_en: str
    lat: float
    lon: float


class Township(NamedTuple):
    code: str  # 12-digit
    district: str  # 12-digit code of its district
    name: str
    name_en: str
    lat: float
    lon: float
    spread: float  # degrees from the centre to its villages' centres
    villages: int  # how many villages/communities (3-6)
    real: tuple[tuple[str, str], ...] = ()  # confirmed real village names (zh, en), used first


class Village(NamedTuple):
    code: str
    township: str  # 12-digit code of its township
    name: str
    name_en: str
    lat: float
    lon: float


CITY = Area("371300000000", "临沂市", "Linyi City", 35.104, 118.356)

LANSHAN = "371302000000"
LUOZHUANG = "371311000000"
HEDONG = "371312000000"
GAOXIN = "371371000000"

DISTRICTS: tuple[Area, ...] = (
    Area(LANSHAN, "兰山区", "Lanshan District", 35.130, 118.300),
    Area(HEDONG, "河东区", "Hedong District", 35.120, 118.450),
    Area(LUOZHUANG, "罗庄区", "Luozhuang District", 34.955, 118.285),
    Area(GAOXIN, "临沂高新技术产业开发区", "Linyi High-tech Industrial Development Zone", 35.033, 118.255),
)

_T = Township
# fmt: off
TOWNSHIPS: tuple[Township, ...] = (
    # 兰山区: the old city west of the 沂河 and the hills to the north and north-west
    _T("371302001000", LANSHAN, "兰山街道", "Lanshan Subdistrict", 35.078, 118.318, 0.012, 5),
    _T("371302002000", LANSHAN, "银雀山街道", "Yinqueshan Subdistrict", 35.042, 118.345, 0.010, 4),
    _T("371302003000", LANSHAN, "金雀山街道", "Jinqueshan Subdistrict", 35.060, 118.363, 0.008, 4,
       (("东北园社区", "Dongbeiyuan Community"),)),
    _T("371302004000", LANSHAN, "柳青街道", "Liuqing Subdistrict", 35.127, 118.339, 0.012, 5,
       (("沂州社区", "Yizhou Community"),)),
    _T("371302101000", LANSHAN, "白沙埠镇", "Baishabu Town", 35.235, 118.385, 0.025, 4,
       (("诸葛城村", "Zhugecheng Village"),)),
    _T("371302102000", LANSHAN, "枣园镇", "Zaoyuan Town", 35.180, 118.245, 0.025, 4),
    _T("371302103000", LANSHAN, "半程镇", "Bancheng Town", 35.200, 118.315, 0.022, 4),
    _T("371302105000", LANSHAN, "义堂镇", "Yitang Town", 35.112, 118.230, 0.025, 5),
    _T("371302107000", LANSHAN, "李官镇", "Liguan Town", 35.325, 118.360, 0.025, 3),
    _T("371302109000", LANSHAN, "方城镇", "Fangcheng Town", 35.280, 118.185, 0.025, 3),
    _T("371302110000", LANSHAN, "汪沟镇", "Wanggou Town", 35.285, 118.285, 0.022, 3),
    _T("371302400000", LANSHAN, "南坊街道", "Nanfang Subdistrict", 35.110, 118.372, 0.008, 4,
       (("鄅古城村", "Yugucheng Village"),)),
    # 河东区: east of the 沂河
    _T("371312001000", HEDONG, "九曲街道", "Jiuqu Subdistrict", 35.069, 118.392, 0.010, 6,
       (("中兴社区", "Zhongxing Community"),)),
    _T("371312004000", HEDONG, "相公街道", "Xianggong Subdistrict", 35.175, 118.420, 0.020, 4),
    _T("371312005000", HEDONG, "太平街道", "Taiping Subdistrict", 35.112, 118.425, 0.015, 4),
    _T("371312006000", HEDONG, "汤头街道", "Tangtou Subdistrict", 35.300, 118.432, 0.022, 4),
    _T("371312007000", HEDONG, "凤凰岭街道", "Fenghuangling Subdistrict", 35.128, 118.475, 0.018, 4),
    _T("371312009000", HEDONG, "芝麻墩街道", "Zhimadun Subdistrict", 35.022, 118.405, 0.012, 5),
    _T("371312010000", HEDONG, "梅家埠街道", "Meijiabu Subdistrict", 34.968, 118.428, 0.015, 4),
    _T("371312011000", HEDONG, "朝阳街道", "Chaoyang Subdistrict", 35.000, 118.478, 0.018, 4),
    _T("371312104000", HEDONG, "汤河镇", "Tanghe Town", 35.205, 118.512, 0.022, 3),
    _T("371312107000", HEDONG, "八湖镇", "Bahu Town", 35.058, 118.520, 0.022, 3),
    _T("371312108000", HEDONG, "郑旺镇", "Zhengwang Town", 35.255, 118.478, 0.022, 3),
    # 罗庄区: south of the city
    _T("371311001000", LUOZHUANG, "罗庄街道", "Luozhuang Subdistrict", 34.992, 118.288, 0.012, 5),
    _T("371311002000", LUOZHUANG, "傅庄街道", "Fuzhuang Subdistrict", 34.958, 118.255, 0.015, 4),
    _T("371311003000", LUOZHUANG, "盛庄街道", "Shengzhuang Subdistrict", 35.020, 118.330, 0.012, 6,
       (("十里堡社区", "Shilipu Community"), ("王三岗村", "Wangsangang Village"),
        ("吴白庄村", "Wubaizhuang Village"))),
    _T("371311006000", LUOZHUANG, "册山街道", "Ceshan Subdistrict", 34.925, 118.295, 0.018, 4),
    _T("371311007000", LUOZHUANG, "高都街道", "Gaodu Subdistrict", 34.968, 118.345, 0.015, 4),
    _T("371311100000", LUOZHUANG, "沂堂镇", "Yitang Town", 34.885, 118.365, 0.022, 4),
    _T("371311101000", LUOZHUANG, "褚墩镇", "Chudun Town", 34.870, 118.225, 0.022, 4),
    _T("371311102000", LUOZHUANG, "黄山镇", "Huangshan Town", 34.930, 118.175, 0.022, 4),
    # 临沂高新区: south-west
    _T("371371001000", GAOXIN, "罗西街道", "Luoxi Subdistrict", 35.008, 118.245, 0.014, 5,
       (("西桥村", "Xiqiao Village"),)),
    _T("371371100000", GAOXIN, "马厂湖镇", "Machanghu Town", 35.058, 118.262, 0.018, 4),
)
# fmt: on
del _T

_ORDINALS = ("一", "二", "三", "四", "五", "六", "七", "八", "九")


def _short(township_name: str) -> str:
    """'兰山街道' -> '兰山', '白沙埠镇' -> '白沙埠'."""
    for suffix in ("街道", "镇", "乡"):
        if township_name.endswith(suffix):
            return township_name[: -len(suffix)]
    return township_name


def _short_en(township_name_en: str) -> str:
    return township_name_en.rsplit(" ", 1)[0]


def villages() -> tuple[Village, ...]:
    """Each township's villages/communities on a ring around its centre; real names first. Communities (社区)
    take codes 001-199 and villages (村) 200-399, as the statistical tables do."""
    out: list[Village] = []
    for t_index, town in enumerate(TOWNSHIPS):
        stem = town.code[:9]
        phase = 0.7 * t_index
        community_no, village_no, generated_no = 0, 0, 0
        for k in range(town.villages):
            if k < len(town.real):
                name, name_en = town.real[k]
            else:
                generated_no += 1
                name = f"{_short(town.name)}第{_ORDINALS[generated_no - 1]}社区"
                name_en = f"{_short_en(town.name_en)} No.{generated_no} Community"
            if name.endswith("村"):
                village_no += 1
                code = f"{stem}{200 + village_no:03d}"
            else:
                community_no += 1
                code = f"{stem}{community_no:03d}"
            angle = phase + 2 * math.pi * k / town.villages
            radius = town.spread * (0.75 + 0.25 * (k % 2))
            lat = round(town.lat + radius * math.sin(angle), 6)
            lon = round(town.lon + radius * math.cos(angle) / math.cos(math.radians(town.lat)), 6)
            out.append(Village(code, town.code, name, name_en, lat, lon))
    return tuple(out)


# --------------------------------------------------------------------------- categories (GB/T 30428 style)

COMPONENT_MAJORS: dict[str, tuple[str, str]] = {
    "01": ("公用设施", "Public utilities"),
    "02": ("道路交通", "Roads and traffic"),
    "03": ("市容环境", "City appearance and environment"),
    "04": ("园林绿化", "Landscaping and greenery"),
    "05": ("房屋土地", "Buildings and land"),
    "06": ("其他设施", "Other facilities"),
}

EVENT_MAJORS: dict[str, tuple[str, str]] = {
    "01": ("市容环境", "City appearance and environment"),
    "02": ("宣传广告", "Publicity and advertising"),
    "03": ("施工管理", "Construction management"),
    "04": ("突发事件", "Emergencies"),
    "05": ("街面秩序", "Street order"),
    # Not in GB/T 30428: Xueliang's own extension for camera alarms (public security and traffic).
    "06": ("治安与交通告警", "Security and traffic alarms (Xueliang extension, not GB/T 30428)"),
}


class CategorySpec(NamedTuple):
    code: str  # "C" component / "E" event + 2-digit major + 2-digit minor
    name: str
    name_en: str


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("C0101", "井盖破损", "Damaged or missing manhole cover"),
    CategorySpec("C0102", "路灯损坏", "Damaged street lamp"),
    CategorySpec("C0103", "消防栓损坏", "Damaged fire hydrant"),
    CategorySpec("C0201", "道路破损", "Damaged road surface"),
    CategorySpec("C0202", "交通信号灯故障", "Traffic signal failure"),
    CategorySpec("C0203", "交通护栏损坏", "Damaged traffic guardrail"),
    CategorySpec("C0204", "交通标志牌损坏", "Damaged traffic sign"),
    CategorySpec("C0205", "公交站亭损坏", "Damaged bus shelter"),
    CategorySpec("C0301", "垃圾箱破损", "Damaged litter bin"),
    CategorySpec("C0401", "行道树损坏", "Damaged or fallen street tree"),
    CategorySpec("C0501", "建筑外立面破损", "Damaged building facade"),
    CategorySpec("C0601", "监控设施损坏", "Damaged surveillance equipment"),
    CategorySpec("C0602", "健身器材损坏", "Damaged public fitness equipment"),
    CategorySpec("E0101", "暴露垃圾", "Exposed garbage (environmental sanitation)"),
    CategorySpec("E0102", "积存垃圾渣土", "Accumulated garbage and muck"),
    CategorySpec("E0103", "道路不洁", "Dirty road surface"),
    CategorySpec("E0104", "露天焚烧", "Open burning"),
    CategorySpec("E0201", "非法小广告", "Illegal small advertisements"),
    CategorySpec("E0202", "违规户外广告", "Non-compliant outdoor advertising"),
    CategorySpec("E0301", "违法建设", "Illegal construction"),
    CategorySpec("E0302", "工地扬尘", "Construction site dust"),
    CategorySpec("E0303", "道路遗撒", "Spillage from transport vehicles"),
    CategorySpec("E0401", "道路积水", "Waterlogged road"),
    CategorySpec("E0402", "路面塌陷", "Road surface collapse"),
    CategorySpec("E0403", "管道破裂", "Burst pipe"),
    CategorySpec("E0501", "机动车乱停放", "Motor-vehicle parking disorder"),
    CategorySpec("E0502", "非机动车乱停放", "Non-motor-vehicle parking disorder"),
    CategorySpec("E0503", "占道经营", "Street vending on the road"),
    CategorySpec("E0601", "区域入侵", "Area intrusion (camera alarm)"),
    CategorySpec("E0602", "越界", "Line crossing (camera alarm)"),
    CategorySpec("E0603", "徘徊", "Loitering (camera alarm)"),
    CategorySpec("E0604", "人员聚集", "Crowd gathering (camera alarm)"),
    CategorySpec("E0605", "移动侦测", "Motion detection (camera alarm)"),
    CategorySpec("E0606", "烟火", "Fire or smoke detected (camera alarm)"),
    CategorySpec("E0607", "交通事故", "Traffic accident (camera alarm)"),
    CategorySpec("E0608", "交通拥堵", "Traffic congestion (camera alarm)"),
    CategorySpec("E0609", "机动车逆行", "Vehicle driving the wrong way (checkpoint alarm)"),
    CategorySpec("E0610", "违法停车", "Illegal parking detected by checkpoint"),
)

# The five problem types of Linyi's civilization-office video patrol.
LINYI_FIVE_PROBLEMS: tuple[str, ...] = ("E0101", "E0501", "E0502", "E0301", "E0201")

# --------------------------------------------------------------------------- responsible units


class DepartmentSpec(NamedTuple):
    code: str
    name: str


DEPARTMENTS: tuple[DepartmentSpec, ...] = (
    DepartmentSpec("DEPT-CG", "临沂市城市管理局"),
    DepartmentSpec("DEPT-HW", "临沂市环境卫生服务中心"),
    DepartmentSpec("DEPT-JJ", "临沂市公安局交通警察支队"),
    DepartmentSpec("DEPT-GA", "临沂市公安局治安警察支队"),
    DepartmentSpec("DEPT-ZJ", "临沂市住房和城乡建设局"),
    DepartmentSpec("DEPT-ZR", "临沂市自然资源和规划局"),
)


def government_code(township_code: str) -> str:
    return f"GOV-{township_code}"


def committee_code(village_code: str) -> str:
    return f"VC-{village_code}"


def government_name(township_name: str) -> str:
    """街道 -> '<名>办事处'; 镇/乡 -> '<名>人民政府'."""
    return f"{township_name}办事处" if township_name.endswith("街道") else f"{township_name}人民政府"


def committee_name(village_name: str) -> str:
    return f"{village_name}村民委员会" if village_name.endswith("村") else f"{village_name}居民委员会"


def demo_phone(index: int) -> str:
    """A fictitious mainland mobile number for the index-th demo contact (index >= 1): 139-000x-xxxx."""
    return f"139000{index:05d}"


# --------------------------------------------------------------------------- routing rules


class RuleSpec(NamedTuple):
    key: str
    category: str | None  # category code, None = any category
    start_tier: str
    responsible: str | None  # responsible unit code, None = the township government of the place
    rectify_hours: float
    review_hours: float = 1.0  # at each tier
    ack_hours: float = 1.0
    rectify_days: int | None = None  # working days; when set it decides the rectification deadline


def _working_days(hours: float) -> int:
    """Common 数字城管 practice counts rectification in working days, 2 to 7 by category."""
    return max(2, min(7, round(hours / 24)))


def _cat(code: str, start: str, unit: str | None, rectify: float, review: float = 1.0, ack: float = 1.0) -> RuleSpec:
    # Camera alarms (E06xx) run on the clock, day and night; everything else on working days.
    days = None if code.startswith("E06") else _working_days(rectify)
    return RuleSpec(f"cat-{code}", code, start, unit, rectify, review, ack, days)


# Review and dispatch within 1 h, acknowledgement within 1 h; rectification in 2-7 working days by category
# (the hours below are the fallback and what camera alarms use).
ROUTING_RULES: tuple[RuleSpec, ...] = (
    RuleSpec("default", None, "village", None, 72.0, rectify_days=3),
    _cat("C0101", "village", "DEPT-ZJ", 48.0),  # an open manhole is a hazard: faster than other components
    _cat("C0102", "village", "DEPT-CG", 120.0),
    _cat("C0103", "village", "DEPT-ZJ", 120.0),
    _cat("C0201", "village", "DEPT-ZJ", 120.0),
    _cat("C0202", "township", "DEPT-JJ", 24.0),
    _cat("C0203", "village", "DEPT-JJ", 120.0),
    _cat("C0204", "village", "DEPT-JJ", 120.0),
    _cat("C0205", "village", "DEPT-CG", 120.0),
    _cat("C0301", "village", "DEPT-HW", 72.0),
    _cat("C0401", "village", "DEPT-CG", 72.0),
    _cat("C0501", "village", None, 168.0),
    _cat("C0601", "township", "DEPT-GA", 120.0),
    _cat("C0602", "village", None, 120.0),
    _cat("E0101", "village", None, 48.0),
    _cat("E0102", "village", None, 48.0),
    _cat("E0103", "village", "DEPT-HW", 24.0),
    _cat("E0104", "village", None, 24.0),
    _cat("E0201", "village", None, 48.0),
    _cat("E0202", "township", "DEPT-CG", 120.0),
    _cat("E0301", "township", "DEPT-ZJ", 168.0),
    _cat("E0302", "township", "DEPT-ZJ", 72.0),
    _cat("E0303", "village", "DEPT-CG", 24.0),
    _cat("E0401", "township", "DEPT-CG", 24.0),
    _cat("E0402", "township", "DEPT-ZJ", 72.0),
    _cat("E0403", "township", "DEPT-ZJ", 48.0),
    _cat("E0501", "village", "DEPT-JJ", 24.0),
    _cat("E0502", "village", None, 24.0),
    _cat("E0503", "village", None, 24.0),
    # Camera alarms: security to the public-security bureau, traffic to the traffic police; short clocks.
    _cat("E0601", "township", "DEPT-GA", 24.0, 0.5, 0.5),
    _cat("E0602", "township", "DEPT-GA", 24.0, 0.5, 0.5),
    _cat("E0603", "township", "DEPT-GA", 24.0, 0.5, 0.5),
    _cat("E0604", "township", "DEPT-GA", 12.0, 0.5, 0.5),
    _cat("E0605", "township", "DEPT-GA", 24.0, 0.5, 0.5),
    _cat("E0606", "township", "DEPT-GA", 4.0, 0.25, 0.25),
    _cat("E0607", "township", "DEPT-JJ", 12.0, 0.25, 0.25),
    _cat("E0608", "township", "DEPT-JJ", 4.0, 0.25, 0.25),
    _cat("E0609", "township", "DEPT-JJ", 24.0, 0.5, 0.5),
    _cat("E0610", "township", "DEPT-JJ", 24.0, 0.5, 0.5),
)

# --------------------------------------------------------------------------- users


class UserSpec(NamedTuple):
    username: str
    display_name: str
    role: str
    admin_unit: str | None  # admin unit code
    responsible_unit: str | None  # responsible unit code


DEMO_TOWNSHIP = "371302001000"  # 兰山街道
DEMO_VILLAGE = "371302001001"  # its first community (兰山第一社区)
HEDONG_TOWNSHIP = "371312001000"  # 九曲街道
HEDONG_VILLAGE = "371312001001"  # 中兴社区

USERS: tuple[UserSpec, ...] = (
    UserSpec("inspector", "市文明办巡查员", "inspector", CITY.code, None),
    UserSpec("inspector_village", "兰山第一社区网格员", "inspector", DEMO_VILLAGE, None),
    UserSpec("reviewer_city", "市综治中心审核员", "reviewer", CITY.code, None),
    UserSpec("reviewer_township", "兰山街道综治中心审核员", "reviewer", DEMO_TOWNSHIP, None),
    UserSpec("reviewer_village", "兰山第一社区审核员", "reviewer", DEMO_VILLAGE, None),
    UserSpec("reviewer_township_hedong", "九曲街道综治中心审核员", "reviewer", HEDONG_TOWNSHIP, None),
    UserSpec("reviewer_village_hedong", "中兴社区审核员", "reviewer", HEDONG_VILLAGE, None),
    UserSpec("dispatcher", "兰山街道办事处派遣员", "dispatcher", None, government_code(DEMO_TOWNSHIP)),
    UserSpec("dispatcher_village", "兰山第一社区居委会派遣员", "dispatcher", None, committee_code(DEMO_VILLAGE)),
    UserSpec("leader", "市领导（演示）", "leader", CITY.code, None),
    UserSpec("admin", "系统管理员", "admin", CITY.code, None),
)


def demo_password(username: str) -> str:
    return f"demo-{username}"


# --------------------------------------------------------------------------- cameras

DEMO_SOURCE = "demo"


class CameraSpec(NamedTuple):
    vendor: str
    external_id: str
    serial: str | None
    channel: int | None
    gb_device_id: str | None
    name: str
    kind: str
    village: str  # village code
    lat: float
    lon: float


# fmt: off
_VENDORS = ("hikvision", "gb28181", "hikvision", "dahua", "hikvision",
            "gb28181", "frigate", "dahua", "hikvision", "generic")
_KINDS = ("public_road", "public_road", "residential", "public_road", "checkpoint",
          "public_road", "residential", "high_altitude", "public_road", "public_road")
# fmt: on
_ROAD_PLACES = ("路口", "主干道", "广场", "农贸市场", "学校门口", "公交站")
_PLACE_BY_KIND = {"residential": "小区门口", "checkpoint": "卡口", "high_altitude": "高点瞭望"}
_FRIGATE_WORD = {"public_road": "road", "residential": "home", "checkpoint": "gate", "high_altitude": "tower"}
HIK_SERIAL_PREFIX = "DS-2CD2T47G2-L20240315AACH"
DAHUA_SERIAL_PREFIX = "7J0A1B2PAZ"


def cameras() -> tuple[CameraSpec, ...]:
    """1-3 cameras per village, vendors and kinds in a fixed mix, a few hundred metres from its centre.

    Hikvision and Dahua cameras of one village hang off one recorder (serial) on channels 1, 2, ...; GB/T 28181
    ids are 10-digit centre code (district code + township number + industry code 00) + type 132 (IPC) or 131
    (camera) + network id 0 and a 6-digit serial."""
    towns = {t.code: t for t in TOWNSHIPS}
    seq_in_district: dict[str, int] = {}
    per_district: dict[str, int] = {}
    for town in TOWNSHIPS:
        per_district[town.district] = per_district.get(town.district, 0) + 1
        seq_in_district[town.code] = per_district[town.district]
    out: list[CameraSpec] = []
    g = 0
    for v_index, village in enumerate(villages()):
        town = towns[village.township]
        channels = {"hikvision": 0, "dahua": 0}
        for j in range(1 + v_index % 3):
            g += 1
            vendor = _VENDORS[g % len(_VENDORS)]
            kind = _KINDS[(g + v_index) % len(_KINDS)]
            if kind == "residential" and village.name.endswith("村"):
                place = "村口"
            else:
                place = _PLACE_BY_KIND.get(kind, _ROAD_PLACES[g % len(_ROAD_PLACES)])
            name = f"{town.name}-{village.name}-{place}-{j + 1}"
            lat = round(village.lat + 0.0012 * ((g * 7) % 5 - 2) + 0.0004 * (j + 1), 6)
            lon = round(village.lon + 0.0015 * ((g * 3) % 5 - 2) - 0.0003 * (j + 1), 6)
            serial: str | None = None
            channel: int | None = None
            gb_id: str | None = None
            if vendor in channels:
                channels[vendor] += 1
                channel = channels[vendor]
                if vendor == "hikvision":
                    serial = f"{HIK_SERIAL_PREFIX}{720000000 + v_index * 13:09d}"
                else:
                    serial = f"{DAHUA_SERIAL_PREFIX}{300000 + v_index * 7:06d}"
                external_id = f"{serial}:{channel}"
            elif vendor == "gb28181":
                centre = f"{village.code[:6]}{seq_in_district[town.code]:02d}00"
                type_code = "131" if kind == "high_altitude" else "132"
                gb_id = f"{centre}{type_code}0{g:06d}"
                external_id = gb_id
            elif vendor == "frigate":
                external_id = f"{_short_en(town.name_en).lower()}_{_FRIGATE_WORD[kind]}_{g:03d}"
            else:
                external_id = f"demo-cam-{g:04d}"
            out.append(CameraSpec(vendor, external_id, serial, channel, gb_id, name, kind, village.code, lat, lon))
    return tuple(out)
