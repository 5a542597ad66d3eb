"""The "ask the model" marimo app in headless Chromium: it serves the notebooks' run, answers a question typed in
the form with its receipt (record ids, contributors, proof status, verdict), and settles and claims on the chain."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
FIRST_RUN_MS = 600_000  # the app makes the notebooks' tiny run in a fresh work directory first


def test_ask_the_model_answers_with_a_verified_receipt_then_settles_and_claims(marimo_app, page, screenshot):
    page.goto(marimo_app(NOTEBOOKS / "ask_the_model.py"))
    receipt = page.locator(".olab-receipt")
    expect(receipt).to_have_attribute("data-receipt", re.compile(r"^0x[0-9a-f]{64}$"), timeout=FIRST_RUN_MS)
    first = receipt.get_attribute("data-receipt")  # the app answers its default question on start

    page.get_by_role("textbox").first.fill("Shares slid on Wall Street as oil prices climbed to a record high.")
    page.get_by_role("button", name="Ask").click()
    expect(receipt).not_to_have_attribute("data-receipt", first, timeout=180_000)
    expect(receipt.locator(".olab-answer")).to_contain_text("Shares slid on Wall Street")
    expect(receipt.locator(".olab-answer-text")).to_contain_text(re.compile(r"A: \S+"))
    records = receipt.locator(".olab-records")
    ids = records.get_attribute("data-records").split(",")
    assert len(ids) == 5 and all(re.fullmatch(r"r\d{6}", i) for i in ids), ids  # the receipt's top_k records
    expect(records).to_have_attribute("data-proofs", "11111")  # every Merkle proof reaches the Datanet root
    for row, record_id in zip(records.locator("tbody tr").all(), ids, strict=True):
        expect(row).to_contain_text(record_id)
        expect(row).to_contain_text(re.compile(r"contributor \d \((clean|label_noise)\)\s*0x[0-9a-fA-F]{4}…"))
        expect(row).to_contain_text("✓")
    expect(receipt.locator(".olab-verdict")).to_have_attribute("data-ok", "true")
    expect(receipt.locator(".olab-receipt-summary")).to_contain_text("fee 1,000")
    usage = page.locator(".olab-usage")
    expect(usage.locator(".olab-usage-rows")).not_to_have_attribute("data-count", "0")
    expect(usage.locator(".olab-plot .main-svg").first).to_be_visible(timeout=120_000)
    screenshot(page, "marimo-ask-the-model")

    page.get_by_role("button", name="Settle the epoch").click()
    transactions = page.locator(".olab-publish .olab-transactions")
    expect(transactions).to_have_attribute("data-statuses", re.compile("publish the epoch's root=confirmed"),
                                           timeout=120_000)  # fmt: skip
    expect(usage.locator(".olab-epochs")).to_have_attribute("data-count", "1")

    claimant = page.locator("select").last
    expect(claimant.locator("option")).not_to_have_count(1)  # the epoch's contributors arrived
    claimant.select_option(index=1)
    page.get_by_role("button", name="Claim").click()
    expect(transactions).to_have_attribute("data-statuses", re.compile(r"claim: 0x[0-9a-fA-F]{40}=confirmed"))
