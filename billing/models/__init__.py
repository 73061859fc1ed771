"""The billing app's models, one module per concern; everything is importable from billing.models."""

from billing.models.alerts import CardExpiryReminder, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from billing.models.invoices import (
    INVOICE_SUM,
    MONEY2,
    CreditNote,
    ExchangeRate,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSequence,
    InvoiceStatus,
    UsageReconciliation,
)
from billing.models.ledger import (
    AMOUNT,
    NEGATIVE_KINDS,
    POSITIVE_KINDS,
    AuditRun,
    CreditAccount,
    EntryKind,
    LedgerEntry,
)
from billing.models.operations import BillingRun, BillingRunSource, StaffJob, StaffJobStatus
from billing.models.payments import (
    OPEN_ATTEMPT_STATUSES,
    PAYMENT_CURRENCIES,
    AttemptPurpose,
    AttemptStatus,
    InvoiceDunning,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodKind,
    PaymentRefund,
    RefundSource,
    RefundStatus,
    StripeCustomer,
    StripeEvent,
    StripeEventStatus,
)
from billing.models.restrictions import (
    BLOCKS_OF,
    Blocks,
    Restriction,
    RestrictionReason,
    SendPermissionUnpublished,
)
from billing.models.staff import StaffAction, StaffActionKind
from billing.models.usage import (
    CATEGORY_NAME,
    TIERED_CATEGORIES,
    Category,
    MessageUsage,
    MetaPricingPoint,
    MetaWebhookInbox,
    MetaWebhookSkip,
    NumberAllowanceCounter,
    PricingType,
    RateCardAllowance,
    RateCardRate,
    RateCardTier,
    UsageVolumeCounter,
)

__all__ = [
    "AMOUNT", "INVOICE_SUM", "MONEY2", "NEGATIVE_KINDS", "POSITIVE_KINDS", "AuditRun", "CreditAccount", "CreditNote",
    "EntryKind", "Invoice", "InvoiceKind", "InvoiceLine", "InvoiceSequence", "InvoiceStatus", "LedgerEntry",
    "PaymentMethod", "PaymentMethodKind", "UsageReconciliation", "ExchangeRate", "BLOCKS_OF", "Blocks", "Restriction",
    "RestrictionReason", "SendPermissionUnpublished", "OPEN_ATTEMPT_STATUSES", "PAYMENT_CURRENCIES",
    "AttemptPurpose", "AttemptStatus",
    "InvoiceDunning", "PaymentAttempt", "PaymentRefund", "RefundSource", "RefundStatus", "StripeCustomer",
    "StripeEvent", "StripeEventStatus", "StaffAction", "StaffActionKind", "Category", "MessageUsage", "RateCardRate",
    "CardExpiryReminder", "DeliveryStatus", "WebhookDelivery", "WebhookEndpoint",
    "BillingRun", "BillingRunSource", "StaffJob", "StaffJobStatus",
    "MetaPricingPoint", "MetaWebhookInbox", "MetaWebhookSkip", "PricingType", "RateCardTier", "TIERED_CATEGORIES",
    "UsageVolumeCounter", "NumberAllowanceCounter", "RateCardAllowance", "CATEGORY_NAME",
]  # fmt: skip
