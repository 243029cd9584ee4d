"""The curator's rules: what qualifies, near-duplicates, PII re-scanned, the split, pairs."""

from __future__ import annotations

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.scrubber import PatternScrubber
from adapters.privacy.sealer import AesGcmSealer
from domain.curation import CurateDataset, Interaction, next_milestone, qualifies, split_of
from domain.privacy_service import PrivacyService
from tests.fakes import FixedClock, HashingEmbedder, InMemoryEventStore, InMemoryKeyVault

LONG = "Run `make rollback ENV=production`, then watch the error dashboard for ten minutes."


class ListSource:
    def __init__(self, items: list[Interaction]) -> None:
        self.items = items

    async def interactions(self) -> list[Interaction]:
        return self.items


class Rig:
    def __init__(self) -> None:
        self.store, self.keys = InMemoryEventStore(), InMemoryKeyVault()
        self.privacy = PrivacyService(
            self.store, PatternScrubber(), HmacPseudonymizer(b"p" * 32),
            AesGcmSealer(self.keys), self.keys, FixedClock(),
        )  # fmt: skip
        self.items: list[Interaction] = []

    async def add(
        self, question: str, answer: str | None = LONG, *, user: str = "asker",
        votes: dict[str, int] | None = None, excluded: bool = False, thread: str | None = None,
    ) -> Interaction:  # fmt: skip
        n = len(self.items)
        sealed_q = (await self.privacy.protect(user, question, scope=f"a{n}")).sealed
        sealed_a = (
            (await self.privacy.protect(user, answer, scope=f"a{n}")).sealed if answer else None
        )
        item = Interaction(f"a{n}", user, thread, n, sealed_q, sealed_a,
                           votes if votes is not None else {user: 1}, excluded)  # fmt: skip
        self.items.append(item)
        return item

    async def curate(self) -> object:
        curator = CurateDataset(ListSource(self.items), self.privacy, HashingEmbedder(), self.store)
        return await curator()


def item(votes: dict[str, int], user: str = "asker", answer: str | None = "x") -> Interaction:
    return Interaction("a", user, None, 0, "q", answer, votes, False)


def test_who_decides_whether_an_answer_qualifies() -> None:
    assert qualifies(item({"asker": 1})) is None  # the asker liked it
    assert qualifies(item({"asker": 1, "b": -1, "c": -1})) is None  # the asker's vote decides
    assert qualifies(item({"b": 1})) is None  # net positive, no word from the asker
    assert qualifies(item({"b": 1, "c": -1})) == "not_positive"
    assert qualifies(item({})) == "not_positive"
    assert qualifies(item({"asker": -1, "b": 1, "c": 1})) == "asker_negative"
    assert qualifies(item({"asker": 1}, answer=None)) == "failed"
    excluded = Interaction("a", "asker", None, 0, "q", "x", {"asker": 1}, True)
    assert qualifies(excluded) == "consent"
    # A declined question never reaches the model: liking the refusal teaches it nothing.
    declined = Interaction(
        "a", "asker", None, 0, "q", "x", {"asker": 1}, False, answer_mode="declined"
    )
    assert qualifies(declined) == "declined"
    quoted = Interaction(
        "a", "asker", None, 0, "q", "x", {"asker": 1}, False, answer_mode="extractive"
    )
    assert qualifies(quoted) is None


async def test_curation_applies_every_rule_and_records_the_dataset() -> None:
    rig = Rig()
    await rig.add("How do I roll back a production deploy?")
    await rig.add("How do I roll back a production deploy?")  # exact duplicate
    await rig.add("how do I  ROLL back a production deploy? ")  # the same once normalised
    await rig.add("How do I roll back the production deploy?")  # near: one word apart
    await rig.add("What does the staging cluster run?", "It runs payments-api.")  # short
    await rig.add("Who is on call this week?", LONG + " Ask in #ops.", excluded=True)
    await rig.add("Why did CI fail on main?", LONG + " Retry.", votes={"asker": -1, "b": 1})
    erased = await rig.add("How do I rotate keys?", LONG + " Rotate.", user="gone")
    await rig.keys.shred_user(erased.user)
    await rig.add("Mail me at alice@example.com about the deploy", LONG + " Email sent.")

    dataset = await rig.curate()

    examples = dataset.train + dataset.eval  # type: ignore[attr-defined]
    assert len(examples) == 2
    assert dataset.dropped == {  # type: ignore[attr-defined]
        "duplicate": 2, "near_duplicate": 1, "short_answer": 1, "consent": 1,
        "asker_negative": 1, "unreadable": 1,
    }  # fmt: skip
    texts = [m["content"] for e in examples for m in e["messages"]]
    assert "alice@example.com" not in " ".join(texts)
    assert [m["role"] for m in examples[0]["messages"]] == ["system", "user", "assistant"]
    [event] = rig.store.events[-1:]
    assert event.type == "training.DatasetCurated"
    assert event.payload["examples"] == 2
    assert event.payload["dataset_hash"] == dataset.digest()  # type: ignore[attr-defined]


async def test_a_corrected_negative_answer_becomes_a_preference_pair() -> None:
    rig = Rig()
    await rig.add("How do I roll back?", "Delete the database and start again, that is safest.",
                  votes={"asker": -1}, thread="t1")  # fmt: skip
    await rig.add("No: run make rollback ENV=production.", LONG, user="senior",
                  votes={}, thread="t1")  # fmt: skip
    dataset = await rig.curate()
    [pair] = dataset.pairs  # type: ignore[attr-defined]
    assert pair["prompt"] == "How do I roll back?"
    assert pair["rejected"].startswith("Delete the database")
    assert pair["chosen"] == "No: run make rollback ENV=production."


def test_the_split_is_deterministic_and_about_ninety_ten() -> None:
    questions = [f"question number {i} about deploys" for i in range(2000)]
    splits = [split_of(q) for q in questions]
    assert splits == [split_of(q) for q in questions]
    assert 150 < splits.count("eval") < 250
    assert split_of("How do I deploy?") == split_of("  how do I   DEPLOY? ")


def test_milestones() -> None:
    assert next_milestone(0) == 100
    assert next_milestone(100) == 500
    assert next_milestone(50_000) is None
