"""Chat messages for the search benchmark: realistic text, made from a seed, no downloads.

A message is mostly English from a few hundred common words drawn with Zipf-like
frequencies (so "the" is everywhere and "kubernetes" is not), with German, French,
Russian, Greek, Arabic, Chinese and Japanese (the last two in runs without spaces),
emoji, names, numbers, URLs, code and log lines, at lengths of mostly 20-200
characters and a few long ones. Words no list holds are planted at known rates
(`PLANTED`), so that a query for them has an answer the benchmark knows in advance.

The same seed gives the same messages, rooms and senders: `Corpus.messages()` streams
them, and `Corpus.truth()` says which of them each query of `QUERIES` must find.
"""

# The word lists are text in other scripts, where letters that look Latin are what the
# languages are written with (RUF001), kept as whitespace-separated words to read like
# the text they are (SIM905).
# ruff: noqa: RUF001, SIM905

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

# --- word lists, most frequent first (weights fall off as 1/rank) ---

ENGLISH = """
the to i you it a and is that of in for we on this be have with not are do just
can so but was at it's i'm if what my me will there all get about your like they
know from one up think out no yes ok okay now an or don't he as then good would
need should see time more here that's when how also did make go which let some
could has been thanks by going today work yeah we're still want any back sure
something did right because check us only after look other new can't before where
thing way who them got team test build well tomorrow really again same probably
issue fix were first why over into maybe yesterday people week use way find try
last doing done meeting help much too next change problem working code update
thank these those day morning release looks actually great branch please ticket
review merge deploy staging production server client data file files error log
logs version running run start started stop restart config setting settings
password rotation account user users email message messages link page api call
request response bug bugs feature features design plan sprint board customer
question answer notes doc docs document idea ideas quick small big later soon
database query index table schema migration backup cluster node nodes pod pods
kubernetes docker image container network latency memory cpu disk load traffic
alert alerts monitor dashboard metrics graph spike timeout retry queue worker
job jobs cron script repo commit push pull tag ci pipeline green red failing
passed failed broken flaky laptop screen call zoom calendar slot lunch coffee
weekend holiday vacation office remote home train late early minutes hour hours
monday tuesday wednesday thursday friday demo slides report budget invoice
contract vendor legal security token certificate expired renew domain dns proxy
cache redis postgres sqlite search results filter sort page limit offset cursor
frontend backend mobile android ios browser chrome firefox safari css html
javascript python rust golang java typescript linter formatter tests coverage
benchmark profile flame regression rollback hotfix patch upgrade downgrade
""".split()

GERMAN = """
und die der ich nicht das ist es wir mit auch auf für noch schon heute morgen
bitte danke gut schön über für größer müssen können würde täglich grüße
Besprechung Änderung Überprüfung Straße Mädchen Brücke Fehler Lösung Ärger
Kollegen Übersicht Termin später früh natürlich zurück nächste Woche
""".split()

FRENCH = """
et le la les de des un une je tu nous vous est pas que qui pour avec sur très
déjà été à où ça bientôt réunion problème mise à jour équipe développeur
côté première dernière tâche fenêtre garçon français leçon reçu voilà
demain aujourd'hui merci s'il plaît ensemble données sécurité
""".split()

RUSSIAN = """
и в не на я что это он с как а по но мы вы так все она они уже еще да нет
сегодня завтра вчера спасибо пожалуйста проблема ошибка сервер база данных
релиз сборка тесты проверить посмотреть сделать исправить обновить деплой
в продакшене на стейджинге встреча команда работа время вопрос ответ
хорошо отлично понятно конечно кажется может быть давайте пишу позже
""".split()

GREEK = """
και το η ο να σε με για είναι δεν θα από αύριο σήμερα ευχαριστώ παρακαλώ
πρόβλημα λάθος διακομιστής βάση δεδομένων συνάντηση ομάδα δουλειά εντάξει
""".split()

ARABIC = """
في من على إلى هذا هذه مع عن كان لا نعم شكرا اليوم غدا المشكلة الخادم
قاعدة البيانات الاجتماع الفريق العمل تحديث الإصدار مرحبا صباح الخير
""".split()

# Written without spaces, as the languages are: words run together into sentences.
CHINESE = """
我们 你们 他们 今天 明天 昨天 已经 还是 可以 没有 这个 那个 什么 为什么 因为 所以
但是 如果 现在 时间 问题 服务器 数据库 迁移 测试 发布 版本 部署 上线 代码 修改
看一下 谢谢 好的 没问题 会议 团队 工作 客户 需求 文档 搜索 结果 性能 内存 延迟
我们的 你的 他的 一下 一起 马上 稍等 完成 开始 结束 重启 日志 报错 错误 用户
""".split()

JAPANESE = """
です ます した する して ください ありがとう おはよう こんにちは よろしく
お願いします 今日 明日 昨日 会議 確認 修正 対応 サーバー データベース
テスト リリース デプロイ エラー ログ 問題 大丈夫 すみません ちょっと
これ それ あれ どれ の が は を に で と も から まで 少し 後で 今から
""".split()

EMOJI = "👍 🎉 😂 🙏 🔥 ✅ ❌ 🚀 👀 😅 🤔 💯 ❤️ 😊 🙈 ☕ 🐛 📈 📉 ⚠️ 🇩🇪 👨‍💻".split()

NAMES = """
alice bob carol dave erin frank grace heidi ivan judy mallory nina oscar peggy
rupert sybil trent victor walter yuki zoe ahmed fatima chen wei li mei hiroshi
sakura olga dmitri sergei anna björn søren françois josé maría andré chloé
""".split()

CODE = [
    "`kubectl get pods -n staging`",
    "`git rebase -i origin/main`",
    "`SELECT count(*) FROM orders WHERE status = 'paid';`",
    '```\nTraceback (most recent call last):\n  File "app.py", line 42, in handler\n'
    "    return cache[key]\nKeyError: 'session'\n```",
    "`docker compose up -d --build`",
    "`npm run lint -- --fix`",
    "```python\nfor item in items:\n    if item.done:\n        yield item.id\n```",
    "`curl -sS https://api.example.com/v2/health | jq .status`",
    "`ERROR 2024-03-04T10:22:31Z worker[7] timeout after 30000ms (retry 3/5)`",
    "`export DATABASE_URL=postgresql://app@db:5432/app`",
    "`pytest -q tests/test_search.py -k phrase`",
    "`return a && b || !c;` <- that's the bug",
    "`SELECT * FROM t WHERE name LIKE '%50\\%%' ESCAPE '\\';`",
    '`x := map[string]int{"a": 1}`',
    '`fn main() { println!("{}", 1 + 2); }`',
]

URLS = [
    "https://github.com/acme/platform/pull/{n}",
    "https://github.com/acme/web/issues/{n}",
    "https://docs.example.com/runbooks/{w}",
    "https://grafana.internal/d/{n}/{w}?orgId=1&from=now-6h",
    "https://jira.example.com/browse/OPS-{n}",
    "https://meet.example.com/{w}-{n}",
    "https://ja.wikipedia.org/wiki/データベース",
    "https://example.com/search?q={w}&page={n}",
]

#: Phrases people actually type, dropped into English messages now and then.
IDIOMS = [
    "can you take a look",
    "pull request",
    "the build is green",
    "see you tomorrow",
    "sounds good",
    "on call",
    "lgtm",
    "any update on this?",
    "thanks for the quick fix",
    "let me check",
]


# --- planted words: in no list above, at rates the benchmark chooses ---


@dataclass(frozen=True)
class Planted:
    """A term dropped into messages: `exact` of the searcher's messages (and `elsewhere`
    of the others) get it, or each message with probability `rate`."""

    term: str
    exact: int = 0
    elsewhere: int = 0
    rate: float = 0.0


PLANTED = [
    # rare: a handful in the searcher's rooms
    Planted("quixotrel", exact=7, elsewhere=53),
    Planted("зюзьблик", exact=5, elsewhere=40),
    Planted("鲲鹏计划", exact=6, elsewhere=30),
    Planted("ぬらりひょん", exact=4, elsewhere=36),
    # medium: about one message in 500
    Planted("flumoxide", rate=0.002),
    Planted("кракозябра", rate=0.002),
    Planted("staging password rotation", rate=0.001),
    Planted("晚上八点上线", rate=0.001),
]


# --- queries: three kinds, each across rare, medium and common terms ---


@dataclass(frozen=True)
class Query:
    """One search: `q` as sent, its `terms` (the words and phrases every match contains,
    case aside) and how common it is meant to be."""

    kind: str  # "one word", "two words", "phrase"
    q: str
    terms: tuple[str, ...]
    frequency: str  # "rare", "medium", "common"


def _query(kind: str, q: str, frequency: str) -> Query:
    if kind == "phrase":
        terms: tuple[str, ...] = (q.strip('"'),)
    else:
        terms = tuple(q.split())
    return Query(kind, q, tuple(term.lower() for term in terms), frequency)


QUERIES = [
    _query("one word", "quixotrel", "rare"),
    _query("one word", "зюзьблик", "rare"),
    _query("one word", "鲲鹏计划", "rare"),
    _query("one word", "ぬらりひょん", "rare"),
    _query("one word", "Flumoxide", "medium"),
    _query("one word", "кракозябра", "medium"),
    _query("one word", "kubernetes", "medium"),
    _query("one word", "数据库", "medium"),
    _query("one word", "deploy", "common"),
    _query("one word", "meeting", "common"),
    _query("one word", "the", "common"),
    _query("one word", "спасибо", "common"),
    _query("two words", "quixotrel staging", "rare"),
    _query("two words", "flumoxide кракозябра", "rare"),
    _query("two words", "flumoxide thanks", "medium"),
    _query("two words", "docker timeout", "medium"),
    _query("two words", "服务器 重启", "medium"),
    _query("two words", "deploy staging", "common"),
    _query("two words", "meeting tomorrow", "common"),
    _query("two words", "the build", "common"),
    _query("two words", "проблема сервер", "common"),
    _query("phrase", '"staging password rotation"', "medium"),
    _query("phrase", '"晚上八点上线"', "medium"),
    _query("phrase", '"quixotrel"', "rare"),
    _query("phrase", '"in продакшене"', "rare"),
    _query("phrase", '"в продакшене"', "medium"),
    _query("phrase", '"can you take a look"', "common"),
    _query("phrase", '"pull request"', "common"),
    _query("phrase", '"the build is green"', "common"),
    _query("phrase", '"see you tomorrow"', "common"),
    _query("phrase", '"データベース"', "common"),
]

KINDS = ("one word", "two words", "phrase")


# --- the corpus ---


def _cumulative(count: int, exponent: float = 1.0) -> list[float]:
    """Cumulative Zipf weights for ranks 1..count (for `random.choices(cum_weights=)`)."""
    return list(itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, count + 1)))


@dataclass
class Corpus:
    """`count` messages in `rooms` group rooms, sent by `users` users, over `days` days.

    Rooms differ in how busy they are (Zipf), and the searcher is a member of
    `searcher_rooms` of them spread over the busy and the quiet ones. A room's
    members are some of the users; its senders are its members, a few talkative."""

    seed: int = 24
    count: int = 1_000_000
    rooms: int = 100
    users: int = 400
    searcher_rooms: int = 10
    days: int = 365
    _room_of: bytearray = field(init=False, repr=False)
    _planted_at: dict[int, list[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = random.Random(f"{self.seed}/rooms")
        busy = _cumulative(self.rooms, 0.8)
        order = list(range(self.rooms))
        rng.shuffle(order)  # room `order[r]` is the r-th busiest
        self.busiest = order
        # Every (rooms / searcher_rooms)-th by business, from the 6th busiest down: a
        # mix of busy and quiet rooms holding about a tenth of the messages.
        step = self.rooms // self.searcher_rooms
        ranks = range(step // 2, self.rooms, step)
        self.searcher_room_indexes = sorted(order[r] for r in ranks)[: self.searcher_rooms]
        picks = rng.choices(range(self.rooms), cum_weights=busy, k=self.count)
        self._room_of = bytearray(order[r] for r in picks)
        self.members = self._memberships(rng)
        self._planted_at = self._plant(rng)

    # --- rooms and people ---

    def user_names(self) -> list[str]:
        """User 0 is the searcher; the others have names of their own."""
        return ["searcher"] + [f"{NAMES[i % len(NAMES)]}{i}" for i in range(1, self.users)]

    def room_names(self) -> list[str]:
        return [f"search-bench-{i:03d}" for i in range(self.rooms)]

    def _memberships(self, rng: random.Random) -> list[list[int]]:
        """Each room's members (user indexes, the searcher in theirs only)."""
        others = list(range(1, self.users))
        members = []
        for room in range(self.rooms):
            size = rng.randint(5, 60)
            chosen = rng.sample(others, size)
            if room in self.searcher_room_indexes:
                chosen.append(0)
            members.append(chosen)
        return members

    def in_searchers_rooms(self, index: int) -> bool:
        return self._room_of[index] in self.searcher_room_indexes

    def _plant(self, rng: random.Random) -> dict[int, list[str]]:
        """Which messages get which exactly-counted planted term."""
        mine = [i for i in range(self.count) if self.in_searchers_rooms(i)]
        mine_set = set(mine)
        planted: dict[int, list[str]] = {}
        for plant in PLANTED:
            if not plant.exact:
                continue
            chosen = rng.sample(mine, plant.exact)
            while len(chosen) < plant.exact + plant.elsewhere:
                i = rng.randrange(self.count)
                if i not in mine_set and i not in chosen:
                    chosen.append(i)
            for i in chosen:
                planted.setdefault(i, []).append(plant.term)
        return planted

    # --- messages ---

    def messages(self) -> Iterator[tuple[int, int, str, int]]:
        """(room index, sender user index, text, seconds since the first message), in
        the order they were sent: the same for the same seed."""
        rng = random.Random(f"{self.seed}/messages")
        talkers = [_cumulative(len(m), 1.2) for m in self.members]
        span = self.days * 86_400
        rated = [p for p in PLANTED if p.rate]
        for i in range(self.count):
            room = self._room_of[i]
            sender = rng.choices(self.members[room], cum_weights=talkers[room])[0]
            text = _message(rng)
            for term in self._planted_at.get(i, ()):
                text = _insert(rng, text, term)
            for plant in rated:
                if rng.random() < plant.rate:
                    text = _insert(rng, text, plant.term)
            yield room, sender, text, i * span // self.count

    def truth(self, queries: list[Query] = QUERIES) -> dict[str, list[int]]:
        """For each query (by `q`), the indexes of the messages in the searcher's rooms
        that hold every one of its terms (case aside), oldest first."""
        found: dict[str, list[int]] = {query.q: [] for query in queries}
        for i, (room, _sender, text, _at) in enumerate(self.messages()):
            if room not in self.searcher_room_indexes:
                continue
            lowered = text.lower()
            for query in queries:
                if all(term in lowered for term in query.terms):
                    found[query.q].append(i)
        return found


_ENGLISH_CUM = _cumulative(len(ENGLISH), 0.95)
_FOREIGN = [
    (GERMAN, " ", _cumulative(len(GERMAN))),
    (FRENCH, " ", _cumulative(len(FRENCH))),
    (RUSSIAN, " ", _cumulative(len(RUSSIAN))),
    (GREEK, " ", _cumulative(len(GREEK))),
    (ARABIC, " ", _cumulative(len(ARABIC))),
    (CHINESE, "", _cumulative(len(CHINESE), 0.8)),
    (JAPANESE, "", _cumulative(len(JAPANESE), 0.8)),
]
# What a message is: English chat, another language, a shared link, code, or long.
_SHAPES = ["english", "foreign", "link", "code", "long", "short"]
_SHAPE_CUM = list(itertools.accumulate([62, 22, 4, 4, 2, 6]))
_FOREIGN_CUM = list(itertools.accumulate([5, 5, 6, 2, 3, 5, 4]))


def _message(rng: random.Random) -> str:
    shape = rng.choices(_SHAPES, cum_weights=_SHAPE_CUM)[0]
    if shape == "english":
        return _english(rng, rng.randint(3, 28))
    if shape == "foreign":
        words, joiner, cum = rng.choices(_FOREIGN, cum_weights=_FOREIGN_CUM)[0]
        text = joiner.join(rng.choices(words, cum_weights=cum, k=rng.randint(3, 18)))
        if joiner == "" and rng.random() < 0.5:
            text += rng.choice(["。", "！", "？", "、" + text[:6]])
        if rng.random() < 0.2:  # people mix languages
            text += " " + _english(rng, rng.randint(2, 6))
        return text
    if shape == "link":
        url = rng.choice(URLS).format(n=rng.randint(1, 99_999), w=rng.choice(ENGLISH))
        return f"{_english(rng, rng.randint(2, 10))} {url}"
    if shape == "code":
        return f"{_english(rng, rng.randint(2, 8))}: {rng.choice(CODE)}"
    if shape == "long":
        paragraphs = [_english(rng, rng.randint(20, 60)) for _ in range(rng.randint(2, 8))]
        return "\n\n".join(paragraphs)
    return rng.choice(["ok", "thanks!", "lgtm", "👍", "+1", "done", "on it", "ty", "ack"])


def _english(rng: random.Random, count: int) -> str:
    words = rng.choices(ENGLISH, cum_weights=_ENGLISH_CUM, k=count)
    roll = rng.random()
    if roll < 0.15:
        words.insert(rng.randrange(len(words) + 1), rng.choice(IDIOMS))
    elif roll < 0.25:
        words.insert(0, "@" + rng.choice(NAMES))
    elif roll < 0.32:
        words.insert(rng.randrange(len(words) + 1), str(rng.randint(0, 10_000)))
    text = " ".join(words)
    text = text[0].upper() + text[1:]
    roll = rng.random()
    if roll < 0.5:
        text += rng.choice([".", "?", "!", "...", ""])
    elif roll < 0.6:
        text += " " + rng.choice(EMOJI)
    return text


def _insert(rng: random.Random, text: str, term: str) -> str:
    """`text` with `term` added as a word of its own, at its start, middle or end."""
    words = text.split(" ")
    words.insert(rng.randrange(len(words) + 1), term)
    return " ".join(words)
