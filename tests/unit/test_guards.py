"""Each lexical guard on its own: it rejects the hard negative and lets the paraphrase pass."""

from __future__ import annotations

import pytest

from agentcache.semantic._guards import (
    GUARDS,
    check_all,
    direction_guard,
    entity_guard,
    numbers_guard,
    polarity_guard,
)

# True paraphrases, taken verbatim from the labeled sets in /work/shared/data
# (source noted); none of the guards may veto them.
REAL_POSITIVES = [
    ("top 5 posts about log aggregation", "show five best posts on log aggregation"),  # langcache
    ("raspberry pi headless setup wifi", "headless raspberry pi wifi setup"),  # langcache
    ("tag:career how to negotiate salary", "salary negotiation tag:career"),  # langcache
    ("5 kilometers in miles", "convert 5km to miles"),  # langcache
    ("book a table tonight at 7 pm", "restaurant reservations for tonight at 7pm"),  # langcache
    ("clipboard history broken on windows 11", "windows 11 clipboard history not working"),
    (
        "Why can't my boyfriend be romantic?",
        "Why is my boyfriend not romantic? Don't guys like to be romantic?",
    ),  # qqp
    (
        "What are your biggest regrets from your 20's?",
        "What is your biggest regret from your 20s?",
    ),  # qqp
    (
        "Which laptop is best to buy within the range of 30000rs?",
        "What is the best laptop under 30000 INR?",
    ),  # qqp
    ("Are both Visa and Mastercard accepted?", "Do you have Visa or Matercard?"),  # banking77
    ("Can I use my card at any ATMs?", "Do you know the closest ATM?"),  # banking77
    ("My card payment is still pending.", "Explain what the pending payment means?"),  # banking77
    (
        "How should I prepare for CA final law?",
        "How do I prepare for Advanced Financial Management paper of CA Final exams in 2 weeks?",
    ),  # qqp
    (
        "What are the symptoms of Crohn's disease? I feel I may be developing it :(",
        "I have been experiencing abdominal pain, diarrhea after meals, fatigue and occasionally "
        "bloody stool. Could it be Crohn's disease?",
    ),  # mqp
    (
        "I have ADHD is it possible for me to become a surgeon ? Be honest with me please",
        "I am 19 now. I have ADHD since I was 10 years of age but I want to become a surgeon. "
        "Is it possible for me?",
    ),  # mqp
    (
        "How do I send my account money through transfer?",
        "I need to transfer money into my account, how do I go about doing this?",
    ),  # banking77
    (
        "Who won the debate between Hillary Clinton and Donald Trump on 9/26/2016?",
        "Who won the 2016 September 26th presidential debate between Trump and Hillary?",
    ),  # qqp
]


@pytest.mark.parametrize(("query", "cached"), REAL_POSITIVES)
@pytest.mark.parametrize(("name", "guard"), GUARDS)
def test_no_guard_vetoes_a_real_paraphrase(
    name: str, guard: object, query: str, cached: str
) -> None:
    assert callable(guard)
    assert guard(query, cached) is None, name
    assert guard(cached, query) is None, name


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("refund for orders over $50", "refund for orders over $500"),
        ("python 3.11 release notes", "python 3.12 release notes"),
        ("convert 10 EUR to USD", "convert 20 EUR to USD"),
        (
            "If you could only keep three possessions, what would they be?",
            "If you could only keep five possessions, what would they be?",
        ),
        ("meeting on 9/26/2016", "meeting on 9/27/2016"),
        ("what happened in January 2020", "what happened in March 2020"),
        ("iphone 15 price", "iphone 16 price"),
    ],
)
def test_numbers_guard_rejects_different_quantities(query: str, cached: str) -> None:
    reason = numbers_guard(query, cached)
    assert reason is not None and reason.startswith("numbers:")


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("refund for orders over $50", "refund orders over 50 dollars"),
        ("we have 1,000 users", "we have 1000 users"),
        ("budget laptop under 30k", "budget laptop under 30000"),
        ("top 5 posts", "top five posts"),
        ("meet at 2:00 pm", "meet at 2pm"),
        ("what is a good laptop", "what is a good laptop under $500"),  # one side only
        ("May I ask about dosing", "question about dosing"),  # 'May' is not a month here
    ],
)
def test_numbers_guard_accepts_equal_or_one_sided_quantities(query: str, cached: str) -> None:
    assert numbers_guard(query, cached) is None


# ---------------------------------------------------------------- polarity


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("how do I enable 2FA", "how do I disable 2FA"),
        ("turn on dark mode in chrome", "turn off dark mode in chrome"),
        ("increase the font size in vscode", "decrease the font size in vscode"),
        ("weather today in paris", "weather tomorrow in paris"),
        ("monthly subscription price", "annual subscription price"),
        ("add a user to the group", "remove a user from the group"),
        ("coffee with sugar calories", "coffee without sugar calories"),
        ("can I cancel my order", "I cannot cancel my order"),
        ("center a figure in latex", "latex figure not centered"),
        ("what to eat before a run", "what to eat after a run"),
    ],
)
def test_polarity_guard_rejects_opposites(query: str, cached: str) -> None:
    reason = polarity_guard(query, cached)
    assert reason is not None and reason.startswith("polarity:")


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("how do I enable 2FA", "how to turn on 2FA"),  # synonyms, same side
        ("clipboard history broken", "clipboard history not working"),
        (
            "Why don't autistic people understand sarcasm?",
            "Why do autistic people have difficulty with understanding sarcasm?",
        ),
        ("yearly plan price", "annual plan price"),
        ("Is there a problem with receiving my salary?", "How can someone send me money?"),
    ],
)
def test_polarity_guard_accepts_same_polarity(query: str, cached: str) -> None:
    assert polarity_guard(query, cached) is None


# ---------------------------------------------------------------- direction


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("convert USD to EUR", "convert EUR to USD"),
        ("°F to °C formula", "°C to °F formula"),
        ("works on desktop but not mobile", "works on mobile but not desktop"),
        ("flights from London to Paris", "Paris to London flights"),
        ("threads about migrating from git to svn", "threads about migrating from svn to git"),
        ("use tabs instead of spaces", "use spaces instead of tabs"),
    ],
)
def test_direction_guard_rejects_reversed_pairs(query: str, cached: str) -> None:
    reason = direction_guard(query, cached)
    assert reason is not None and reason.startswith("direction:")


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("convert USD to EUR", "how to convert usd into eur"),
        ("USD vs EUR", "EUR vs USD"),  # 'vs' is not directed
        (
            "I want to become a surgeon, is it possible for me",
            "is it possible for me to become a surgeon",
        ),  # infinitive 'to'
        ("flights from London to Paris", "cheap London to Paris flights"),
    ],
)
def test_direction_guard_accepts_same_direction(query: str, cached: str) -> None:
    assert direction_guard(query, cached) is None


# ---------------------------------------------------------------- entities


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("Books similar to Harry Potter", "Books similar to Percy Jackson"),
        ("Can I top up with Apple Pay?", "Can I top up with Google Pay?"),
        ("tag:postgres in:title index strategy", "tag:mysql in:title index strategy"),
        ('what does error "permission denied" mean', 'what does error "file not found" mean'),
        ("How do I install PyTorch on macOS?", "How do I install TensorFlow on macOS?"),
        ("best laptops site:reddit.com", "best laptops site:theverge.com"),
    ],
)
def test_entity_guard_rejects_substituted_names(query: str, cached: str) -> None:
    reason = entity_guard(query, cached)
    assert reason is not None and reason.startswith("entities:")


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("What is the capital of the United States?", "What's the capital of the US?"),
        ("how do i install pytorch on macos", "How do I install PyTorch on macOS?"),  # case
        ("What is WWE?", "Who is the real owner of WWE?"),
        ("How do I learn Python?", "How do I learn programming?"),  # one side only
        ("Where is Germany's best university?", "best German universities"),  # demonym
        ("How do I install Python?", "Python: how do I install it?"),  # sentence-initial
    ],
)
def test_entity_guard_accepts_matching_or_one_sided_names(query: str, cached: str) -> None:
    assert entity_guard(query, cached) is None


def test_check_all_returns_first_reason_or_none() -> None:
    reason = check_all("refund over $50 if enabled", "refund over $500 if disabled")
    assert reason == "numbers: 50 vs 500"
    assert check_all("how do I reset my password", "password reset steps") is None
    assert check_all("x", "y", guards=()) is None
