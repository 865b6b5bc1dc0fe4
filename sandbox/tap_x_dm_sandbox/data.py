# ruff: noqa: RUF001  (non-ASCII punctuation in the text material is deliberate)
"""The sandbox's DM account: a seeded generator, a JSON-file loader and live additions.

A generated dataset can hold a million events, so events are never kept as
dicts. Six parallel `array` columns (id, conversation, sender, type, flags and,
for loaded files only, created_at milliseconds) hold what paging needs; the
text, media, URLs, mentions and referenced Tweets of a generated message are
derived again from ``(seed, event id)`` whenever `Dataset.event` is called.
Events from a JSON file and live additions are few and are stored as dicts.

Visibility rule (kept simple on purpose): a user sees every event of every
conversation they were ever a member of. ``conversation_members`` is therefore
everyone who ever belonged to the conversation.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

TWEPOCH_MS = 1288834974657
DAY_MS = 86_400_000

MESSAGE_CREATE = "MessageCreate"
PARTICIPANTS_JOIN = "ParticipantsJoin"
PARTICIPANTS_LEAVE = "ParticipantsLeave"
EVENT_TYPES: tuple[str, ...] = (MESSAGE_CREATE, PARTICIPANTS_JOIN, PARTICIPANTS_LEAVE)
ALL_EVENT_TYPES = frozenset(EVENT_TYPES)
_TYPE_CODE = {name: code for code, name in enumerate(EVENT_TYPES)}
_MC, _JOIN, _LEAVE = 0, 1, 2

# Flag bits of a generated MessageCreate (the flags column).
_F_MEDIA = 0x03  # 0 none, 1 photo, 2 video, 3 animated_gif
_F_TWEET = 0x04  # links a Tweet: t.co URL + referenced_tweets
_F_LINK = 0x08  # links a web page: t.co URL
_F_TAG = 0x10  # a hashtag or a cashtag
_F_MENTION = 0x20  # an @mention
_F_SPECIAL = 0x40  # empty text (with media) or a very long text (without)
_F_STORED = 0x80  # the event is a stored dict (JSON file or live addition)

_MEDIA_TYPES = ("", "photo", "video", "animated_gif")
_MEDIA_PREFIX = ("", "3", "7", "16")
_MEDIA_LAG_MS = 1_734  # media are uploaded just before the message that carries them

# Salts for the per-object random streams.
_S_USERS, _S_PLAN, _S_MESSAGE, _S_MEDIA, _S_TWEET, _S_ADDED = range(1, 7)

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_USER_FIELDS = (
    "created_at",
    "description",
    "location",
    "profile_image_url",
    "protected",
    "url",
    "verified",
)


def snowflake(ms: int, seq: int) -> int:
    """Return the X Snowflake id of (epoch milliseconds, sequence) so ids sort by time."""
    if not 0 <= seq < 4096:
        raise ValueError(f"snowflake sequence {seq} not in 0..4095")
    return ((ms - TWEPOCH_MS) << 22) | seq


def snowflake_ms(id_: int) -> int:
    """Return the epoch milliseconds encoded in a Snowflake id."""
    return (id_ >> 22) + TWEPOCH_MS


def iso_ms(ms: int) -> str:
    """Format epoch milliseconds the way X does: ``2022-10-19T20:58:00.000Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def parse_iso_ms(value: str) -> int:
    """Parse an ISO-8601 timestamp (``Z`` or offset; naive means UTC) to epoch milliseconds."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return round(parsed.timestamp() * 1000)


def one_to_one_conversation_id(user_a: str, user_b: str) -> str:
    """Return X's one-to-one conversation id: the smaller user id (as an integer) first."""
    low, high = sorted((user_a, user_b), key=int)
    return f"{low}-{high}"


def _key(seed: int, salt: int, value: int) -> int:
    """Seed for the random stream of one object, so objects derive independently."""
    return ((seed & 0xFFFFFFFFFFFFFFFF) << 72) | (salt << 64) | (value & 0xFFFFFFFFFFFFFFFF)


def _tco(rng: random.Random) -> str:
    return "https://t.co/" + "".join(rng.choice(_ALNUM) for _ in range(10))


def _display_url(expanded: str) -> str:
    """Shorten an expanded URL the way X displays it (no scheme, ellipsis after 26 chars)."""
    shown = expanded.split("://", 1)[-1]
    shown = shown.removeprefix("www.")
    return shown if len(shown) <= 26 else shown[:26] + "…"


@dataclass(frozen=True)
class SandboxUser:
    """A user of the sandbox; ``None`` means the field is unknown and never sent."""

    id: str
    username: str
    name: str
    created_at: str | None = None
    description: str | None = None
    protected: bool | None = None
    verified: bool | None = None
    location: str | None = None
    profile_image_url: str | None = None
    url: str | None = None

    def as_json(self, fields: Collection[str]) -> dict[str, Any]:
        """Return the X User object: id, name and username always, others if asked and known."""
        out: dict[str, Any] = {"id": self.id, "name": self.name, "username": self.username}
        for name in _USER_FIELDS:
            if name in fields:
                value = getattr(self, name)
                if value is not None:
                    out[name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxUser:
        """Build a user from an X User object (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        for required in ("id", "username", "name"):
            if required not in kwargs:
                raise ValueError(f"user object without {required!r}: {data!r}")
        kwargs["id"] = str(kwargs["id"])
        return cls(**kwargs)


# ---------------------------------------------------------------------------
# Text material. No stray '#word', '@word', '$WORD' or URLs outside entities:
# X would parse those as entities and the sandbox's entities must be complete.
# ---------------------------------------------------------------------------

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

_TWEET_TEXTS = (
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
_HASHTAGS = ("AcmeCare", "help", "CustomerService", "BlackFriday", "café", "ありがとう", "refund")
_CASHTAGS = ("ACME", "ACMX", "SHIP")
_LINKS = (
    "https://acme.com/help/returns",
    "https://acme.com/help/articles/360045212-where-is-my-order",
    "https://status.acme.com/",
    "https://acme.com/account/security?utm_source=x&utm_medium=dm",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://en.wikipedia.org/wiki/Customer_service",
)

_NAMES = (
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
_DESCRIPTIONS = (
    "",
    "coffee, code, cats",
    "Runner 🏃‍♀️ | Lisbon",
    "Views are my own.",
    "Designer. Dad. Occasional baker 🍞",
    "フリーランスのイラストレーター",
    "Ingeniera de datos · Madrid",
)
_LOCATIONS = (None, "Berlin, Germany", "東京", "São Paulo, Brasil", "Lagos", "NYC", "Earth 🌍")


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


def _chatter(rng: random.Random, *, kind: int, other_name: str) -> str:
    """A plain message: kind 0 customer to brand, 1 brand to customer, 2 between customers."""
    pool = (_CUSTOMER_TEXTS, _BRAND_TEXTS, _SOCIAL_TEXTS)[kind]
    first = other_name.split()[0] if other_name.split() else "there"
    text = _fill(rng, rng.choice(pool), first)
    if kind != 1 and rng.random() < 0.12:
        text += " " + rng.choice(_EMOJI)
    return text


def _long_text(rng: random.Random) -> str:
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


class _Text:
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
        self.parts.append(text)
        self.length += len(text)

    def entity(self, text: str, into: list[dict[str, Any]], **extra: Any) -> None:
        start = self.length
        self.add(text)
        into.append({"start": start, "end": self.length, **extra})

    def text(self) -> str:
        return "".join(self.parts)


# ---------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------


class Dataset:
    """One X DM world: users, conversations, events, Tweets and media, with fast cursor paging."""

    def __init__(self, *, seed: int, users: Sequence[SandboxUser]) -> None:
        """Start an empty dataset; use `generate` or `from_json_file`."""
        if not users:
            raise ValueError("a dataset needs at least one user (users[0] is the account)")
        self._seed = seed
        self._users: tuple[SandboxUser, ...] = tuple(users)
        self._user_index: dict[str, int] = {}
        for position, user in enumerate(self._users):
            if user.id in self._user_index:
                raise ValueError(f"duplicate user id {user.id}")
            self._user_index[user.id] = position
        # Conversations.
        self._conv_ids: list[str] = []
        self._conv_index: dict[str, int] = {}
        self._conv_members: list[frozenset[str]] = []
        self._conv_pos: list[array[int]] = []  # ascending global positions per conversation
        self._user_convs: dict[str, list[int]] = {}
        # Event columns, ascending by id.
        self._ids: array[int] = array("q")
        self._conv: array[int] = array("i")
        self._sender: array[int] = array("i")  # user position, -1 = none/unknown
        self._type: array[int] = array("b")
        self._flags: array[int] = array("B")
        self._ms: array[int] | None = None  # created_at column (loaded files); None = from id
        self._ms_monotone = True
        self._struct_pos: array[int] = array("i")  # positions of Join/Leave events
        self._struct_participants: dict[int, tuple[int, ...]] = {}  # generated Join/Leave
        self._stored: dict[int, dict[str, Any]] = {}
        self._viewer_cache: dict[str, array[int]] = {}
        # Tweets and media.
        self._tweet_ids: array[int] = array("q")
        self._tweet_author: array[int] = array("i")
        self._tweet_deleted = bytearray()
        self._json_tweets: dict[str, dict[str, Any]] = {}
        self._json_media: dict[str, dict[str, Any]] = {}
        self._empty_user_id = ""
        self._lock = threading.RLock()

    # -- construction -------------------------------------------------------

    @classmethod
    def generate(
        cls,
        *,
        seed: int = 7,
        now_ms: int,
        users: int = 50,
        conversations: int = 200,
        days: int = 90,
        events: int = 6000,
    ) -> Dataset:
        """Generate a realistic brand support inbox, identical for identical arguments."""
        return _Generator(
            seed=seed,
            now_ms=now_ms,
            n_users=users,
            n_convs=conversations,
            days=days,
            n_events=events,
        ).build()

    @classmethod
    def from_json_file(cls, path: str | Path) -> Dataset:
        """Load ``{"users", "conversations", "events", "tweets", "media"}`` from a JSON file.

        Events are kept exactly as given (any order, fields may be missing) but need
        ``id`` and ``dm_conversation_id``; ``event_type`` defaults to MessageCreate for
        filtering. Conversation members are the listed ``participant_ids`` plus every
        user an event names (sender, participants, the two ids of a one-to-one id).
        """
        with Path(path).open(encoding="utf-8") as handle:
            data = json.load(handle)
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dataset:
        """Build a dataset from the parsed JSON document `from_json_file` reads."""
        users = [SandboxUser.from_json(u) for u in data.get("users", [])]
        dataset = cls(seed=int(data.get("seed", 7)), users=users)
        raw_events = list(data.get("events", []))
        keyed: list[tuple[int, dict[str, Any]]] = []
        for event in raw_events:
            if "id" not in event or "dm_conversation_id" not in event:
                raise ValueError(f"event without id or dm_conversation_id: {event!r}")
            keyed.append((int(event["id"]), event))
        keyed.sort(key=lambda pair: pair[0])
        for (first, _), (second, _) in itertools.pairwise(keyed):
            if first == second:
                raise ValueError(f"duplicate event id {first}")
        # Conversations: declared ones, then those named by events.
        members: dict[str, set[str]] = {}
        for conv in data.get("conversations", []):
            members.setdefault(str(conv["id"]), set()).update(
                str(p) for p in conv.get("participant_ids", [])
            )
        for _, event in keyed:
            conv_id = str(event["dm_conversation_id"])
            found = members.setdefault(conv_id, set())
            if "-" in conv_id:
                found.update(conv_id.split("-", 1))
            if event.get("sender_id") is not None:
                found.add(str(event["sender_id"]))
            found.update(str(p) for p in event.get("participant_ids", []))
        first_seen = {conv_id: position for position, conv_id in enumerate(members)}
        for conv_id in sorted(members, key=first_seen.__getitem__):
            dataset._add_conversation(conv_id, frozenset(members[conv_id]))
        ms_column: array[int] = array("q")
        dataset._ms = ms_column
        for event_id, event in keyed:
            created = event.get("created_at")
            ms = parse_iso_ms(created) if isinstance(created, str) else snowflake_ms(event_id)
            sender = event.get("sender_id")
            dataset._append(
                event_id,
                dataset._conv_index[str(event["dm_conversation_id"])],
                dataset._user_index.get(str(sender), -1) if sender is not None else -1,
                _TYPE_CODE.get(str(event.get("event_type", MESSAGE_CREATE)), _MC),
                _F_STORED,
                ms,
            )
            dataset._stored[event_id] = event
        dataset._json_tweets = {str(t["id"]): t for t in data.get("tweets", [])}
        dataset._json_media = {str(m["media_key"]): m for m in data.get("media", [])}
        dataset._empty_user_id = dataset._find_empty_user()
        return dataset

    def to_json(self) -> dict[str, Any]:
        """Return the whole dataset in the `from_json_file` shape (for fixtures and round trips)."""
        with self._lock:
            events = [self._event_at(pos) for pos in range(len(self._ids))]
            tweets: dict[str, dict[str, Any]] = {}
            media: dict[str, dict[str, Any]] = {}
            for event in events:
                for ref in event.get("referenced_tweets", []):
                    tweet = self.tweet(ref["id"])
                    if tweet is not None:
                        tweets[ref["id"]] = tweet
                for key in event.get("attachments", {}).get("media_keys", []):
                    found = self.media(key)
                    if found is not None:
                        media[key] = found
            return {
                "seed": self._seed,
                "users": [u.as_json(_USER_FIELDS) for u in self._users],
                "conversations": [
                    {"id": conv_id, "participant_ids": sorted(members, key=int)}
                    for conv_id, members in zip(self._conv_ids, self._conv_members, strict=True)
                ],
                "events": events,
                "tweets": list(tweets.values()),
                "media": list(media.values()),
            }

    def _add_conversation(self, conv_id: str, members: frozenset[str]) -> int:
        position = len(self._conv_ids)
        self._conv_ids.append(conv_id)
        self._conv_index[conv_id] = position
        self._conv_members.append(members)
        self._conv_pos.append(array("i"))
        for member in members:
            self._user_convs.setdefault(member, []).append(position)
        return position

    def _append(
        self, event_id: int, conv: int, sender: int, type_code: int, flags: int, ms: int | None
    ) -> int:
        position = len(self._ids)
        self._ids.append(event_id)
        self._conv.append(conv)
        self._sender.append(sender)
        self._type.append(type_code)
        self._flags.append(flags)
        if self._ms is not None:
            stamp = snowflake_ms(event_id) if ms is None else ms
            if self._ms and stamp < self._ms[-1]:
                self._ms_monotone = False
            self._ms.append(stamp)
        self._conv_pos[conv].append(position)
        if type_code != _MC:
            self._struct_pos.append(position)
        return position

    def _find_empty_user(self) -> str:
        for user in self._users:
            if not self._user_convs.get(user.id):
                return user.id
        # Every known user has a DM: invent an id nobody uses.
        candidate = 1
        while str(candidate) in self._user_index or str(candidate) in self._user_convs:
            candidate += 1
        return str(candidate)

    # -- users and conversations ------------------------------------------

    @property
    def users(self) -> Sequence[SandboxUser]:
        """All users; ``users[0]`` is the account the sandbox is about."""
        return self._users

    @property
    def seed(self) -> int:
        """The seed the dataset derives its content from."""
        return self._seed

    def user(self, user_id: str) -> SandboxUser | None:
        """Return the user with this id, or None."""
        position = self._user_index.get(user_id)
        return None if position is None else self._users[position]

    def empty_user_id(self) -> str:
        """Return a user id that has no conversation (a known user when one exists)."""
        return self._empty_user_id

    def conversations_of(self, user_id: str) -> list[str]:
        """Return the ids of the conversations the user ever belonged to, oldest first."""
        return [self._conv_ids[c] for c in self._user_convs.get(user_id, ())]

    def conversation_ids(self) -> list[str]:
        """Return every conversation id, oldest first."""
        return list(self._conv_ids)

    def conversation_members(self, conversation_id: str) -> frozenset[str] | None:
        """Return everyone who was ever a member, or None for an unknown conversation."""
        position = self._conv_index.get(conversation_id)
        return None if position is None else self._conv_members[position]

    # -- events ------------------------------------------------------------

    def __len__(self) -> int:
        """Return the number of events."""
        return len(self._ids)

    def max_id(self) -> int:
        """Return the largest event id (0 when there are no events)."""
        with self._lock:
            return self._ids[-1] if self._ids else 0

    def _position(self, event_id: int) -> int | None:
        ids = self._ids
        position = bisect_left(ids, event_id)
        if position < len(ids) and ids[position] == event_id:
            return position
        return None

    def event(self, event_id: int) -> dict[str, Any] | None:
        """Return the full DmEvent object (a fresh dict), or None if there is no such event."""
        with self._lock:
            position = self._position(event_id)
            return None if position is None else self._event_at(position)

    def can_see(self, viewer_id: str, event_id: int) -> bool:
        """Tell whether the viewer belongs to the event's conversation."""
        with self._lock:
            position = self._position(event_id)
            if position is None:
                return False
            return viewer_id in self._conv_members[self._conv[position]]

    def _viewer_positions(self, viewer_id: str) -> array[int]:
        """Ascending positions of every event the viewer sees (built once, kept up to date)."""
        cached = self._viewer_cache.get(viewer_id)
        if cached is not None:
            return cached
        convs = self._user_convs.get(viewer_id, [])
        if not convs:
            return array("i")
        if len(convs) == 1:
            merged = self._conv_pos[convs[0]]  # shared: additions land in it once
        else:
            merged = array(
                "i", sorted(itertools.chain.from_iterable(self._conv_pos[c] for c in convs))
            )
        self._viewer_cache[viewer_id] = merged
        return merged

    def _lower_bound(self, min_ms: int | None) -> tuple[int, bool]:
        """First position created at/after min_ms, and whether each event must be checked."""
        if min_ms is None:
            return 0, False
        if self._ms is None:
            return bisect_left(self._ids, snowflake(min_ms, 0)), False
        if self._ms_monotone:
            return bisect_left(self._ms, min_ms), False
        return 0, True

    def page(
        self,
        *,
        viewer_id: str,
        conversation_id: str | None,
        below_id: int | None,
        limit: int,
        min_ms: int | None,
        event_types: frozenset[str],
    ) -> tuple[list[int], bool]:
        """Return up to `limit` visible event ids, newest first, and whether more follow.

        Only events strictly below `below_id`, created at/after `min_ms`, of the given
        types, in `conversation_id` when given (which the viewer must belong to).
        """
        if limit < 0:
            raise ValueError("limit must be >= 0")
        codes = frozenset(_TYPE_CODE[t] for t in event_types if t in _TYPE_CODE)
        if not codes:
            return [], False
        with self._lock:
            conv_filter: frozenset[int] | None = None
            if conversation_id is not None:
                conv = self._conv_index.get(conversation_id)
                if conv is None or viewer_id not in self._conv_members[conv]:
                    return [], False
                positions = self._conv_pos[conv]
                conv_filter = frozenset((conv,))
            else:
                positions = self._viewer_positions(viewer_id)
            ids = self._ids
            hi_global = len(ids) if below_id is None else bisect_left(ids, below_id)
            lo_global, check_ms = self._lower_bound(min_ms)
            if len(codes) == len(EVENT_TYPES) and not check_ms:
                hi = bisect_left(positions, hi_global)
                lo = bisect_left(positions, lo_global)
                start = max(lo, hi - limit)
                return [ids[positions[j]] for j in range(hi - 1, start - 1, -1)], start > lo
            if _MC not in codes:
                # Join/Leave only: walk the short list of membership events instead.
                if conv_filter is None:
                    conv_filter = frozenset(self._user_convs.get(viewer_id, ()))
                positions = self._struct_pos
            else:
                conv_filter = None
            hi = bisect_left(positions, hi_global)
            lo = bisect_left(positions, lo_global)
            types, convs, ms_column = self._type, self._conv, self._ms
            found: list[int] = []
            for j in range(hi - 1, lo - 1, -1):
                position = positions[j]
                if types[position] not in codes:
                    continue
                if conv_filter is not None and convs[position] not in conv_filter:
                    continue
                if check_ms and ms_column is not None and ms_column[position] < (min_ms or 0):
                    continue
                found.append(ids[position])
                if len(found) > limit:
                    break
            return found[:limit], len(found) > limit

    def _event_at(self, position: int) -> dict[str, Any]:
        event_id = self._ids[position]
        if self._flags[position] & _F_STORED:
            return copy.deepcopy(self._stored[event_id])
        conv_id = self._conv_ids[self._conv[position]]
        created_at = iso_ms(snowflake_ms(event_id))
        type_code = self._type[position]
        if type_code == _MC:
            return self._derive_message(position, conv_id, created_at)
        out: dict[str, Any] = {"id": str(event_id), "event_type": EVENT_TYPES[type_code]}
        out["participant_ids"] = [
            self._users[p].id for p in self._struct_participants.get(event_id, ())
        ]
        sender = self._sender[position]
        if type_code == _JOIN and sender >= 0:
            out["sender_id"] = self._users[sender].id
        out["dm_conversation_id"] = conv_id
        out["created_at"] = created_at
        return out

    def _derive_message(self, position: int, conv_id: str, created_at: str) -> dict[str, Any]:
        """Rebuild a generated MessageCreate from (seed, id) and its flag bits."""
        event_id = self._ids[position]
        flags = self._flags[position]
        sender_pos = self._sender[position]
        sender = self._users[sender_pos]
        rng = random.Random(_key(self._seed, _S_MESSAGE, event_id))
        members = self._conv_members[self._conv[position]]
        others = sorted(m for m in members if m != sender.id)
        other = self.user(others[rng.randrange(len(others))]) if others else None
        other_name = other.name if other is not None else ""
        brand_id = self._users[0].id
        if sender_pos == 0:
            kind = 1
        elif brand_id in members:
            kind = 0
        else:
            kind = 2
        media_kind = flags & _F_MEDIA
        builder = _Text()
        refs: list[dict[str, str]] = []
        if flags & _F_SPECIAL and media_kind:
            pass  # media only: empty text, no entities
        elif flags & _F_SPECIAL:
            builder.add(_long_text(rng))
        else:
            if flags & _F_MENTION and rng.random() < 0.5:
                self._mention(builder, rng, sender_pos)
                builder.add(" ")
            body = _chatter(rng, kind=kind, other_name=other_name)
            builder.add(body)
            if flags & _F_MENTION and not builder.mentions:
                builder.add(" cc ")
                self._mention(builder, rng, sender_pos)
            if flags & _F_TAG:
                if rng.random() < 0.75:
                    tag = rng.choice(_HASHTAGS)
                    builder.add(" ")
                    builder.entity("#" + tag, builder.hashtags, tag=tag)
                else:
                    tag = rng.choice(_CASHTAGS)
                    builder.add(" (holding ")
                    builder.entity("$" + tag, builder.cashtags, tag=tag)
                    builder.add(" since 2019 😅)")
            if flags & _F_LINK:
                expanded = rng.choice(_LINKS)
                builder.add(" More here: " if kind == 1 else " ")
                short = _tco(rng)
                builder.entity(
                    short,
                    builder.urls,
                    url=short,
                    expanded_url=expanded,
                    display_url=_display_url(expanded),
                )
            if flags & _F_TWEET:
                tweet_id = self._pick_tweet(rng, event_id)
                if tweet_id is not None:
                    author = self._users[self._tweet_author[bisect_left(self._tweet_ids, tweet_id)]]
                    expanded = f"https://x.com/{author.username}/status/{tweet_id}"
                    builder.add(" ")
                    short = _tco(rng)
                    builder.entity(
                        short,
                        builder.urls,
                        url=short,
                        expanded_url=expanded,
                        display_url=_display_url(expanded),
                    )
                    refs.append({"id": str(tweet_id)})
            if media_kind:
                media_id = event_id - (_MEDIA_LAG_MS << 22)
                builder.add(" ")
                short = _tco(rng)
                builder.entity(
                    short,
                    builder.urls,
                    url=short,
                    expanded_url=f"https://x.com/messages/media/{event_id}",
                    display_url="pic.x.com/" + short.rsplit("/", 1)[1],
                    media_key=f"{_MEDIA_PREFIX[media_kind]}_{media_id}",
                )
        out: dict[str, Any] = {
            "id": str(event_id),
            "event_type": MESSAGE_CREATE,
            "text": builder.text(),
            "sender_id": sender.id,
            "dm_conversation_id": conv_id,
            "created_at": created_at,
        }
        if media_kind:
            media_id = event_id - (_MEDIA_LAG_MS << 22)
            out["attachments"] = {"media_keys": [f"{_MEDIA_PREFIX[media_kind]}_{media_id}"]}
        if refs:
            out["referenced_tweets"] = refs
        for name in ("urls", "hashtags", "mentions", "cashtags"):
            found = getattr(builder, name)
            if found:
                out[name] = found
        return out

    def _mention(self, builder: _Text, rng: random.Random, sender_pos: int) -> None:
        choices = [p for p in range(len(self._users) - 1) if p != sender_pos]
        target = self._users[rng.choice(choices) if choices else 0]
        builder.entity(
            "@" + target.username, builder.mentions, username=target.username, id=target.id
        )

    def _pick_tweet(self, rng: random.Random, event_id: int) -> int | None:
        """A Tweet created before the event, recent ones more likely."""
        older = bisect_left(self._tweet_ids, event_id)
        if older == 0:
            return None
        return self._tweet_ids[older - 1 - int(older * rng.random() ** 3)]

    # -- Tweets and media ---------------------------------------------------

    def tweet(self, tweet_id: str) -> dict[str, Any] | None:
        """Return the Tweet object, or None when it is unknown or deleted."""
        if tweet_id in self._json_tweets:
            return copy.deepcopy(self._json_tweets[tweet_id])
        if not tweet_id.isdigit():
            return None
        numeric = int(tweet_id)
        position = bisect_left(self._tweet_ids, numeric)
        if position >= len(self._tweet_ids) or self._tweet_ids[position] != numeric:
            return None
        if self._tweet_deleted[position]:
            return None
        rng = random.Random(_key(self._seed, _S_TWEET, numeric))
        lang, text = rng.choice(_TWEET_TEXTS)
        out: dict[str, Any] = {
            "id": tweet_id,
            "text": text,
            "created_at": iso_ms(snowflake_ms(numeric)),
            "author_id": self._users[self._tweet_author[position]].id,
            "edit_history_tweet_ids": [tweet_id],
            "lang": lang,
            "conversation_id": tweet_id,
        }
        return out

    def is_deleted_tweet(self, tweet_id: str) -> bool:
        """Tell whether a generated Tweet exists but was deleted (for tests)."""
        if not tweet_id.isdigit():
            return False
        numeric = int(tweet_id)
        position = bisect_left(self._tweet_ids, numeric)
        return (
            position < len(self._tweet_ids)
            and self._tweet_ids[position] == numeric
            and bool(self._tweet_deleted[position])
        )

    def media(self, media_key: str) -> dict[str, Any] | None:
        """Return the Media object for a media key, or None if no message carries it."""
        if media_key in self._json_media:
            return copy.deepcopy(self._json_media[media_key])
        prefix, _, digits = media_key.partition("_")
        if prefix not in _MEDIA_PREFIX[1:] or not digits.isdigit():
            return None
        kind = _MEDIA_PREFIX.index(prefix)
        media_id = int(digits)
        event_id = media_id + (_MEDIA_LAG_MS << 22)
        with self._lock:
            position = self._position(event_id)
            if position is None:
                return None
            flags = self._flags[position]
            if flags & _F_STORED or self._type[position] != _MC or flags & _F_MEDIA != kind:
                return None
        rng = random.Random(_key(self._seed, _S_MEDIA, media_id))
        resource = "".join(rng.choice(_ALNUM) for _ in range(8))
        width, height = rng.choice(
            ((1200, 1600), (1080, 1920), (1600, 1200), (2048, 1536), (750, 1334), (1280, 720))
        )
        out: dict[str, Any] = {"media_key": media_key, "type": _MEDIA_TYPES[kind]}
        if kind == 1:
            out["url"] = (
                f"https://ton.twitter.com/1.1/ton/data/dm/{event_id}/{media_id}/{resource}.jpg"
            )
            if rng.random() < 0.3:
                out["alt_text"] = rng.choice(
                    ("Photo of a dented parcel", "Screenshot of the error message", "Receipt")
                )
        elif kind == 2:
            out["preview_image_url"] = (
                f"https://pbs.twimg.com/dm_video_preview/{media_id}/img/{resource}.jpg"
            )
            out["duration_ms"] = rng.randrange(2_000, 120_000)
            out["variants"] = [
                {
                    "bit_rate": 2_176_000,
                    "content_type": "video/mp4",
                    "url": f"https://video.twimg.com/dm_video/{media_id}/vid/avc1/{width}x{height}/{resource}.mp4?tag=1",
                },
                {
                    "content_type": "application/x-mpegURL",
                    "url": f"https://video.twimg.com/dm_video/{media_id}/pl/{resource}.m3u8?tag=1",
                },
            ]
        else:
            width, height = rng.choice(((480, 270), (498, 280), (320, 320)))
            out["preview_image_url"] = (
                f"https://pbs.twimg.com/dm_gif_preview/{media_id}/{resource}.jpg"
            )
            out["variants"] = [
                {
                    "bit_rate": 0,
                    "content_type": "video/mp4",
                    "url": f"https://video.twimg.com/dm_gif/{media_id}/{resource}.mp4",
                }
            ]
        out["width"] = width
        out["height"] = height
        return out

    # -- live additions -----------------------------------------------------

    def add_events(
        self,
        count: int,
        *,
        now_ms: int,
        conversation_id: str | None = None,
        sender_id: str | None = None,
        text: str | None = None,
    ) -> list[dict[str, Any]]:
        """Append `count` new MessageCreate events at `now_ms`, above every existing id.

        If `now_ms` is not later than the newest event, the new events share the newest
        event's millisecond with the next sequence numbers. Default conversation: the one
        with the account's (users[0]) latest event; default sender: a member other than
        the account (a customer writing in); default text: generated chatter.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            conv = self._pick_conversation(conversation_id)
            members = self._conv_members[conv]
            if sender_id is not None and sender_id not in members:
                raise ValueError(f"{sender_id} is not a member of {self._conv_ids[conv]}")
            added: list[dict[str, Any]] = []
            brand_id = self._users[0].id
            for _ in range(count):
                last = self._ids[-1] if self._ids else 0
                candidate = snowflake(now_ms, 0)
                if candidate > last:
                    event_id, created_ms = candidate, now_ms
                else:
                    event_id = last + 1
                    created_ms = snowflake_ms(event_id)
                rng = random.Random(_key(self._seed, _S_ADDED, event_id))
                sender = sender_id
                if sender is None:
                    others = sorted((m for m in members if m != brand_id), key=int)
                    sender = rng.choice(others) if others else brand_id
                body = text
                if body is None:
                    other = next((m for m in sorted(members, key=int) if m != sender), sender)
                    other_user = self.user(other)
                    kind = 1 if sender == brand_id else (0 if brand_id in members else 2)
                    body = _chatter(
                        rng, kind=kind, other_name=other_user.name if other_user else ""
                    )
                event = {
                    "id": str(event_id),
                    "event_type": MESSAGE_CREATE,
                    "text": body,
                    "sender_id": sender,
                    "dm_conversation_id": self._conv_ids[conv],
                    "created_at": iso_ms(created_ms),
                }
                self._stored[event_id] = event
                position = self._append(
                    event_id, conv, self._user_index.get(sender, -1), _MC, _F_STORED, created_ms
                )
                conv_positions = self._conv_pos[conv]
                for member in members:
                    cached = self._viewer_cache.get(member)
                    if cached is not None and cached is not conv_positions:
                        cached.append(position)
                added.append(copy.deepcopy(event))
            return added

    def _pick_conversation(self, conversation_id: str | None) -> int:
        if conversation_id is not None:
            conv = self._conv_index.get(conversation_id)
            if conv is None:
                raise ValueError(f"unknown conversation {conversation_id}")
            return conv
        account = self._users[0].id
        mine = self._user_convs.get(account, [])
        if not mine:
            if not self._conv_ids:
                raise ValueError("the dataset has no conversation to add events to")
            return 0
        return max(mine, key=lambda c: self._conv_pos[c][-1] if self._conv_pos[c] else -1)


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------


@dataclass
class _ConvPlan:
    members: list[int]  # user positions; for groups the initial members, creator first
    weight: float
    group: bool
    slots: list[int]  # forced slots: first event, then group membership changes


class _Generator:
    """Builds a generated Dataset; one object per build."""

    def __init__(
        self, *, seed: int, now_ms: int, n_users: int, n_convs: int, days: int, n_events: int
    ) -> None:
        if n_users < 4:
            raise ValueError("users must be >= 4 (account, two customers, one user without DMs)")
        if n_convs < 1:
            raise ValueError("conversations must be >= 1")
        if days < 1:
            raise ValueError("days must be >= 1")
        if n_events < n_convs:
            raise ValueError("events must be >= conversations (every conversation has an event)")
        if now_ms - (days + 120) * DAY_MS <= TWEPOCH_MS:
            raise ValueError("now_ms - days is too close to the Snowflake epoch (2010-11-04)")
        self.seed = seed
        self.now_ms = now_ms
        self.n_users = n_users
        self.n_convs = n_convs
        self.days = days
        self.n_events = n_events
        self.rng = random.Random(_key(seed, _S_PLAN, 0))

    def build(self) -> Dataset:
        dataset = Dataset(seed=self.seed, users=self._users())
        plans = self._plan_conversations()
        self._events(dataset, plans)
        self._tweets(dataset)
        dataset._empty_user_id = dataset._users[-1].id
        return dataset

    # users ------------------------------------------------------------------

    def _users(self) -> list[SandboxUser]:
        rng = random.Random(_key(self.seed, _S_USERS, 0))
        brand_id = str(rng.randrange(10**8, 4 * 10**9))
        users = [
            SandboxUser(
                id=brand_id,
                username="acme_support",
                name="Acme Support",
                created_at="2009-03-01T10:00:00.000Z",
                description="Official support for Acme. Here 24/7 🛠️ Orders, returns & billing.",
                protected=False,
                verified=True,
                location="San Francisco, CA",
                profile_image_url=(
                    f"https://pbs.twimg.com/profile_images/{rng.randrange(10**17, 10**18)}"
                    "/acme_normal.jpg"
                ),
                url="https://t.co/" + "".join(rng.choice(_ALNUM) for _ in range(10)),
            )
        ]
        taken_ids = {brand_id}
        taken_names = {"acme_support"}
        created_floor = TWEPOCH_MS + 400 * DAY_MS
        created_ceiling = self.now_ms - (self.days + 30) * DAY_MS
        for index in range(1, self.n_users):
            name, handle = _NAMES[(index - 1) % len(_NAMES)]
            if rng.random() < 0.4 and created_ceiling > created_floor:
                created_ms = rng.randrange(created_floor, created_ceiling)
                user_id = str(snowflake(created_ms, rng.randrange(4096)))
            else:
                numeric = rng.randrange(10**5, 3 * 10**9)
                user_id = str(numeric)
                # Old numeric ids: 2007-2014, roughly in id order.
                created_ms = 1_172_700_000_000 + int(numeric / (3 * 10**9) * 250_000_000_000)
            if user_id in taken_ids:
                user_id = str(int(user_id) + 1 + index)
            taken_ids.add(user_id)
            username = handle
            suffix = 1
            while username in taken_names:
                suffix += 1
                username = f"{handle[: 15 - len(str(suffix))]}{suffix}"
            taken_names.add(username)
            users.append(
                SandboxUser(
                    id=user_id,
                    username=username,
                    name=name,
                    created_at=iso_ms(created_ms),
                    description=rng.choice(_DESCRIPTIONS),
                    protected=rng.random() < 0.1,
                    verified=rng.random() < 0.05,
                    location=rng.choice(_LOCATIONS),
                    profile_image_url=(
                        f"https://pbs.twimg.com/profile_images/{rng.randrange(10**17, 10**19)}"
                        f"/{''.join(rng.choice(_ALNUM) for _ in range(8))}_normal.jpg"
                    ),
                    url=None if rng.random() < 0.8 else _tco(rng),
                )
            )
        return users

    # conversations ---------------------------------------------------------

    def _plan_conversations(self) -> list[_ConvPlan]:
        rng = self.rng
        customers = list(range(1, self.n_users - 1))  # the last user never has a DM
        n_groups = self.n_convs // 5
        n_one = self.n_convs - n_groups
        brand_one = min(n_one, len(customers))
        wanted_pairs = n_one - brand_one
        max_pairs = len(customers) * (len(customers) - 1) // 2
        n_pairs = min(wanted_pairs, max_pairs)
        n_groups += wanted_pairs - n_pairs
        plans: list[_ConvPlan] = []
        shuffled = customers[:]
        rng.shuffle(shuffled)
        plans.extend(
            _ConvPlan(members=[0, c], weight=3.0 * rng.uniform(0.3, 1.7), group=False, slots=[])
            for c in shuffled[:brand_one]
        )
        pairs: set[tuple[int, int]] = set()
        if n_pairs > max_pairs // 2:
            pairs = set(rng.sample(list(itertools.combinations(customers, 2)), n_pairs))
        while len(pairs) < n_pairs:
            a, b = rng.sample(customers, 2)
            pairs.add((min(a, b), max(a, b)))
        plans.extend(
            _ConvPlan(members=list(pair), weight=rng.uniform(0.3, 1.7), group=False, slots=[])
            for pair in sorted(pairs)
        )
        for _ in range(n_groups):
            with_brand = rng.random() < 0.8
            size = min(rng.randrange(2, 6), len(customers))
            invited = rng.sample(customers, size)
            if with_brand:
                creator_first = (
                    [0, *invited] if rng.random() < 0.7 else [invited[0], 0, *invited[1:]]
                )
            else:
                creator_first = invited
            weight = (2.0 if with_brand else 1.0) * rng.uniform(0.3, 1.7)
            plans.append(_ConvPlan(members=creator_first, weight=weight, group=True, slots=[]))
        # Membership changes of groups, as many as the event budget allows.
        changes = [rng.choice((0, 0, 1, 1, 2, 3)) if p.group else 0 for p in plans]
        budget = self.n_events - len(plans)
        while sum(changes) > budget:
            changes[changes.index(max(changes))] -= 1
        # Distinct forced slots, conversation starts biased towards the older end.
        needed = len(plans) + sum(changes)
        if needed * 2 > self.n_events:
            chosen = rng.sample(range(self.n_events), needed)
        else:
            seen: set[int] = set()
            chosen = []
            while len(chosen) < needed:
                slot = int(self.n_events * rng.random() ** 1.6)
                if slot not in seen:
                    seen.add(slot)
                    chosen.append(slot)
        smallest = min(chosen)
        chosen[chosen.index(smallest)] = 0  # something must happen at slot 0
        cursor = 0
        for plan, extra in zip(plans, changes, strict=True):
            plan.slots = sorted(chosen[cursor : cursor + 1 + extra])
            cursor += 1 + extra
        plans.sort(key=lambda p: p.slots[0])
        return plans

    # events ----------------------------------------------------------------

    def _timestamps(self) -> array[float]:
        """Uniform order statistics (sorted, no sort needed) via exponential spacings."""
        rng = self.rng
        expo = rng.expovariate
        cumulative: array[float] = array("d")
        total = 0.0
        for _ in range(self.n_events + 1):
            total += expo(1.0)
            cumulative.append(total)
        return cumulative

    def _events(self, dataset: Dataset, plans: list[_ConvPlan]) -> None:
        rng = self.rng
        random_ = rng.random
        users = dataset._users
        n = self.n_events
        span = self.days * DAY_MS
        start_ms = self.now_ms - span
        cumulative = self._timestamps()
        scale = 1.0 / cumulative[n]
        # Forced slots: (plan index, change number); change 0 is the first event.
        forced: dict[int, tuple[int, int]] = {}
        for index, plan in enumerate(plans):
            for change, slot in enumerate(plan.slots):
                forced[slot] = (index, change)
        current: list[list[int]] = [list(p.members) for p in plans]
        ever: list[set[int]] = [set(p.members) for p in plans]
        conv_ids: list[str] = [""] * len(plans)
        for index, plan in enumerate(plans):
            if not plan.group:
                conv_ids[index] = one_to_one_conversation_id(
                    users[plan.members[0]].id, users[plan.members[1]].id
                )
        active: list[int] = []
        active_cum: list[float] = []
        weight_total = 0.0
        struct: dict[int, tuple[int, ...]] = {}
        customers = list(range(1, len(users) - 1))
        # Columns are filled directly; conversations are registered once ids are known.
        ids = dataset._ids
        conv_col = dataset._conv
        sender_col = dataset._sender
        type_col = dataset._type
        flags_col = dataset._flags
        conv_pos: list[array[int]] = [array("i") for _ in plans]
        struct_pos = dataset._struct_pos
        prev_ms = -1
        prev_seq = 0
        prev_conv = -1
        for i in range(n):
            u = cumulative[i] * scale
            # Density grows linearly to 3x at now: inverse CDF of (1 + 2x) / 2.
            x = ((1.0 + 8.0 * u) ** 0.5 - 1.0) * 0.5
            ms = start_ms + int(x * span)
            if i and random_() < 0.01:
                ms = prev_ms
            if ms <= prev_ms:
                ms = prev_ms
                seq = prev_seq + 1
                if seq >= 4096:
                    ms += 1
                    seq = 0
            else:
                seq = 0
            prev_ms, prev_seq = ms, seq
            event_id = ((ms - TWEPOCH_MS) << 22) | seq
            type_code = _MC
            flags = 0
            sender = -1
            hit = forced.get(i)
            if hit is not None:
                conv, change = hit
                plan = plans[conv]
                if change == 0:
                    if plan.group:
                        # The creator's ParticipantsJoin lists every initial member.
                        type_code = _JOIN
                        sender = plan.members[0]
                        struct[event_id] = tuple(plan.members)
                        conv_ids[conv] = str(
                            snowflake(ms - 1 - rng.randrange(2_000), rng.randrange(4096))
                        )
                    else:
                        # A customer usually opens a support conversation.
                        sender = plan.members[1] if plan.members[0] == 0 else plan.members[0]
                    weight_total += plan.weight
                    active.append(conv)
                    active_cum.append(weight_total)
                else:
                    members = current[conv]
                    outsiders = [c for c in customers if c not in members]
                    leavers = [m for m in members[1:] if m != 0]
                    if outsiders and (not leavers or len(members) < 3 or random_() < 0.6):
                        type_code = _JOIN
                        joined = tuple(
                            rng.sample(outsiders, min(len(outsiders), rng.choice((1, 1, 2))))
                        )
                        sender = members[rng.randrange(len(members))]
                        members.extend(joined)
                        ever[conv].update(joined)
                        struct[event_id] = joined
                    elif leavers:
                        type_code = _LEAVE
                        left = leavers[rng.randrange(len(leavers))]
                        members.remove(left)
                        struct[event_id] = (left,)
                    else:  # nobody to add or remove: an ordinary message instead
                        sender = members[rng.randrange(len(members))]
            else:
                if prev_conv >= 0 and random_() < 0.5:
                    conv = prev_conv
                else:
                    conv = active[bisect_right(active_cum, random_() * weight_total)]
                members = current[conv]
                sender = members[rng.randrange(len(members))]
            if type_code == _MC:
                r = random_()
                if r < 0.07:
                    flags = 1 if r < 0.049 else (2 if r < 0.063 else 3)
                    if random_() < 0.25:
                        flags |= _F_SPECIAL
                else:
                    if r < 0.12:
                        flags |= _F_TWEET
                    elif r < 0.17:
                        flags |= _F_LINK
                    elif r > 0.9985:
                        flags |= _F_SPECIAL
                if not flags & _F_SPECIAL:
                    r = random_()
                    if r < 0.03:
                        flags |= _F_TAG
                    elif r < 0.06:
                        flags |= _F_MENTION
            else:
                struct_pos.append(i)
            ids.append(event_id)
            conv_col.append(conv)
            sender_col.append(sender)
            type_col.append(type_code)
            flags_col.append(flags)
            conv_pos[conv].append(i)
            prev_conv = conv
        for index, plan in enumerate(plans):
            ordered = sorted(ever[index], key=lambda p: (p not in plan.members, p))
            dataset._add_conversation(conv_ids[index], frozenset(users[p].id for p in ordered))
            dataset._conv_pos[index] = conv_pos[index]
        dataset._struct_participants = struct

    # Tweets ------------------------------------------------------------------

    def _tweets(self, dataset: Dataset) -> None:
        rng = random.Random(_key(self.seed, _S_TWEET, 0))
        count = max(24, min(20_000, self.n_events // 40))
        first = self.now_ms - (self.days + 60) * DAY_MS
        last = self.now_ms - 3_600_000
        stamps = sorted(rng.randrange(first, last) for _ in range(count))
        customers = range(1, len(dataset._users) - 1)
        previous = 0
        for stamp in stamps:
            tweet_id = max(snowflake(stamp, rng.randrange(4096)), previous + 1)
            previous = tweet_id
            dataset._tweet_ids.append(tweet_id)
            dataset._tweet_author.append(0 if rng.random() < 0.7 else rng.choice(customers))
            dataset._tweet_deleted.append(1 if rng.random() < 0.05 else 0)
        if not any(dataset._tweet_deleted):
            dataset._tweet_deleted[rng.randrange(count)] = 1
