"""Payments: saved methods, automatic card charges and dunning, manual payments (card, PIX, Boleto), refunds,
automatic top-ups and Stripe's webhooks. Stripe itself is reached only through billing/stripe_api.py."""
