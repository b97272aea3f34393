"""Deterministic session-note-like text for fragment tests and benchmarks.

Not a person generator (vahti/demo/synthetic.py is): just free text that looks like
therapy session notes in Finnish with some English, with the features that
matter for fingerprinting: a Zipf-like word distribution (so common words and
short phrases repeat across notes), shared boilerplate sentences, punctuation,
line breaks and Finnish letters.
"""

from __future__ import annotations

import random

FI_WORDS = """
ja on ei se että hän oli mutta kun niin myös sitten nyt vielä jo kuin tai
asiakas kertoi kokee koki tuntee tunsi mieliala uni nukkuminen ahdistus masennus
pelko huoli stressi väsymys työ työpaikka esimies koulu opiskelu perhe äiti isä
sisko veli puoliso lapsi lapset ystävä ystävät suhde ero riita keskustelu
vastaanotto käynti terapia terapeutti lääkitys lääke annos sivuvaikutus
unettomuus paniikki kohtaus oire oireet muisto lapsuus nuoruus kesä talvi syksy
kevät viikko viikonloppu ilta aamu yö päivä kuukausi vuosi alkoholi juominen
liikunta kävely lenkki ruoka ruokahalu paino uupumus sairausloma kuntoutus
tavoite suunnitelma harjoitus kotitehtävä päiväkirja ajatus ajatukset tunne
tunteet häpeä syyllisyys viha suru ilo helpotus toivo toivottomuus itsetunto
arvostus yksinäisyys eristäytyminen sosiaalinen tilanne tilanteet kauppa
bussi juna auto koti asunto muutto vuokra raha velka talous laina palkka
hyvin huonosti paremmin huonommin paljon vähän usein harvoin aina joskus
koskaan edelleen taas uudelleen erityisesti lähinnä ehkä varmasti selvästi
kovin hieman melko todella aivan vaikea helppo raskas kevyt iso pieni uusi
vanha oma toinen sama eri kaikki mikään jotain kukaan joku moni monet
puhui puhuu mietti miettii halusi haluaa pystyi pystyy alkoi jatkoi lopetti
muutti tapasi soitti kirjoitti luki kuuli näki meni tuli jäi lähti palasi
nukkui heräsi söi joi itki nauroi pelkäsi suuttui rauhoittui
helsinki espoo vantaa tampere turku oulu jyväskylä kuopio lahti pori
""".split()

EN_WORDS = """
the and of to a in that is was he she it for on with as his her they at be
this had not are but from or have an by were one all would there their
client reported reports feels felt mood sleep anxiety depression fear worry
stress fatigue work job manager school study family mother father sister
brother partner child children friend friends relationship conflict session
therapy therapist medication dose side effect insomnia panic attack symptom
memory childhood summer winter week weekend evening morning night day month
year alcohol drinking exercise walk food appetite weight burnout sick leave
goal plan exercise homework diary thought thoughts emotion shame guilt anger
grief joy relief hope hopelessness self esteem loneliness isolation social
situation shop bus train car home apartment move rent money debt salary
well badly better worse much little often rarely always sometimes never still
again especially mainly maybe certainly clearly very slightly quite really
difficult easy heavy light big small new old own other same different
talked thinks wanted wants could started continued stopped moved met called
wrote read heard saw went came stayed left returned slept woke ate drank cried
""".split()

BOILERPLATE = [
    "Asiakas saapui vastaanotolle ajallaan.",
    "Seuraava käynti sovittu ensi viikolle.",
    "Keskusteltiin asiakkaan kanssa hänen tilanteestaan.",
    "Asiakas kertoi nukkuneensa huonosti viime aikoina.",
    "Mieliala on ollut vaihteleva.",
    "Jatketaan samalla suunnitelmalla.",
    "Client arrived on time for the session.",
    "Next appointment scheduled for next week.",
    "We discussed the homework from last session.",
    "No acute risk of self harm was identified.",
    "Lääkitys jatkuu ennallaan.",
    "Kotitehtäväksi sovittiin päiväkirjan pitäminen.",
]

COMMON_PHRASES = [
    "miten sinulla menee", "en tiedä mitä tehdä", "kaikki on ihan hyvin",
    "how are you feeling today", "I do not know what to do", "it is what it is",
    "ei se ole niin vakavaa", "thank you for your time", "see you next week",
    "ja sitten hän sanoi että", "at the end of the day", "one step at a time",
]


def _zipf_weights(n: int, s: float = 1.0) -> list[float]:
    return [1.0 / (i + 1) ** s for i in range(n)]


class NoteGen:
    """Session notes and unrelated text from one seed."""

    def __init__(self, seed: int, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random(seed)
        self.fi = FI_WORDS[:]
        self.en = EN_WORDS[:]
        # each generator has its own frequency order, like different writers
        self.rng.shuffle(self.fi)
        self.rng.shuffle(self.en)
        self.fi_w = _zipf_weights(len(self.fi))
        self.en_w = _zipf_weights(len(self.en))

    def words(self, n: int, lang: str = "fi") -> list[str]:
        pool, weights = (self.fi, self.fi_w) if lang == "fi" else (self.en, self.en_w)
        return self.rng.choices(pool, weights=weights, k=n)

    def sentence(self, lang: str) -> str:
        r = self.rng.random()
        if r < 0.15:
            return self.rng.choice(BOILERPLATE)
        words = self.words(self.rng.randint(5, 16), lang)
        if r < 0.3:
            words[self.rng.randrange(len(words)):0] = self.rng.choice(COMMON_PHRASES).split()
        if len(words) > 6 and self.rng.random() < 0.4:
            words[self.rng.randrange(2, len(words) - 2)] += ","
        return " ".join(words).capitalize() + self.rng.choice([".", ".", ".", "!", "?"])

    def note(self, n_words: int) -> str:
        lang = "fi" if self.rng.random() < 0.75 else "en"
        parts: list[str] = []
        count = 0
        while count < n_words:
            s = self.sentence(lang)
            parts.append(s)
            count += len(s.split())
            if self.rng.random() < 0.2:
                parts.append("\n")
        return " ".join(parts).replace(" \n ", "\n")

    def prose(self, n_words: int) -> str:
        """Unrelated text in the same style: shares vocabulary, boilerplate and
        common phrases with the notes, but no record."""
        return self.note(n_words)

    def excerpt(self, text: str, n_words: int, edits: int) -> str:
        """A lightly edited excerpt: n_words consecutive words of `text`, with
        case changes, punctuation and line-break noise and `edits` words replaced
        (plus one dropped or inserted word when edits > 1)."""
        words = text.split()
        start = self.rng.randrange(0, max(1, len(words) - n_words))
        ex = words[start : start + n_words]
        positions = self.rng.sample(range(len(ex)), min(edits, len(ex)))
        for p in positions:
            ex[p] = self.rng.choice(self.fi + self.en) + "x"
        if edits > 1 and len(ex) > 10:
            if self.rng.random() < 0.5:
                del ex[self.rng.randrange(len(ex))]
            else:
                ex.insert(self.rng.randrange(len(ex)), self.rng.choice(self.fi))
        out = []
        for w in ex:
            r = self.rng.random()
            if r < 0.1:
                w = w.upper()
            elif r < 0.2:
                w = w.capitalize()
            elif r < 0.25:
                w = w.strip(".,!?")
            elif r < 0.3:
                w += self.rng.choice([",", ";", " -", ":"])
            out.append(w)
            if self.rng.random() < 0.08:
                out.append("\r\n" if self.rng.random() < 0.5 else "\n\n")
        return " ".join(out)
