# ruff: noqa: RUF001  (non-ASCII punctuation in the text material is deliberate)
"""The words of generated messages, Tweets and profiles, and the builder of entities.

No stray '#word', '@word', '$WORD' or URLs outside entities: X would parse those as
entities, and the sandbox's entities must be complete.
"""

from __future__ import annotations

import random
from typing import Any

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def tco(rng: random.Random) -> str:
    """Return a random t.co short link, as X wraps every URL in a message."""
    return "https://t.co/" + "".join(rng.choice(ALNUM) for _ in range(10))


def display_url(expanded: str) -> str:
    """Shorten an expanded URL the way X displays it (no scheme, ellipsis after 26 chars)."""
    shown = expanded.split("://", 1)[-1]
    shown = shown.removeprefix("www.")
    return shown if len(shown) <= 26 else shown[:26] + "…"


_CUSTOMER_TEXTS = (
    "Hi, my order {order} still hasn't arrived. Can you help?",
    "Hello! I was charged twice for order {order} 😕",
    "The app keeps logging me out since the last update.",
    "Can I change the delivery address for {order}? I'm moving next week.",
    "Thanks, that worked!",
    "Still waiting on a reply about my refund…",
    "Is there a store near {city}?",
    "ok",
    "👍",
    "The tracking page says delivered but nothing's here.",
    "Can you send me the return label again? I lost the email.",
    "My promo code {code} says it's expired, but the ad said it runs until Sunday.",
    "Order {order} came with the wrong size. Can I swap it in store?",
    "It's been {days} days. This is getting ridiculous.",
    "Sorry for the late reply! Yes, the email is the one on my account.",
    "Do you ship to {city}?",
    "Got it, thank you so much 🙏",
    "The checkout page just spins forever on my phone.",
    "why was my account locked??",
    "Perfect, thanks for the quick help!",
    "Bonjour, ma commande {order} n'est toujours pas arrivée. Merci d'avance !",
    "¿Podrían ayudarme? El pedido {order} llegó dañado 😢",
    "Grüße aus München – die Rücksendung für {order} ist unterwegs.",
    "Olá! Não consigo acessar minha conta, podem verificar?",
    "こんにちは。注文番号{order}の配送状況を教えてください。",
    "你好，我的订单{order}还没有发货，请帮忙查一下。谢谢！",
    "안녕하세요, 환불은 언제 처리되나요?",
    "مرحبا، لم يصل طلبي {order} بعد. هل يمكنكم المساعدة؟",
    "שלום, ההזמנה שלי {order} עדיין לא הגיעה.",
    "Здравствуйте! Промокод {code} не работает.",
    "नमस्ते, मेरा ऑर्डर {order} कहाँ है?",
    "Xin chào, đơn hàng {order} của tôi bị trễ.",
    "Finally got it!! 📦✨ the whole family 👩\u200d👩\u200d👧 loves it",
    "Ordered from Tokyo 🇯🇵, arrived in two days 👍🏽",
    "The Cafe\u0301 Crème mug arrived chipped ☕💔",
    "Line one of my question\nline two, sorry\n\nthanks in advance",
    "Ça marche, merci beaucoup ! 😊",
    "Naïve question maybe: does the warranty cover water damage?",
)

_BRAND_TEXTS = (
    "Hi {name}, thanks for reaching out! Could you send us the email on your account? ^{agent}",
    "Sorry about that, {name}. I've escalated this to billing; expect news within 24h. ^{agent}",
    "Happy to help! The refund for {order} was issued today, allow 3–5 business days. ^{agent}",
    "Thanks for your patience. Could you update the app to {version} and try again? ^{agent}",
    "You're welcome! Anything else we can do for you today? ^{agent}",
    "I've sent a new return label to your inbox, {name}. ^{agent}",
    "Good news: order {order} is out for delivery 🚚 ^{agent}",
    "We've unlocked your account. Please reset your password within the next hour. ^{agent}",
    "Our team is looking into the checkout issue right now. Thanks for flagging it! ^{agent}",
    "Could you share a photo of the damaged item? That speeds things up. ^{agent}",
    "¡Hola {name}! Ya revisamos tu pedido {order}; saldrá mañana. ^{agent}",
    "Bonjour {name}, nous sommes désolés pour ce retard. ^{agent}",
    "{name}様、お問い合わせありがとうございます。確認いたします。^{agent}",
)

_SOCIAL_TEXTS = (
    "did you get the replacement yet?",
    "lol same thing happened to me",
    "see you at 7?",
    "They fixed mine in like an hour 😂",
    "omw",
    "Who's bringing the cake? 🎂",
    "haha yes 🙌",
    "Check your spam folder, their emails always end up there",
    "Can't make it tonight, sorry 😔",
    "Merci ! À demain 👋",
    "好的，明天见！",
    "¡Qué bien! 🎉",
    "ok ok 👌",
    "Just ordered the same one",
)

_LONG_SENTENCES = (
    "I want to lay out everything that happened, I have explained it to four people already.",
    "On the first day I placed order {order} and paid with my usual card.",
    "The confirmation email arrived, but the tracking link never worked.",
    "A week later the parcel showed up as delivered, yet nothing was at my door.",
    "I called the hotline and waited forty minutes before the call dropped.",
    "The chat assistant told me to wait another 48 hours, which I did.",
    "Then I received a second charge for the same amount, and my bank says it is not a hold.",
    "I'm a loyal customer and I've recommended you to friends in {city}, so this hurts.",
    "Les détails sont dans le ticket précédent, mais je les répète ici pour être sûr.",
    "Please refund the second charge and either ship the order again or cancel it entirely.",
    "I've attached nothing here because the app would not let me upload the receipt 😤",
)

TWEET_TEXTS = (
    ("en", "We're rolling out faster refunds to all customers starting today. Thank you!"),
    ("en", "Heads up: our app is under scheduled maintenance tonight from 1–3 AM UTC."),
    ("en", "Holiday shipping deadlines are here. Order by Dec 18 for standard delivery 🎁"),
    ("en", "New in store: the Acme Café collection ☕"),
    ("en", "Our support team is online 24/7 in DMs. Slide in any time 💬"),
    ("es", "¡Ya llegó la nueva colección! Envíos gratis este fin de semana."),
    ("fr", "Notre service client répond désormais aussi en français 🇫🇷"),
    ("ja", "本日より配送状況をアプリで確認できるようになりました。"),
    ("en", "Just got my order from Acme and it's perfect. 10/10 would order again"),
    ("en", "Anyone else's app crashing on login today?"),
)

_EMOJI = ("😀", "🙏", "👍🏽", "❤️", "📦", "🔥", "😅", "🎉", "🇧🇷", "👩\u200d💻", "✅", "🤞")

_CITIES = ("Lisbon", "São Paulo", "Zürich", "Kraków", "Montréal", "Osaka", "Austin", "Reykjavík")
_AGENTS = ("AK", "JD", "MR", "LS", "TN", "CB")
HASHTAGS = ("AcmeCare", "help", "CustomerService", "BlackFriday", "café", "ありがとう", "refund")
CASHTAGS = ("ACME", "ACMX", "SHIP")
LINKS = (
    "https://acme.com/help/returns",
    "https://acme.com/help/articles/360045212-where-is-my-order",
    "https://status.acme.com/",
    "https://acme.com/account/security?utm_source=x&utm_medium=dm",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://en.wikipedia.org/wiki/Customer_service",
)

NAMES = (
    ("María García", "mariagarcia"),
    ("Jürgen Müller", "jmueller"),
    ("Zoë O'Brien", "zoe_obrien"),
    ("田中 花子", "hanako_t"),
    ("Ahmed Al-Farsi", "ahmedfarsi"),
    ("אורי כהן", "uri_cohen"),
    ("Priya Natarajan", "priyanat"),
    ("Nguyễn Văn An", "nguyenvanan"),
    ("Chloé Dubois", "chloe_db"),
    ("Łukasz Nowak", "lnowak"),
    ("Sam 🌈", "samrainbow"),
    ("John Smith", "johnsmith"),
    ("Aisha Bello", "aishabello"),
    ("Kim Min-jun", "minjun_kim"),
    ("Olga Ivanova", "olga_iv"),
    ("Lucas Silva", "lucas_silva"),
    ("Emma Johansson", "emmaj"),
    ("Ravi Kumar", "ravikumar"),
    ("Fatima Zahra", "fzahra"),
    ("Tom", "tom"),
    ("Sofía Hernández", "sofiahdz"),
    ("李伟", "liwei_88"),
    ("Noah Williams", "noahw"),
    ("Ingrid Håland", "ihaland"),
)
DESCRIPTIONS = (
    "",
    "coffee, code, cats",
    "Runner 🏃‍♀️ | Lisbon",
    "Views are my own.",
    "Designer. Dad. Occasional baker 🍞",
    "フリーランスのイラストレーター",
    "Ingeniera de datos · Madrid",
)
LOCATIONS = (None, "Berlin, Germany", "東京", "São Paulo, Brasil", "Lagos", "NYC", "Earth 🌍")


def _fill(rng: random.Random, template: str, name: str) -> str:
    """Fill a template's placeholders (only those it uses cost random draws)."""
    values: dict[str, str] = {"name": name}
    if "{order}" in template:
        values["order"] = f"AC-{rng.randrange(1_000_000, 9_999_999)}"
    if "{code}" in template:
        values["code"] = "SAVE" + str(rng.randrange(10, 60))
    if "{city}" in template:
        values["city"] = rng.choice(_CITIES)
    if "{days}" in template:
        values["days"] = str(rng.randrange(3, 30))
    if "{agent}" in template:
        values["agent"] = rng.choice(_AGENTS)
    if "{version}" in template:
        values["version"] = f"5.{rng.randrange(0, 20)}.{rng.randrange(0, 9)}"
    return template.format(**values)


def chatter(rng: random.Random, *, kind: int, other_name: str) -> str:
    """A plain message: kind 0 customer to brand, 1 brand to customer, 2 between customers."""
    pool = (_CUSTOMER_TEXTS, _BRAND_TEXTS, _SOCIAL_TEXTS)[kind]
    first = other_name.split()[0] if other_name.split() else "there"
    text = _fill(rng, rng.choice(pool), first)
    if kind != 1 and rng.random() < 0.12:
        text += " " + rng.choice(_EMOJI)
    return text


def long_text(rng: random.Random) -> str:
    """A pasted wall of text of 5,000-10,000 characters."""
    target = rng.randrange(5_000, 9_900)
    parts: list[str] = []
    length = 0
    while length < target:
        sentence = _fill(rng, rng.choice(_LONG_SENTENCES), "")
        if rng.random() < 0.15:
            sentence += "\n\n"
        parts.append(sentence)
        length += len(sentence) + 1
    return " ".join(parts)[:target].rstrip()


class TextBuilder:
    """Builds a message text and its entities, counting indices in code points."""

    __slots__ = ("cashtags", "hashtags", "length", "mentions", "parts", "urls")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.urls: list[dict[str, Any]] = []
        self.hashtags: list[dict[str, Any]] = []
        self.mentions: list[dict[str, Any]] = []
        self.cashtags: list[dict[str, Any]] = []

    def add(self, text: str) -> None:
        """Append plain text."""
        self.parts.append(text)
        self.length += len(text)

    def entity(self, text: str, into: list[dict[str, Any]], **extra: Any) -> None:
        """Append `text` and record it in `into` with its start/end indices."""
        start = self.length
        self.add(text)
        into.append({"start": start, "end": self.length, **extra})

    def text(self) -> str:
        """Return the text built so far."""
        return "".join(self.parts)


# ---------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------
