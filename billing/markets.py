"""WhatsApp pricing markets: which Meta per-message pricing market each country belongs to.

Meta prices WhatsApp Business messages per "market": a few countries are priced as a market of their own,
every other country falls into a regional market ("Rest of ...", "North America", "Other"). The tables below
follow Meta's published market-to-country mapping for per-message pricing and are the project's shipped
table; a country Meta assigns to no region (e.g. Antarctica) is priced as ``OTHER``.
"""

from core.countries import COUNTRY_NAMES

FALLBACK_MARKET = "OTHER"

# Meta's regional markets, code -> label.
REGIONAL_MARKETS: dict[str, str] = {
    "NORTH_AMERICA": "North America",
    "REST_OF_LATIN_AMERICA": "Rest of Latin America",
    "REST_OF_WESTERN_EUROPE": "Rest of Western Europe",
    "REST_OF_CENTRAL_EASTERN_EUROPE": "Rest of Central & Eastern Europe",
    "REST_OF_ASIA_PACIFIC": "Rest of Asia Pacific",
    "REST_OF_MIDDLE_EAST": "Rest of Middle East",
    "REST_OF_AFRICA": "Rest of Africa",
    "OTHER": "Other",
}

# Countries Meta prices as a market of their own, ISO 3166-1 alpha-2 code -> label.
COUNTRY_MARKETS: dict[str, str] = {
    # Latin America
    "AR": "Argentina",
    "BR": "Brazil",
    "CL": "Chile",
    "CO": "Colombia",
    "MX": "Mexico",
    "PE": "Peru",
    # Western Europe
    "FR": "France",
    "DE": "Germany",
    "IT": "Italy",
    "NL": "Netherlands",
    "ES": "Spain",
    "TR": "Turkey",
    "GB": "United Kingdom",
    # Central & Eastern Europe
    "RU": "Russia",
    # Asia Pacific
    "IN": "India",
    "ID": "Indonesia",
    "MY": "Malaysia",
    "PK": "Pakistan",
    # Middle East
    "IL": "Israel",
    "SA": "Saudi Arabia",
    "AE": "United Arab Emirates",
    # Africa
    "EG": "Egypt",
    "NG": "Nigeria",
    "ZA": "South Africa",
}


# Members of each regional market (countries priced as their own market are left out; they win anyway).
# Dependent territories follow the region they lie in.
_REGION_MEMBERS: dict[str, str] = {
    "NORTH_AMERICA": "CA US",
    "REST_OF_LATIN_AMERICA": (
        "AG AI AW BB BL BM BO BQ BS BZ CR CW DM DO EC FK GD GF GP GT GY HN HT JM KN KY LC MF MQ MS NI PA PR "
        "PY SR SV SX TC TT UY VC VE VG VI"
    ),
    "REST_OF_WESTERN_EUROPE": "AD AT AX BE CH CY DK FI FO GG GI GR IE IM IS JE LI LU MC MT NO PT SE SJ SM VA",
    "REST_OF_CENTRAL_EASTERN_EUROPE": "AL AM AZ BA BG BY CZ EE GE HR HU LT LV MD ME MK PL RO RS SI SK UA",
    "REST_OF_ASIA_PACIFIC": (
        "AF AS AU BD BN BT CC CK CN CX FJ FM GU HK JP KG KH KI KR KZ LA LK MH MM MN MO MP MV NC NF NP NR NU "
        "NZ PF PG PH PN PW SB SG TH TJ TK TL TM TO TV TW UZ VN VU WF WS"
    ),
    "REST_OF_MIDDLE_EAST": "BH IQ JO KW LB OM PS QA YE",
    "REST_OF_AFRICA": (
        "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG ML MR MU MW "
        "MZ NA NE RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZM ZW"
    ),
    # Assigned to no region by Meta: uninhabited/remote territories and comprehensively sanctioned countries.
    "OTHER": "AQ BV CU GL GS HM IO IR KP PM SY TF UM",
}

_REGION_OF: dict[str, str] = {code: market for market, members in _REGION_MEMBERS.items() for code in members.split()}

# Every ISO 3166-1 alpha-2 code -> its market code (own country code, or a key of REGIONAL_MARKETS).
COUNTRY_MARKET: dict[str, str] = {
    code: code if code in COUNTRY_MARKETS else _REGION_OF.get(code, FALLBACK_MARKET) for code in COUNTRY_NAMES
}

MARKETS: frozenset[str] = frozenset(COUNTRY_MARKETS) | frozenset(REGIONAL_MARKETS)


def market_for_country(country: str) -> str:
    """The pricing market of an ISO 3166-1 alpha-2 country code; unknown codes fall back to ``OTHER``."""
    return COUNTRY_MARKET.get(country.upper(), FALLBACK_MARKET)


def market_label(market: str) -> str:
    """Human label of a country or regional market code; an unknown code is returned as is."""
    code = market.upper()
    return COUNTRY_MARKETS.get(code) or REGIONAL_MARKETS.get(code) or market
