"""What the books must say after any run, however it was interrupted.

`books` is what `python -m tests.worker.scenario report` prints: per subscription
its periods, the successful charges in the sandbox gateway's own ledger per
period number, its auto-renewal attempts and notices; and every place where
money and invoices disagree. Each check lists every offender, not just the first.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

# The test cards' behaviours (payments.sandbox.TEST_CARDS) and what auto-renew must make of them.
PAYS = {"succeed", "timeout_after_charge"}  # the second pays, but its answer is lost: reconciliation finds it
SOFT_DECLINES = {"card_declined", "insufficient_funds"}  # tried at T-72h, T-24h, T-6h and T-1h
HARD_DECLINES = {"expired_card"}  # the customer is asked at once; no retry
TRIES = 4
LOST = "gateway_unreachable"  # a charge the gateway never saw: failed, and tried again at the next slot

Books = dict[str, Any]


def outcomes(books: Books) -> Counter[tuple[str, str]]:
    """(card behaviour, "renewed" | "not renewed") for every subscription."""
    return Counter(
        (subscription["card"], "renewed" if len(subscription["periods"]) > 1 else "not renewed")
        for subscription in books["subscriptions"]
    )


def expected_outcomes(seeded: dict[str, Any], cards: dict[str, str]) -> Counter[tuple[str, str]]:
    """Every subscription renewed if its card pays, not renewed if it declines."""
    expected: Counter[tuple[str, str]] = Counter()
    for number, count in seeded["by_card"].items():
        behaviour = cards[number]
        expected[(behaviour, "renewed" if behaviour in PAYS else "not renewed")] += count
    return expected


def one_successful_charge_per_period_bought(books: Books) -> list[str]:
    """For each subscription: the gateway's ledger holds exactly one successful charge
    for each period bought after the first, and none for any other period; as many
    succeeded auto-renewal attempts and "renewed" notices as periods bought."""
    problems = []
    for subscription in books["subscriptions"]:
        bought = [number for number in subscription["periods"] if number > 1]
        if subscription["periods"] != list(range(1, len(subscription["periods"]) + 1)):
            problems.append(f"subscription {subscription['id']} has periods {subscription['periods']}")
        if subscription["paid_charges"] != {str(number): 1 for number in bought}:
            problems.append(
                f"subscription {subscription['id']} bought periods {bought}"
                f" but the gateway charged {subscription['paid_charges']}"
            )
        if subscription["attempts"].get("succeeded", 0) != len(bought):
            problems.append(f"subscription {subscription['id']} bought {bought} with {subscription['attempts']}")
        if subscription["renewed_notices"] != len(bought):
            problems.append(
                f"subscription {subscription['id']} bought {bought}, {subscription['renewed_notices']} renewed notices"
            )
    return problems


def money_problems(books: Books) -> list[str]:
    """Every succeeded attempt has its successful charge at the gateway and its invoice, all
    three for the same amount to the cent, and its invoice pays for a period; no failed
    attempt was charged or invoiced; the gateway charged no key we do not know; and the
    invoice numbers have no gaps."""
    gaps = [f"invoice number {number} is missing" for number in books["invoice_number_gaps"]]
    return books["money_problems"] + gaps


def nothing_left_open(books: Books) -> list[str]:
    problems = [f"{books['open_attempts']} attempts still pending or unknown"] if books["open_attempts"] else []
    problems += [f"subscription {s['id']} is still claimed" for s in books["subscriptions"] if s["live_claim"]]
    return problems


def wrongly_failed(books: Books, *, lost_answers_may_exhaust_the_schedule: bool = False) -> list[str]:
    """Subscriptions whose end does not match their card:

    - a card that pays renewed it once (or, with faults injected, every try's
      charge was lost before the gateway until the plan ran out, and the customer
      was asked to renew by hand);
    - a soft decline was tried until the schedule was spent, the customer told at
      each try the card answered (a try that never reached the gateway is made
      again a quarter of an hour later without a word: at most four notices), and
      then asked to renew by hand;
    - a hard decline was not retried once the card itself answered, and the
      customer was asked for another card.
    None of the cards that failed was charged."""
    problems = []
    for subscription in books["subscriptions"]:
        card, notices = subscription["card"], subscription["renewal_failed_notices"]
        name = f"subscription {subscription['id']} ({card})"
        last = notices[-1] if notices else {}
        renewed = len(subscription["periods"]) > 1
        if card in PAYS:
            exhausted = (
                lost_answers_may_exhaust_the_schedule
                and set(subscription["failure_codes"]) == {LOST}
                and 1 <= len(notices) <= TRIES
                and last.get("action") == "renew_by_hand"
            )
            if not renewed and not exhausted:
                problems.append(f"{name} was not renewed: {subscription['failure_codes']} {notices}")
            continue
        if renewed or subscription["paid_charges"]:
            problems.append(f"{name} was renewed or charged: {subscription['paid_charges']}")
        if subscription["renewal_due_at"] is not None:
            problems.append(f"{name} is still to be tried at {subscription['renewal_due_at']}")
        codes = [notice["failure_code"] for notice in notices]
        if card in SOFT_DECLINES:
            told = [bool(notice["next_retry_at"]) for notice in notices]
            if not 1 <= len(notices) <= TRIES or told != [True] * (len(notices) - 1) + [False]:
                problems.append(f"{name} was told {notices}, not once per answered try")
            elif card not in codes or set(codes) - {card, LOST} or last["action"] != "renew_by_hand":
                problems.append(f"{name} was told {notices}")
        elif card in HARD_DECLINES:
            if last.get("failure_code") != card or last.get("action") != "update_payment_method":
                problems.append(f"{name} was told {notices}")
            elif set(codes[:-1]) - {LOST} or last.get("next_retry_at") is not None:
                problems.append(f"{name} was retried after its card answered: {notices}")
        else:
            problems.append(f"{name}: no expectation for this card")
    return problems


def left_half_done(books: Books) -> list[int]:
    """Subscriptions with a good card whose charge had to wait for reconciliation:
    without injected faults, only a worker killed between writing the attempt and
    settling it leaves one so (settled later, or failed as never seen by the gateway)."""
    return [
        subscription["id"]
        for subscription in books["subscriptions"]
        if subscription["card"] == "succeed"
        and (subscription["settled_later"] or LOST in subscription["failure_codes"])
    ]


def settled_later(books: Books) -> int:
    return sum(subscription["settled_later"] for subscription in books["subscriptions"])


def no_period_charged_twice(books: Books) -> list[str]:
    """Mid-run: no period charged twice, and none charged but not bought, except the
    next one of a subscription whose charge still waits for its answer."""
    problems = []
    for subscription in books["subscriptions"]:
        waiting = subscription["attempts"].get("pending", 0) + subscription["attempts"].get("unknown", 0)
        may_be_charged = {str(n) for n in subscription["periods"] if n > 1}
        if waiting:
            may_be_charged.add(str(len(subscription["periods"]) + 1))
        charged = subscription["paid_charges"]
        if any(count > 1 for count in charged.values()) or set(charged) - may_be_charged:
            problems.append(f"subscription {subscription['id']} has {subscription['periods']}, charged {charged}")
    return problems
