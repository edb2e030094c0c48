"""`script.retry_plan`: which unanswered calls of a broken pipeline are sent again (a pure function).

The cases on real servers, with a relay that cuts the pipeline where a test
chooses, are in tests/test_batches.py; here each rule of the plan once.
"""

from __future__ import annotations

from limiter import script

DEFAULT = b"10 0 1 3600000000 60000"


def acquire(user: str, request: str) -> script.Call:
    return f"token_bucket:{{{user}}}", (b"acquire", DEFAULT, 1, request)


def peek(user: str) -> script.Call:
    return f"token_bucket:{{{user}}}", (b"peek", DEFAULT)


CALLS = [
    acquire("a", "r0"),  # answered
    acquire("a", "r1"),
    acquire("b", "r2"),  # b's only unanswered acquire
    acquire("a", "r3"),
    peek("a"),
    acquire("a", "r4"),
]
TODO = [1, 2, 3, 4, 5]  # 0 was answered
A = "token_bucket:{a}"


def test_only_a_user_with_several_unanswered_acquires_is_asked():
    assert script.unsure_keys(CALLS, TODO) == [A]


def test_the_acquire_the_bucket_names_and_those_before_it_are_not_sent_again():
    assert script.retry_plan(CALLS, TODO, {A: b"r3 1 0"}) == ([2, 4, 5], [1, 3])


def test_a_bucket_naming_an_answered_acquire_says_none_of_the_others_ran():
    assert script.retry_plan(CALLS, TODO, {A: b"r0 1 0"}) == ([1, 2, 3, 4, 5], [])


def test_a_bucket_naming_someone_else_or_nothing_says_nothing_so_none_is_sent_again():
    for field in (b"other-7 1 0", None):
        assert script.retry_plan(CALLS, TODO, {A: field}) == ([2, 4], [1, 3, 5])


def test_after_a_timeout_no_acquire_is_sent_again():
    assert script.retry_plan(CALLS, TODO, None) == ([4], [1, 2, 3, 5])
