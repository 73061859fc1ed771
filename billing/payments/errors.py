"""Why a payment request is refused."""


class PaymentRefused(ValueError):
    """A payment request we refuse; nothing was charged. The message says why, in words for the payer or staff."""


class InvoiceNotPayable(PaymentRefused):
    """The invoice is paid, void or not issued: there is nothing to charge."""


class AttemptBusy(PaymentRefused):
    """Another payment of the invoice is in progress (another worker, or an open attempt)."""


class IntentMismatch(PaymentRefused):
    """A PaymentIntent that is not the attempt's own (another customer, amount, currency or attempt): it is never
    applied to the attempt, whatever its metadata says."""
