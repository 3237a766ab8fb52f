"""Realistic Central European company data for the generator: names, addresses, identifiers."""

from __future__ import annotations

import random
import re
import unicodedata

import phonenumbers
from stdnum.cz import dic as cz_dic

SURNAMES = ["Dvořák", "Novák", "Černý", "Procházka", "Kučera", "Veselý", "Horák", "Němec",
            "Pokorný", "Marek", "Růžička", "Šimek", "Křížek", "Beneš", "Fiala", "Sedláček",
            "Doležal", "Zeman", "Kolář", "Navrátil", "Čermák", "Vaněk", "Urban", "Blažek",
            "Kříž", "Kovář", "Bartoš", "Vlček", "Polák", "Musil", "Kopecký", "Štěpánek"]
TRADES = ["Stavby", "Elektro", "Kovovýroba", "Dřevovýroba", "Autodoprava", "Technoplast",
          "Agro", "Pekárna", "Tiskárna", "Strojírna", "Obchod", "Instalace", "Zámečnictví",
          "Logistika", "Software", "Klimatizace", "Nábytek", "Sklárna", "Zahradnictví"]
REGIONS = ["Vysočina", "Morava", "Bohemia", "Krkonoše", "Šumava", "Haná", "Polabí", "Podřipsko"]
CZ_CITIES = [("Praha", "11000"), ("Praha", "12000"), ("Praha", "15000"), ("Brno", "60200"),
             ("Ostrava", "70200"), ("Plzeň", "30100"), ("Olomouc", "77900"),
             ("Liberec", "46001"), ("České Budějovice", "37001"), ("Hradec Králové", "50002"),
             ("Pardubice", "53002"), ("Zlín", "76001"), ("Jihlava", "58601"), ("Kladno", "27201")]
CZ_STREETS = ["Vinohradská", "Masarykova", "Husova", "Palackého", "Nádražní", "Školní",
              "Komenského", "Zahradní", "Průmyslová", "Žižkova", "Tyršova", "Smetanova",
              "Nerudova", "Revoluční", "Lidická", "Českobratrská", "Jiráskova", "Dělnická"]
FOREIGN = {
    "SK": (["Tatra", "Váh", "Dunaj", "Fatra"], ["Obchod", "Stavby", "Doprava"], "s.r.o.",
           [("Bratislava", "81101"), ("Košice", "04001"), ("Žilina", "01001")],
           ["Hlavná", "Štúrova", "Mlynská"], "+4212"),
    "DE": (["Müller", "Schmidt", "Schneider", "Fischer"], ["Logistik", "Maschinenbau", "Handel"],
           "GmbH", [("Dresden", "01067"), ("München", "80331"), ("Nürnberg", "90402")],
           ["Hauptstraße", "Bahnhofstraße", "Gartenweg"], "+4935"),
    "AT": (["Huber", "Gruber", "Wagner"], ["Handels", "Bau", "Technik"], "GmbH",
           [("Wien", "1010"), ("Linz", "4020"), ("Graz", "8010")],
           ["Ringstraße", "Landstraße", "Kirchengasse"], "+431"),
    "PL": (["Kowalski", "Nowak", "Wiśniewski"], ["Transport", "Budownictwo", "Handel"],
           "Sp. z o.o.", [("Wrocław", "50001"), ("Katowice", "40001"), ("Kraków", "30001")],
           ["Długa", "Polna", "Leśna"], "+4871"),
}
CZ_FORMS = [("s.r.o.", "112", 0.7), ("a.s.", "121", 0.2), ("v.o.s.", "111", 0.05), ("k.s.", "113", 0.05)]
FORM_VARIANTS = {"s.r.o.": "spol. s r.o.", "a.s.": "akciová společnost", "v.o.s.": "veřejná obchodní společnost",
                 "k.s.": "komanditní společnost"}


def company_name(rng: random.Random, country: str) -> tuple[str, str, str | None]:
    if country != "CZ":
        first, trades, form, *_ = FOREIGN[country]
        return f"{rng.choice(first)} {rng.choice(trades)} {form}", form, None
    form, code = _weighted_form(rng)
    pattern = rng.randrange(4)
    base = [f"{rng.choice(SURNAMES)} a syn", f"{rng.choice(TRADES)} {rng.choice(SURNAMES)}",
            f"{rng.choice(TRADES)} {rng.choice(REGIONS)}",
            f"{rng.choice(SURNAMES)} {rng.choice(TRADES).lower()}"][pattern]
    return f"{base} {form}", form, code


def _weighted_form(rng: random.Random) -> tuple[str, str]:
    roll, acc = rng.random(), 0.0
    for form, code, share in CZ_FORMS:
        acc += share
        if roll < acc:
            return form, code
    return CZ_FORMS[0][0], CZ_FORMS[0][1]


def address(rng: random.Random, country: str) -> tuple[str, str, str]:
    if country == "CZ":
        city, postal = rng.choice(CZ_CITIES)
        return rng.choice(CZ_STREETS), city, postal
    _, _, _, cities, streets, _ = FOREIGN[country]
    city, postal = rng.choice(cities)
    return rng.choice(streets), city, postal


def czech_ico(rng: random.Random) -> str:
    while True:
        head = f"{rng.randint(1, 9)}{rng.randint(0, 999999):06d}"
        total = sum(int(d) * w for d, w in zip(head, range(8, 1, -1), strict=True))
        check = (11 - total % 11) % 10
        ico = head + str(check)
        if valid_ico(ico):
            return ico


def valid_ico(ico: str) -> bool:
    return cz_dic.is_valid(ico)


def vat_id(rng: random.Random, country: str, ico: str | None) -> str:
    if country == "CZ" and ico:
        return f"CZ{ico}"
    from stdnum.eu import vat

    for _ in range(10000):
        candidate = country.replace("GR", "EL") + _vat_body(rng, country)
        if vat.is_valid(candidate):
            return candidate
    raise RuntimeError(f"could not generate a valid {country} VAT ID")


def _vat_body(rng: random.Random, country: str) -> str:
    if country == "AT":
        return "U" + "".join(str(rng.randint(0, 9)) for _ in range(8))
    length = {"SK": 10, "DE": 9, "PL": 10}[country]
    return "".join(str(rng.randint(1 if i == 0 else 0, 9)) for i in range(length))


def phone(rng: random.Random, country: str) -> str:
    prefix = "+420" + rng.choice("67") if country == "CZ" else FOREIGN[country][5]
    digits = 7 if country == "PL" else 8
    code = phonenumbers.country_code_for_region(country)
    for _ in range(10_000):  # draw until the number plan accepts it, as a real number would be
        candidate = f"{prefix}{rng.randrange(10**digits):0{digits}d}"
        # The number built from its parts, not parsed from text: the same verdict, at a third
        # of the cost (a million companies draw some six million candidates).
        number = phonenumbers.PhoneNumber(country_code=code,
                                          national_number=int(candidate[len(str(code)) + 1:]))
        if phonenumbers.is_valid_number(number):
            return candidate
    raise RuntimeError(f"no valid {country} phone number drawn")


def iban(rng: random.Random, country: str) -> str | None:
    if country != "CZ":
        return None
    bban = f"{rng.choice(['0100', '0300', '0800', '2010', '5500'])}000000{rng.randint(10**9, 10**10 - 1)}"
    numeric = int("".join(str(int(ch, 36)) for ch in bban + "CZ00"))
    return f"CZ{98 - numeric % 97:02d}{bban}"


def slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_name.lower())
    return "-".join(w for w in words if w not in {"s", "r", "o", "a", "spol", "gmbh", "sp", "z", "k", "v"})[:40]


def legal_form_variant(name: str, form: str) -> str:
    variant = FORM_VARIANTS.get(form)
    return name[: -len(form)] + variant if variant and name.endswith(form) else name


def typo(rng: random.Random, name: str) -> str:
    i = rng.randrange(1, max(2, len(name) // 2))
    return name[:i] + name[i + 1] + name[i] + name[i + 2:]


def spaced_vat(vat: str | None) -> str:
    return "" if not vat else f"{vat[:2]} {vat[2:]}"


def spaced_postal(postal: str, country: str) -> str:
    return f"{postal[:3]} {postal[3:]}" if country in {"CZ", "SK"} and len(postal) == 5 else postal


def local_phone(e164: str | None) -> str:
    """How people type a number: Czech numbers without the prefix, spaced in threes."""
    if not e164:
        return ""
    if e164.startswith("+420"):
        digits = e164[4:]
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    return e164


# Scale mode: a real estate of a million companies has a million distinct names (the
# Czech commercial register refuses a name too close to an existing one), and far more
# streets than the handful above. Invented words built from syllables give that variety.
SYLLABLES = ["ka", "lo", "mi", "ra", "te", "vo", "no", "si", "de", "pa", "ru", "ze", "bo", "li",
             "ta", "ve", "ro", "ni", "sa", "du", "me", "ko", "ha", "ji", "la", "po", "tu", "ma"]
ENDINGS = ["x", "n", "s", "t", "m", "l", "r", "k", "", "", "ex", "on", "ix", "ia"]
SISTER_WORDS = ["Holding", "Servis", "Trade", "Group", "Invest", "Reality", "Development"]
# Mobile ranges the Czech numbering plan assigns (601-608, 72x-79x): no validation loop needed.
CZ_MOBILE = ["601", "602", "603", "604", "605", "606", "607", "608", "720", "721", "722", "723",
             "724", "725", "730", "731", "732", "733", "734", "736", "737", "739", "770", "773",
             "774", "775", "776", "777", "778", "790", "791", "792", "793", "797", "799"]


def invented_word(rng: random.Random) -> str:
    word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))) + rng.choice(ENDINGS)
    return word.capitalize()


def varied_company_name(rng: random.Random, country: str) -> tuple[str, str, str | None]:
    """Like ``company_name``, with an invented word in it: distinct at any scale."""
    if country != "CZ":
        first, trades, form, *_ = FOREIGN[country]
        return f"{invented_word(rng)} {rng.choice(first)} {rng.choice(trades)} {form}", form, None
    form, code = _weighted_form(rng)
    word = invented_word(rng)
    base = [f"{word} {rng.choice(TRADES).lower()}", f"{rng.choice(TRADES)} {word}",
            f"{rng.choice(SURNAMES)} {word}", f"{word} {rng.choice(REGIONS)}"][rng.randrange(4)]
    return f"{base} {form}", form, code


def varied_street(rng: random.Random) -> str:
    return f"{invented_word(rng)}{rng.choice(['ova', 'ská', 'á', 'ovo náměstí'])}"


def quick_phone(rng: random.Random, country: str) -> str:
    """A valid-looking number without the validation loop (scale mode; CZ from real ranges)."""
    if country == "CZ":
        return f"+420{rng.choice(CZ_MOBILE)}{rng.randrange(10**6):06d}"
    return f"{FOREIGN[country][5]}{rng.randrange(10**7):07d}"


def similar_name(rng: random.Random, name: str, form: str) -> str:
    """A different company whose name is close: another word, a number, or another legal form."""
    base = name[: -len(form)].strip() if name.endswith(form) else name
    roll = rng.random()
    if roll < 0.4:
        return f"{base} {rng.choice(SISTER_WORDS)} {form}"
    if roll < 0.7:
        return f"{base} {rng.randint(2, 9)} {form}"
    words = base.split()
    return f"{' '.join(words[:-1] + [words[-1] + rng.choice(['ek', 'ová', 'ík'])])} {form}"


# Hard mode (``Options.hard_negatives``): sister companies whose names differ by one word or
# a suffix, and true matches whose names drift the way people type them.
SISTER_SUFFIXES = ["Holding", "Servis", "Group", "Invest", "Reality", "Development", "CZ",
                   "Plus", "Morava", "Praha", "Export", "Trading", "Service", "Technik"]
# Two letters at least: the commercial register refuses a name one letter from another's.
WORD_ENDINGS = ["ing", "ek", "ová", "ík", "ka", "os"]
ALT_FORM_SPELLINGS = {"s.r.o.": ["spol. s r.o.", "s. r. o.", "spol. s r. o.", "s.r.o"],
                      "a.s.": ["a. s.", "akciová společnost", "a.s"],
                      "v.o.s.": ["v. o. s.", "veřejná obchodní společnost"],
                      "k.s.": ["k. s.", "komanditní společnost"]}
_GENERIC_WORDS = {w.lower() for w in [*TRADES, *REGIONS, *SISTER_WORDS, *SISTER_SUFFIXES,
                                      *(w for f in FOREIGN.values() for w in f[1])]}
_NEIGHBOURS = {c: n for c, n in zip("qwertyuiopasdfghjklzxcvbnm", "wertyuiopqsdfghjklaxcvbnmz")}


def split_form(name: str, form: str) -> tuple[str, str]:
    """("Novák Stavby", "s.r.o.") from "Novák Stavby s.r.o."; the whole name when no form ends it."""
    if form and name.endswith(form):
        return name[: -len(form)].strip(), form
    return name, ""


def join_form(base: str, form: str) -> str:
    return f"{base} {form}".strip()


def sister_name(rng: random.Random, name: str, form: str) -> str:
    """Another company's name one word or one suffix away: "Novák Stavby" and "Novák Stavby Morava",
    "Alfa Trade" and "Alfa Trading", "Kalorex" and "Kalorex 2"."""
    base, form = split_form(name, form)
    words = base.split()
    roll = rng.random()
    if roll < 0.45:  # one word more
        extra = rng.choice([w for w in SISTER_SUFFIXES if w not in words] or ["Group"])
        return join_form(f"{base} {extra}", form)
    if roll < 0.7:  # a word with another ending ("Trade" -> "Trading", "Novák" -> "Nováková")
        i = rng.randrange(len(words))
        word = words[i]
        ending = rng.choice(WORD_ENDINGS)
        stem = word[:-1] if len(word) > 4 and word[-1] in "eaoy" and ending[0] in "aeiouy" else word
        words[i] = stem + ending if stem + ending != word else word + "ex"
        return join_form(" ".join(words), form)
    if roll < 0.85:  # a number
        return join_form(f"{base} {rng.randint(2, 9)}", form)
    if _droppable(words):  # one generic word fewer
        drop = rng.choice(_droppable(words))
        return join_form(" ".join(words[:drop] + words[drop + 1:]), form)
    return join_form(f"{base} {rng.choice(SISTER_SUFFIXES)}", form)


def near_name(rng: random.Random, name: str, form: str) -> str:
    """A competitor in the same town whose name is a letter or a word away (Alfa / Alba)."""
    base, form = split_form(name, form)
    if rng.random() < 0.3:
        words = base.split()
        i = max(range(len(words)), key=lambda k: len(words[k]))
        word = words[i]
        j = rng.randrange(1, len(word))
        letter = rng.choice([c for c in "aeiloruntk" if c != word[j].lower()])
        words[i] = word[:j] + letter + word[j + 1:]
        return join_form(" ".join(words), form)
    return sister_name(rng, name, form)


def hard_typo(rng: random.Random, name: str, form: str) -> str:
    """One slip of the keyboard in the name, never in its legal form: a swap, a dropped,
    doubled or neighbouring letter."""
    base, form = split_form(name, form)
    if len(base) < 4:
        return name
    i = rng.randrange(1, len(base) - 1)
    kind = rng.randrange(4)
    if kind == 0 and base[i] != base[i + 1]:
        base = base[:i] + base[i + 1] + base[i] + base[i + 2:]
    elif kind == 1:
        base = base[:i] + base[i + 1:]
    elif kind == 2:
        base = base[:i] + base[i] + base[i:]
    else:
        ch = base[i]
        sub = _NEIGHBOURS.get(ch.lower(), "e")
        base = base[:i] + (sub.upper() if ch.isupper() else sub) + base[i + 1:]
    return join_form(base, form)


def form_spelling(rng: random.Random, name: str, form: str) -> str:
    """The same legal form spelt another way: "s.r.o." as "spol. s r.o." or "s. r. o."."""
    spellings = ALT_FORM_SPELLINGS.get(form)
    base, found = split_form(name, form)
    return join_form(base, rng.choice(spellings)) if spellings and found else name


def swap_words(rng: random.Random, name: str, form: str) -> str:
    """The words of the name in another order ("Stavby Novák" for "Novák Stavby")."""
    base, form = split_form(name, form)
    words = base.split()
    if len(words) < 2:
        return name
    i = rng.randrange(len(words) - 1)
    words[i], words[i + 1] = words[i + 1], words[i]
    return join_form(" ".join(words), form)


def abbreviate(rng: random.Random, name: str, form: str) -> str:
    """A long word cut short with a full stop ("Kovovýroba" -> "Kovov.")."""
    base, form = split_form(name, form)
    words = base.split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 7 and w.isalpha()]
    if not long_words:
        return name
    i = rng.choice(long_words)
    words[i] = words[i][: rng.randint(3, 5)] + "."
    return join_form(" ".join(words), form)


def short_street(street: str) -> str:
    """How a clerk types an address: "náměstí" as "nám.", no orientation number after the slash."""
    street = street.replace("ovo náměstí", "ovo nám.").replace("náměstí", "nám.")
    return street.split("/")[0] if "/" in street else street


def phone_format(rng: random.Random, e164: str) -> str:
    """The same number typed another way: spaced with the prefix, national, or run together."""
    if not e164.startswith("+420"):
        return e164
    digits = e164[4:]
    return rng.choice([f"+420 {digits[:3]} {digits[3:6]} {digits[6:]}", digits,
                       f"{digits[:3]}-{digits[3:6]}-{digits[6:]}", e164])


def _generic(word: str) -> bool:
    return word.lower() in _GENERIC_WORDS


def _droppable(words: list[str]) -> list[int]:
    """Words that can go while the name keeps what makes it this company's: a generic word
    (a trade, a region, "Holding"), and something distinctive left besides it."""
    return [i for i, w in enumerate(words)
            if _generic(w) and any(not _generic(x) for j, x in enumerate(words) if j != i)]


def short_name(rng: random.Random, name: str, form: str) -> str:
    """The name as sales shorten it: a generic word left out ("Novák Stavby" for "Novák Stavby
    Morava"), or the legal form."""
    base, form = split_form(name, form)
    words = base.split()
    droppable = _droppable(words)
    if droppable and rng.random() < 0.7:
        drop = rng.choice(droppable)
        return join_form(" ".join(words[:drop] + words[drop + 1:]), form)
    return base


def person_email(rng: random.Random, email: str) -> str:
    """A person's address at the company's domain instead of its shared one."""
    first = rng.choice(["jan", "petr", "eva", "jana", "martin", "lucie", "tomas", "pavla"])
    last = rng.choice(["novak", "svoboda", "dvorak", "cerna", "prochazka", "kucera"])
    return f"{first}.{last}@{email.split('@')[1]}"
