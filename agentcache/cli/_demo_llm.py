"""The cached-LLM part of ``agentcache demo``: a support-agent session via ``CachedAnthropic``.

Real Anthropic when a key is configured (``settings.llm.anthropic_api_key`` or
``ANTHROPIC_API_KEY``), otherwise the local ``ProviderServer``, labelled as a
simulated provider, answering after a realistic delay. Six calls show each
layer: a prompt-cache write, a prompt-cache read, an exact hit, a paraphrase
hit, another tenant asking the same question (answered by the provider: no
reuse across tenants) and a streamed repeat replayed from the cache. The
session table and totals come from the client's ledger.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import anthropic

from agentcache.llm._ledger import CacheInfo, cache_info, print_session_table
from agentcache.llm._sync import CachedAnthropic
from agentcache.semantic._sync import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.stack import embedding_vectorizer
from agentcache.testing.provider import ProviderServer
from agentcache.vectorizers import Vectorizer

MODEL = "claude-sonnet-4-5"  # caches prompts of 1024+ tokens
SIMULATED_LATENCY = 0.4  # seconds: a short answer from a fast model
STORE, OTHER_STORE = "trailhead", "summit-gear"

# (tenant, question, what the call shows, streamed). The paraphrase scores 0.974
# against the first question with all-MiniLM-L6-v2 (and 0.909 with the tests'
# HashingVectorizer(32)); the default threshold is 0.95.
CALLS: tuple[tuple[str, str, str, bool], ...] = (
    (STORE, "How long do I have to return an item?", "first call: prompt-cache write", False),
    (STORE, "Do you ship to Canada?", "new question: prompt-cache read", False),
    (STORE, "How long do I have to return an item?", "exact repeat", False),
    (STORE, "How long have I got to return an item?", "paraphrase", False),
    (OTHER_STORE, "How long do I have to return an item?", "other tenant, same words", False),
    (STORE, "Do you ship to Canada?", "streamed repeat (replayed)", True),
)

# A support agent's static instructions and policy document: the large, unchanging prefix
# that provider prompt caching is for (6,400 characters, some 1,400 tokens; Sonnet 4.5
# caches 1,024 and more).
SYSTEM_PROMPT = """You are the customer support assistant for an outdoor equipment retailer.
Answer in two or three friendly sentences, using only the policies below. If the
policies do not cover a question, say so and offer to connect the customer with a
human agent. Never invent order details, prices or dates.

RETURNS AND REFUNDS
Unused items in their original packaging can be returned within 30 days of delivery
for a full refund to the original payment method. Items that have been used outdoors
can be returned within 30 days for store credit, provided they are clean and free of
damage beyond normal wear from a single trip. Footwear must be returned with its box.
Refunds are issued within 5 business days of the return arriving at our warehouse;
the customer's bank may take a further 3 to 5 business days to show the credit.
Return shipping is free for members of the loyalty program and costs a flat 6.95
otherwise, deducted from the refund. Gift cards, personalised items, opened fuel
canisters, water filters that have been used, and clearance items marked final sale
cannot be returned. Items bought in a physical store can be returned by mail or in
any store. Returns of bulky items (kayaks, canoes, roof boxes) must be arranged with
the support team, who book a courier collection.

SHIPPING
Orders placed before 2 pm on a business day ship the same day from our warehouse.
Standard delivery takes 3 to 5 business days, express delivery 1 to 2 business days.
Standard delivery is free on orders over 75; below that it costs 5.95. Express
delivery costs 14.95 regardless of order value. We ship to the United States,
Canada, the United Kingdom and the European Union. Orders to Canada, the United
Kingdom and the European Union take 5 to 10 business days and are shipped with
duties and taxes prepaid, so there is nothing to pay on delivery. We cannot ship
fuel canisters, bear spray or lithium batteries above 100 Wh by air, so orders
containing them always go by ground, which can add 2 days. We do not ship to PO
boxes for bulky items. Tracking links are emailed when the parcel leaves the
warehouse; a parcel that shows no movement for 5 business days is investigated by
the support team, and a replacement is sent if the carrier confirms a loss.

WARRANTY AND REPAIRS
Our own-brand products carry a lifetime warranty against defects in materials and
workmanship. Other brands are covered by their manufacturer's warranty, which we
handle on the customer's behalf. Damage from accidents, misuse or normal wear is not
covered, but our repair service fixes zips, seams, buckles and tent poles at cost.
Repairs take 2 to 3 weeks. Customers start a warranty claim or a repair from the
order page, attaching photos of the problem; we reply within 2 business days.

PRICE MATCHING
We match the price of an identical item in stock at a major competitor's website
or store within 14 days of purchase. Marketplace sellers, auction sites, clearance
sales and bundle offers are excluded. The difference is refunded to the original
payment method once the support team has checked the competitor's listing.

LOYALTY PROGRAM
Membership is free. Members earn 1 point per unit of currency spent, get free
return shipping, early access to sales and a birthday voucher. Points are worth 5%
of their value in vouchers, issued every 500 points, and expire 24 months after
they are earned. Points are removed again when an item is returned.

RENTALS
Tents, sleeping bags, stoves, snowshoes and avalanche kits can be rented for 2 to
14 days from selected stores. Rentals must be booked online at least 48 hours
ahead and collected in store with photo ID. A deposit is held on a card and
released within 3 business days of the return. Late returns cost one extra day's
rental per day. Cleaning is included; damage beyond normal wear is charged at the
repair cost. Avalanche kits include a transceiver check on collection.

ORDERS AND PAYMENT
We accept major credit and debit cards, PayPal and gift cards; an order can be
split across two payment methods. Orders can be changed or cancelled within one
hour of being placed from the order page; after that they are already being
packed, and the customer should return the items instead. Back-ordered items are
charged only when they ship. Prices include sales tax or VAT where applicable.
Student, military and mountain-rescue discounts of 10% are available after
verification and cannot be combined with other promotions.

SIZING AND FIT
Clothing follows the size charts on each product page; between two sizes, customers
should choose the larger one for layering. Boots run true to size, but customers
planning long trips should allow half a size for swelling. Backpacks are sized by
torso length, not height: measure from the bone at the base of the neck to the top
of the hip bones. Exchanges for a different size are free within 30 days, even for
items that have been tried on indoors, and the new size ships as soon as the
exchange is requested, before the original arrives back.

SAFETY EQUIPMENT
Climbing ropes, harnesses, helmets, carabiners and avalanche equipment cannot be
returned once they have left the store or been unpacked, for safety reasons, unless
they are faulty. Safety equipment has a manufacture date printed on it; we never
sell items older than 12 months. Ropes and harnesses should be retired after 10
years even if unused, or at once after a serious fall. We do not inspect or certify
customers' own safety equipment, but stores can recommend certified inspectors.

TRADE-IN
Customers can trade in used tents, jackets, backpacks and sleeping bags in good
condition in any store for a voucher worth up to 30% of the current price. Items
are inspected on the spot; items we cannot resell are recycled or donated to youth
outdoor programs, and the customer is told which before accepting the voucher.

STORES AND CONTACT
Stores open 9 am to 8 pm Monday to Saturday and 10 am to 5 pm on Sunday. The
support team answers chat and email every day from 8 am to 10 pm and replies to
emails within 24 hours. Customers can book a free 30-minute gear fitting for
boots, backpacks and climbing harnesses in any store.

STYLE
Be warm and concise. Quote the exact numbers from these policies. Do not promise
exceptions; offer a human agent for anything unusual, for complaints and for any
question about an existing order, since you cannot see order details.
"""

_SIMULATED_ANSWERS = {
    "return": "You can return unused items in their original packaging within 30 days of "
    "delivery for a full refund; used items can come back within 30 days for store credit.",
    "canada": "Yes, we ship to Canada: delivery takes 5 to 10 business days and duties and "
    "taxes are prepaid, so there is nothing extra to pay on arrival.",
}


def _simulated_answer(path: str, body: Mapping[str, Any]) -> str:
    """Canned answers in the voice of the policy above (the simulated model is no model)."""
    last = body["messages"][-1]["content"]
    text = (last if isinstance(last, str) else " ".join(b.get("text", "") for b in last)).lower()
    for word, answer in _SIMULATED_ANSWERS.items():
        if word in text:
            return answer
    return "I'm not sure about that one; shall I connect you with a member of our team?"


def _api_key(settings: AgentCacheSettings) -> str | None:
    key = settings.llm.anthropic_api_key
    return key.get_secret_value() if key is not None else os.environ.get("ANTHROPIC_API_KEY")


def _demo_settings(settings: AgentCacheSettings) -> AgentCacheSettings:
    """Own index and key prefix: entries live under the key prefix, not the index name.

    Strict: the demo shows the cache working, so a fault is an error, not a miss. No
    Redis-side counters: the session table is its report, and a flush at close would
    write under the prefix after it was emptied.
    """
    redis = settings.redis.model_copy(update={"key_prefix": settings.redis.key_prefix + "-llm"})
    semantic = settings.semantic.model_copy(update={"index_name": "demo-llm"})
    reliability = settings.reliability.model_copy(update={"strict": True})
    metrics = settings.metrics.model_copy(update={"enabled": False})
    return settings.model_copy(
        update={
            "redis": redis,
            "semantic": semantic,
            "reliability": reliability,
            "metrics": metrics,
        }
    )


def drop_own(cache: SemanticCache) -> None:
    """Drop the demo's index and delete every key under its key prefix, and nothing else.

    The demo's prefixes are its own (``agentcache demo`` makes a fresh one per run), so
    every key under them was written by the demo: its entries, LRU sets, hit counts,
    embeddings and counters.
    """
    cache.drop()
    pattern = f"{cache.settings.redis.key_prefix}:*"
    for key in list(cache.client.scan_iter(match=pattern, count=1000)):
        cache.client.delete(key)


@contextlib.contextmanager
def dropped_at_exit(cache: SemanticCache) -> Iterator[None]:
    """``drop_own(cache)`` after the block; after a failure, without hiding the failure."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            drop_own(cache)
        raise
    drop_own(cache)


def _explain_negative_savings(records: Sequence[CacheInfo], settings: AgentCacheSettings) -> None:
    """A call that wrote the prompt cache cost more than an uncached one: say why, here."""
    premium = "1.25x" if settings.prompt_caching.anthropic_ttl == "5m" else "2x"
    for n, record in enumerate(records, 1):
        if record.cost.saved_usd < 0:
            print(
                f"note: call {n} saved ${record.cost.saved_usd:.6f}, i.e. cost more than "
                f"without caching: it wrote {record.usage.cache_write_tokens} tokens of system "
                f"prompt to the provider's prompt cache, billed at {premium} the input price "
                "(the cache-write premium); later calls read them at 0.1x, so the write pays "
                "for itself from the next call on."
            )


def _text(reply: Any) -> str:
    """The answer text of a Message or of the events of a stream."""
    if hasattr(reply, "content"):
        return "".join(getattr(block, "text", "") for block in reply.content)
    return "".join(
        event.delta.text
        for event in reply
        if event.type == "content_block_delta" and event.delta.type == "text_delta"
    )


def run(
    settings: AgentCacheSettings, vectorizer: Vectorizer, *, latency: float = SIMULATED_LATENCY
) -> None:
    """Run the session and print each call, the session table and the totals.

    Args:
        settings: the demo's settings; a separate key prefix and index are derived.
        vectorizer: the embedder (wrapped in the embedding cache here).
        latency: seconds the simulated provider waits per call (no API key).
    """
    settings = _demo_settings(settings)
    key = _api_key(settings)
    server = None if key else ProviderServer(responder=_simulated_answer, latency=latency).start()
    if server is None:
        sdk = anthropic.Anthropic(api_key=key, base_url=settings.llm.anthropic_base_url)
        label = f"Anthropic API ({MODEL})"
    else:
        sdk = anthropic.Anthropic(api_key="simulated", base_url=server.anthropic_base_url)
        label = f"simulated provider (no API key) at {server.url}, {latency:.1f} s per call"
    cached, embeddings = embedding_vectorizer(settings, vectorizer)
    cache = SemanticCache(settings, vectorizer=cached)
    client = CachedAnthropic(sdk, settings=settings, cache=cache, agent="support")
    try:
        with dropped_at_exit(cache):
            cache.clear()  # a rerun on the same prefix starts cold, so every layer shows up again
            print(f"\nCached LLM session through CachedAnthropic: {label}")
            print(f"  system prompt of {len(SYSTEM_PROMPT)} characters (prompt-cached), "
                  f"semantic threshold {settings.semantic.threshold}\n")  # fmt: skip
            with warnings.catch_warnings():  # the SDK may warn that a model id is old
                warnings.simplefilter("ignore", DeprecationWarning)
                for n, (tenant, question, shows, streamed) in enumerate(CALLS, 1):
                    reply = client.messages.create(
                        model=MODEL,
                        max_tokens=300,
                        system=SYSTEM_PROMPT,
                        messages=[{"role": "user", "content": question}],
                        tenant=tenant,
                        stream=streamed,
                        cache_streaming=streamed or None,
                    )
                    answer = _text(reply)  # a stream's ledger entry is complete once it is read
                    info = cache_info(reply)
                    layer = info.layer if info is not None else "?"
                    if info is not None and info.similarity is not None and info.hit:
                        layer += f" ({info.similarity:.3f})"
                    print(f"{n}. [{tenant}] {question}  -- {shows}: {layer}")
                    print(f"   {answer[:110]}")
            print()
            print_session_table(client.ledger.records)
            _explain_negative_savings(client.ledger.records, settings)
            totals = client.ledger.totals()
            without = totals["cost_without_caching_usd"]
            share = totals["saved_usd"] / without * 100 if without else 0.0
            provider_calls = server.requests["/v1/messages"] if server is not None else None
            print(f"\ncalls {totals['calls']:.0f}, answered from cache {totals['hits']:.0f}"
                  + (f", provider requests {provider_calls}" if provider_calls is not None else "")
                  + f"; cost ${totals['cost_usd']:.6f} instead of ${without:.6f}: "
                  f"saved ${totals['saved_usd']:.6f} ({share:.0f}%)")  # fmt: skip
            leaked = [
                r for r in client.ledger.records if r.hit and r.tenant == OTHER_STORE
            ]  # the other store asked only what the first store had cached
            print(f"isolation: {len(leaked)} cross-tenant hits")
    finally:
        client.close()
        cache.close()
        embeddings.close()
        sdk.close()
        if server is not None:
            server.stop()
