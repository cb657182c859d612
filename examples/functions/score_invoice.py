"""Scores a paid Stripe invoice. A `process` function: the CloudEvent on stdin, the result on stdout."""
import json
import sys

event = json.load(sys.stdin)
invoice = event["data"]["data"]["object"]
amount = invoice.get("amount_paid", 0)
tier = "large" if amount >= 100_000 else "regular"
print(json.dumps({"invoice": invoice["id"], "customer": invoice.get("customer_name", "a customer"), "amount": amount / 100, "tier": tier}))
